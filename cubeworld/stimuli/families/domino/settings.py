"""The domino family's own settings (defaults: `defaults.yaml` beside this module).

Kept apart from the family class so the sampler and the judge can import them without
importing the family (which imports them back inside its methods).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cubeworld.stimuli.core.settings import check_perturbations
from cubeworld.stimuli.errors import StimuliError
from cubeworld.stimuli.family import ControlledCue

# The causes a chain can stop (or, overcome, continue) for: the family's quota stratum.
CAUSES = ("spacing", "offset", "size", "thickness")


@dataclass(frozen=True)
class DominoCamera:
    """A free camera in front of the chain, a little to one side and above; it backs off as
    chains grow (chains are centred on the origin)."""

    azimuth: float
    elevation: float
    distance_base: float  # distance = base + per_domino * n
    distance_per_domino: float
    lookat_height: float
    lookat_shift_per_domino: float  # lookat x = shift * n (perspective: the near end looms larger)


@dataclass(frozen=True)
class CauseRange:
    """How one cause's critical element is drawn, and where its answer flips.

    The element's value is drawn ~ U(low, high), a range that straddles `flip`, the value at
    which the chain's answer changes (measured with the shared physics, see the stimuli
    README); simulation decides every label, and the robustness checks reject the chains
    too close to `flip` to be sure of. `flip` also scales the family's difficulty (the
    critical margin: value / flip - 1, positive on the "No" side)."""

    low: float
    high: float
    flip: float

    def __post_init__(self) -> None:
        if not 0 < self.low < self.flip < self.high:
            raise StimuliError(f"a cause's range must straddle its flip point: 0 < low < flip < high, got {self}")


@dataclass(frozen=True)
class ControlWindow:
    """How a cue-controlled set (`--control-cues`) draws one cause: its critical value
    ~ U(low, high), a window that straddles the cause's flip more narrowly than its
    `CauseRange`, and the cause's share of every size (the quota stratum's weight).

    Why a window and not only bins: a bin must hold both answers within every cause, and
    at the flip the cause's own cue decides its chains, so a bin cannot cut that cue's
    range; drawing the critical value close to the flip on both sides leaves a model
    little to see but that one cue, whose other readings (the same cue on the other
    causes' chains) then blur it. The shares weight the causes whose cue decides their
    chains least (offset, thickness: the answer also depends on the yaw and the hit's
    height) above those it decides exactly (spacing, size)."""

    low: float
    high: float
    share: float

    def __post_init__(self) -> None:
        if not 0 < self.low < self.high or self.share <= 0:
            raise StimuliError(f"a control window needs 0 < low < high and a positive share, got {self}")


@dataclass(frozen=True)
class DominoSettings:
    camera: DominoCamera
    height: float  # m; each domino's height = height * U(1 - height_jitter, 1 + height_jitter)
    height_jitter: float
    width_ratio: float  # width = ratio * height (real dominoes: 0.5)
    thickness_ratio: float  # thickness = ratio * height (real dominoes: 0.16)
    gap_min: float  # every link but the critical one: gap / height of the falling domino ~ U(gap_min, gap_max) ...
    first_gap_min: float  # ... the tipped domino's link: U(first_gap_min, gap_max)
    gap_max: float
    spacing: CauseRange  # the critical link's gap / height of the falling domino (flip: its reach)
    offset: CauseRange  # the row's sideways step at the critical domino / half the two widths' sum (flip: 1, a miss)
    size: CauseRange  # the critical domino's height / the one's before it, same shape (flip: measured)
    thickness: CauseRange  # the critical domino's thickness / its height (flip: measured)
    lateral_jitter: float  # sideways offset of each domino ~ U(-a, a) * its width
    max_yaw: float  # degrees; each domino turned by U(-max_yaw, max_yaw) about the vertical
    tip_min: float  # degrees past the tipping angle at which the first domino starts
    tip_max: float
    fall_tilt: float  # degrees; the last domino fell if it ends tilted more than this ...
    stand_tilt: float  # ... and stands if less than this; in between: ambiguous, rejected
    causes: tuple[str, ...] = CAUSES  # the quota stratum's values, in draw order
    perturbations: tuple[dict[str, Any], ...] = field(default=())
    # --control-cues: each cause's window and share (every cause of `causes` needs one), and the
    # cues balanced in bins per size (`StimulusFamily.control_cues`)
    control_windows: dict[str, ControlWindow] = field(default_factory=dict)
    control: tuple[ControlledCue, ...] = ()

    def __post_init__(self) -> None:
        check_perturbations(self.perturbations)
        if self.control_windows:
            if sorted(self.control_windows) != sorted(self.causes):
                raise StimuliError(
                    f"domino control_windows: expected one window per cause {list(self.causes)}, got "
                    f"{sorted(self.control_windows)}"
                )
            for cause, window in self.control_windows.items():
                flip = self.cause_range(cause).flip
                if not window.low < flip < window.high:
                    raise StimuliError(
                        f"domino control_windows.{cause}: the window must straddle the flip {flip}, got "
                        f"[{window.low}, {window.high}]"
                    )
        unknown = [c for c in self.causes if c not in CAUSES]
        if unknown or not self.causes or len(set(self.causes)) != len(self.causes):
            raise StimuliError(f"domino causes: expected distinct names among {list(CAUSES)}, got {list(self.causes)}")
        if not 0 < self.gap_min <= self.first_gap_min <= self.gap_max < self.spacing.flip:
            raise StimuliError(
                "domino gaps: expected 0 < gap_min <= first_gap_min <= gap_max < spacing.flip (ordinary links "
                "stay within reach)"
            )

    def cause_range(self, cause: str) -> CauseRange:
        if cause not in CAUSES:
            raise StimuliError(f"unknown domino cause {cause!r}: expected one of {list(CAUSES)}")
        return getattr(self, cause)
