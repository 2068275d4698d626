"""Typed generator settings: the shared physics and rendering, plus one family's own.

`defaults.yaml` beside this module holds the settings every family shares (physics,
rendering); each family's own settings (sampler, judge, camera) and their defaults live
in its package (`families/tower/defaults.yaml`, ...). A set's card stores `SetConfig.to_dict()`:
the shared settings and its own family's, nothing of any other family, so adding a family
changes no existing set's identity, and `regenerate` rebuilds a set with exactly the
settings it was made with even after the defaults change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cubeworld.formats.yamlfile import read_yaml
from cubeworld.stimuli.errors import StimuliError
from cubeworld.stimuli.plain import from_plain, to_plain

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

DEFAULTS_FILE = Path(__file__).with_name("defaults.yaml")
SHARED_SECTIONS = ("physics", "render")


@dataclass(frozen=True)
class RestRule:
    """When a simulation counts as at rest, so that nothing more will fall, by either of two tests:

    - still: every block it simulates moves slower than `speed` m/s and turns slower than
      `spin` rad/s at `checks` consecutive checks (CHECK_INTERVAL apart);
    - held (`hold` > 0; the physics observer's batch only): at each of the last `hold`
      checks, every block it simulates was within `hold_move` m of where it was `hold`
      checks ago and its tilt within `hold_tilt` degrees. Why: a block rocking on an edge in
      a small limit cycle (a few mm/s, forever) never passes the speed test and ran the full
      3 s horizon; such copies were 17 of 240 tower copies at position noise 0.1, and half of
      the steps simulated. Its bounds are tight because a tower can creep before it falls: a
      copy held within 1 mm and 0.5 degrees for 0.5 s fell 0.75 s later (1 of 2,400 copies
      at position noise 0.12, push 0.03); within 0.2 mm and 0.1 degrees none did.

    Two users, both measured against the full horizon: generation's simulations that can
    only still answer "something falls" (`PhysicsSettings.rest_stop`, still test only;
    `benchmarks/bench_stimuli.py restcheck`, stimuli README) and the physics observer's
    copies (`stop_at_rest`; `benchmarks/bench_observers.py --only rest`, fitting README)."""

    speed: float = 1e-3
    spin: float = 1e-2
    checks: int = 3
    hold: int = 10
    hold_move: float = 2e-4
    hold_tilt: float = 0.1

    def __post_init__(self) -> None:
        if not (self.speed >= 0 and self.spin >= 0 and self.checks >= 1 and self.hold >= 0):
            raise StimuliError(
                f"rest rule: speed and spin cannot be negative (0: the still test never passes), checks must be "
                f"at least 1 and hold at least 0, got {self!r}"
            )

    def quiet(self, velocities: np.ndarray) -> np.ndarray:
        """(..., blocks, 6) velocities (linear m/s, then angular rad/s, per block) -> (...)
        bool: is every block slower than `speed` and `spin`?"""
        import numpy as np

        speed = np.linalg.norm(velocities[..., :3], axis=-1)
        spin = np.linalg.norm(velocities[..., 3:], axis=-1)
        return (speed < self.speed).all(axis=-1) & (spin < self.spin).all(axis=-1)


@dataclass(frozen=True)
class PhysicsSettings:
    """How the world moves, and the rest test every "nothing falls" outcome must pass.

    There is no sleep setting: MuJoCo's sleep flag froze slowly tilting blocks and ended
    simulations after 0.1 s (generator 1.0.0); every simulation now covers its full `duration` unless a
    fall decides it earlier."""

    timestep: float
    duration: float
    friction: float
    solref: tuple[float, float]
    cone: str
    density: float
    position_noise: float  # m: each block shifted by U(-noise, noise) on x and y (0: none)
    rest_window: float  # s: the rest test looks at the last `rest_window` seconds of a simulation ...
    rest_move: float  # m: ... in which no block may move more than this ...
    rest_tilt: float  # degrees: ... nor change its tilt by more than this
    # A simulation that can no longer keep or record anything but "something falls" ends once the
    # scene is at rest by this rule: a tower's or pyramid's robustness simulation (the outcome under
    # a documented perturbation), a pyramid's removal past the "No" limit (Yes or
    # ambiguous), and (3.2.0) a standing tower's labelling simulation (its label the balance
    # check's). Its agreement with the full horizon is measured (stimuli README); dominoes
    # keep the full horizon (a chain at rest by this rule was seen to move again). None
    # (cards of 3.0.0): every simulation covers the horizon.
    rest_stop: RestRule | None = None

    def __post_init__(self) -> None:
        if self.cone not in ("pyramidal", "elliptic"):
            raise StimuliError(f"physics.cone: expected 'pyramidal' or 'elliptic', got {self.cone!r}")
        for name in ("timestep", "duration", "density", "rest_window"):
            if not getattr(self, name) > 0:
                raise StimuliError(f"physics.{name}: expected a positive number, got {getattr(self, name)!r}")
        if self.position_noise < 0 or self.rest_move < 0 or self.rest_tilt < 0:
            raise StimuliError("physics: position_noise, rest_move and rest_tilt cannot be negative")

    def perturbed(self, change: Mapping[str, Any]) -> PhysicsSettings:
        """These settings with `change` ({name: value}) applied; unknown names are an error."""
        check_physics_names(change, "physics override")
        merged = {**to_plain(self), **dict(change)}
        return from_plain(PhysicsSettings, merged, "physics")


def check_physics_names(change: Mapping[str, Any], where: str) -> None:
    """A StimuliError naming any key of `change` that is not a physics setting."""
    if not isinstance(change, Mapping):
        raise StimuliError(f"{where}: expected a mapping of physics settings, got {change!r}")
    known = {f.name for f in dataclasses.fields(PhysicsSettings)}
    unknown = sorted(set(change) - known)
    if unknown:
        raise StimuliError(f"{where}: unknown physics setting(s) {unknown}; expected some of {sorted(known)}")


def check_perturbations(changes: Any, where: str = "perturbations") -> None:
    """A StimuliError naming the first entry of a list of physics changes that is not one."""
    for i, change in enumerate(changes):
        check_physics_names(change, f"{where}[{i}]")


@dataclass(frozen=True)
class RenderSettings:
    """How a scene is drawn (see `engine.build_xml` for why each value)."""

    shadow_size: int  # texels per side of the key light's shadow map
    shadow_scale: float  # the part of the light's cone its shadow map covers
    multisamples: int  # MSAA samples (0: none; supersampling anti-aliases instead)
    supersample: int  # render at this multiple of the resolution and average down
    znear: float  # m: near and far clipping planes (also the shadow map's depth range)
    zfar: float
    fovy: float  # degrees: the camera's vertical field of view
    frame_margin: float  # every block corner at least this fraction of the image from its edges

    def __post_init__(self) -> None:
        if self.supersample < 1 or self.shadow_size < 1:
            raise StimuliError("render: supersample and shadow_size must be at least 1")
        if not 0 <= self.frame_margin < 0.5:
            raise StimuliError(f"render.frame_margin: expected a fraction in [0, 0.5), got {self.frame_margin!r}")


@dataclass(frozen=True)
class SharedSettings:
    """The settings every family uses: how the world moves and how it is drawn."""

    physics: PhysicsSettings
    render: RenderSettings


@lru_cache(maxsize=1)
def shared_defaults() -> SharedSettings:
    """The built-in shared settings from `defaults.yaml`."""
    data = read_yaml(DEFAULTS_FILE, StimuliError)  # a duplicate key is an error naming both lines
    return from_plain(SharedSettings, data, str(DEFAULTS_FILE))


class ReadsFamilySettings(Protocol):
    """What `SetConfig.from_dict` needs of a family (the protocol lives a floor above)."""

    @property
    def domain(self) -> str: ...

    def settings_from_dict(self, data: Mapping[str, Any], where: str) -> Any: ...


@dataclass(frozen=True)
class SetConfig:
    """Everything besides the arguments (sizes, counts, seed, resolution) that decides the
    bytes of a set of one family: the shared settings and that family's own."""

    domain: str
    physics: PhysicsSettings
    render: RenderSettings
    family: Any  # the family's settings dataclass (e.g. TowerSettings)

    def to_dict(self) -> dict[str, Any]:
        """The card's `settings`: {"physics": ..., "render": ..., "<domain>": ...}."""
        return {"physics": to_plain(self.physics), "render": to_plain(self.render), self.domain: to_plain(self.family)}

    @classmethod
    def from_dict(cls, family: ReadsFamilySettings, d: Mapping[str, Any]) -> SetConfig:
        if not isinstance(d, Mapping):
            raise StimuliError(f"invalid generator settings: expected a mapping, got {d!r}")
        unknown = sorted(set(d) - {*SHARED_SECTIONS, family.domain})
        missing = [k for k in (*SHARED_SECTIONS, family.domain) if k not in d]
        if unknown or missing:
            raise StimuliError(
                f"invalid generator settings for the {family.domain} family: "
                + (f"missing {missing}" if missing else f"unexpected sections {unknown}")
            )
        shared = from_plain(SharedSettings, {k: d[k] for k in SHARED_SECTIONS}, "settings")
        own = family.settings_from_dict(d[family.domain], f"settings.{family.domain}")
        return cls(family.domain, shared.physics, shared.render, own)
