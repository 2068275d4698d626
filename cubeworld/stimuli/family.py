"""The stimulus-family protocol: everything generation needs to know about one domain.

A family is one kind of stimulus and the Yes/No question asked about it (towers: "will
the tower fall?"). Generation, the command line, presets, subsets, contact sheets and
the physics observer know nothing about any particular family: they ask the registry
(`cubeworld.stimuli.catalog.FAMILIES`) for one and call the members below.

Subclass `StimulusFamily`, fill in the class attributes and the abstract methods, put the
defaults of your settings dataclass in a YAML file beside the module, and register one
instance. `families/tower.py` is the worked example. Two rules keep the toolkit light and
its sets stable:

- The module must import no numpy or mujoco at import time: `--help`, config validation
  and the other stages read `.domain`, `.prompt`, `.question` and `.sizes` without them.
  Import heavy modules inside the methods that need them.
- Never change `stream_code`, and give a new family a code no other family has: it seeds
  every candidate's random stream, so changing it changes every set's bytes.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from cubeworld.stimuli.errors import StimuliError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from cubeworld.stimuli.core.scene import Scene
    from cubeworld.stimuli.core.settings import PhysicsSettings
    from cubeworld.stimuli.engine.batch import OutcomeRule, RestRule
    from cubeworld.stimuli.engine.world import World


@dataclass(frozen=True)
class DifficultyMeasure:
    """How hard an item is (contract B): larger means "No" more clearly, smaller (negative)
    "Yes" more clearly; near zero is where a label is closest to flipping."""

    name: str
    unit: str
    description: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "unit": self.unit, "description": self.description}


@dataclass(frozen=True)
class ShortcutCue:
    """A simple visual cue a model could use instead of physics, for the card's shortcut
    audit: `value(row)` reads one number from a row record (its `scene`, `n_blocks`, ...).

    The audit (`cubeworld.stimuli.audit.shortcut`) fits a one-cue rule of the cue's `rule`
    type on the set and reports its accuracy: for a "threshold" cue the best "Yes if value
    > t" or "Yes if value < t"; for a "category" cue (few distinct values, such as a tier
    number) the majority answer per value."""

    name: str
    description: str
    value: Callable[[Mapping[str, Any]], float]
    rule: str = "threshold"  # or "category"
    # A cue that is itself a reading of the image ("a block resting on the red block has its
    # centre off its other support") says Yes when its value is above this; the audit then
    # also reports how often that fixed reading is wrong. None: a measurement, not a reading.
    says_yes_above: float | None = None

    def __post_init__(self) -> None:
        if self.rule not in ("threshold", "category"):
            raise ValueError(f"shortcut cue {self.name!r}: rule must be 'threshold' or 'category', got {self.rule!r}")


@dataclass(frozen=True)
class CueBins:
    """One cue a cue-controlled set balances (`--control-cues`): its value on a candidate's
    recorded scene (the family's `ShortcutCue` of that name, read before any simulation)
    is cut into bins at `edges` (ascending; bin i is edges[i] <= value < edges[i + 1], the
    last bin closed). A candidate outside [edges[0], edges[-1]] is rejected as
    "cue_out_of_range" without simulation. Generation keeps every bin half Yes and half No,
    so the cue tells nothing about the answer within a size beyond what one bin's width
    allows. `shares` is each bin's share of the size's stimuli (default: equal).

    `value_shares` gives the bins' shares per stratum value instead, where the cue's
    possible values depend on it (pyramids: a red block inside its tier exists only in
    tiers of three or more blocks). A share may be 0 there: that stratum value keeps no
    stimulus in the bin (a candidate in it is surplus, never simulated), which is how a
    cell physics cannot fill is left out rather than deadlocking the generation."""

    cue: str
    edges: tuple[float, ...]
    shares: tuple[float, ...] | None = None
    value_shares: Mapping[Any, tuple[float, ...]] | None = None
    # The bins' shares among a stratum value's "No" stimuli where they differ from its "Yes"
    # ones (then `shares` / `value_shares` are the "Yes" ones): a reading cue that is never
    # wrong on a "Yes" (the pyramids' one-step reading) keeps its "Yes" items in one bin and
    # a chosen share of its "No" items in the other -- the items the reading gets wrong.
    no_value_shares: Mapping[Any, tuple[float, ...]] | None = None

    def __post_init__(self) -> None:
        if len(self.edges) < 2 or any(b <= a for a, b in zip(self.edges, self.edges[1:])):
            raise ValueError(f"cue {self.cue!r}: bin edges must be at least two ascending numbers, got {self.edges}")
        if self.shares is not None and (len(self.shares) != len(self.edges) - 1 or min(self.shares) <= 0):
            raise ValueError(f"cue {self.cue!r}: one positive share per bin, got {self.shares}")
        for value, shares in [*(self.value_shares or {}).items(), *(self.no_value_shares or {}).items()]:
            if len(shares) != len(self.edges) - 1 or min(shares) < 0 or sum(shares) <= 0:
                raise ValueError(
                    f"cue {self.cue!r}, stratum value {value!r}: one share >= 0 per bin, not all 0, got {shares}"
                )

    def shares_at(self, value: Any = None, falls: bool = True) -> tuple[float, ...]:
        """The bins' shares (summing to 1) among the stimuli of stratum value `value` (and,
        where `no_value_shares` says so, of the answer `falls`)."""
        raw = (self.value_shares or {}).get(value, self.shares) or (1.0,) * self.bins
        if not falls and self.no_value_shares and value in self.no_value_shares:
            raw = self.no_value_shares[value]
        return tuple(s / sum(raw) for s in raw)

    @property
    def bins(self) -> int:
        return len(self.edges) - 1

    def bin_of(self, value: float) -> int | None:
        """The bin of `value`, or None outside the edges."""
        if not self.edges[0] <= value <= self.edges[-1]:
            return None
        for i in range(self.bins - 1, -1, -1):
            if value >= self.edges[i]:
                return i
        return 0  # pragma: no cover - value >= edges[0] above


@dataclass(frozen=True)
class ControlledCue:
    """A family setting (its YAML's `control:` list): a cue a cue-controlled set balances,
    with its bin edges (and optionally the bins' shares) per size. A size without edges
    does not control this cue. `value_shares` gives the bins' shares per size and per
    stratum value where they differ by value (`CueBins.value_shares`). The default
    `StimulusFamily.control_cues` reads these from the family settings' `control` field."""

    cue: str
    edges: dict[int, tuple[float, ...]]
    shares: dict[int, tuple[float, ...]] = field(default_factory=dict)
    value_shares: dict[int, dict[int, tuple[float, ...]]] = field(default_factory=dict)
    no_value_shares: dict[int, dict[int, tuple[float, ...]]] = field(default_factory=dict)  # "No" items', likewise


@dataclass(frozen=True)
class StratumQuota:
    """A row column whose values get fixed quotas per size, each split half Yes / half No:
    candidate k is drawn in `values[k % len(values)]` (`StimulusFamily.sample_in_stratum`).
    `weights` are the values' shares of the size's stimuli (default: equal)."""

    column: str
    values: tuple[Any, ...]
    weights: tuple[float, ...] | None = None


class Judgement(Protocol):
    """What `StimulusFamily.judge` returns for one candidate."""

    accepted: bool  # False: the candidate is rejected and never shown
    reason: str  # why it was rejected ("" when accepted); counted on the card
    falls: bool | None  # the label (True = "Yes") when accepted
    outcome: dict[str, Any]  # JSON-ready measurements, stored as the row's `outcome`


@dataclass
class Verdict:
    """A ready-made `Judgement` for a family that needs no fields of its own."""

    accepted: bool
    reason: str  # "" when accepted
    falls: bool | None
    outcome: dict[str, Any] = field(default_factory=dict)


class StimulusFamily(abc.ABC):
    """One domain: its question, sizes, settings, sampler, judge, camera and card entries.

    Light members (class attributes) may be read without numpy or mujoco; the methods
    marked heavy run in generation's worker processes.
    """

    # -- what it asks ------------------------------------------------------------------
    domain: ClassVar[str]  # the rows' `domain` value and the registry name, e.g. "tower"
    command: ClassVar[str]  # its command: `cubeworld generate <command>`, e.g. "towers"
    description: ClassVar[str]  # one line for --help
    prompt: ClassVar[str]  # the study's exact prompt, asked of models and people alike
    question: ClassVar[str]  # the short question alone, for headings and trial screens
    sizes: ClassVar[tuple[int, ...]]  # allowed block counts
    label_rule: ClassVar[str]  # how a label is decided, in words, for the card
    difficulty: ClassVar[DifficultyMeasure]  # what `difficulty_of` measures (contract B)

    # -- how it is generated -----------------------------------------------------------
    stream_code: ClassVar[int]  # mixed into every candidate's seed; unique, never changed
    settings_type: ClassVar[type]  # the frozen dataclass of the family's own settings
    settings_file: ClassVar[Path]  # its defaults: YAML with a `settings:` section
    strata: ClassVar[tuple[str, ...]] = ()  # row columns the card counts per size x value x label
    # A `strata` column whose values get exact, equal quotas per size (pyramids: "red_row",
    # the study's "equal chance of being in every row"). Candidate k of a size is drawn in
    # value `stratum_values(size)[k % len(values)]` through `sample_in_stratum`; the
    # generator balances the labels per size x value as far as physics allows. None: no quota.
    quota_stratum: ClassVar[str | None] = None
    # Cue-controlled sets: reading cues (`ShortcutCue.says_yes_above`) whose fixed reading must
    # be wrong on at least this share of every size's items; the card states whether it is
    # (pyramids: the one-step support reading, wrong on at least a third).
    control_reading_targets: ClassVar[Mapping[str, float]] = {}
    # True: `sample_in_stratum(..., controlled=True)` draws differently for a cue-controlled set
    # (pyramids steer the leans around the red block), which alone makes `--control-cues` mean something.
    controlled_sampling: ClassVar[bool] = False

    @property
    def capacity(self) -> int:
        """The most blocks a scene has: the MuJoCo world holds this many boxes."""
        return max(self.sizes)

    # -- settings (light) --------------------------------------------------------------
    @cached_property
    def _defaults_file(self) -> dict[str, Any]:
        from cubeworld.formats.yamlfile import read_yaml

        data = read_yaml(self.settings_file, StimuliError)
        if not isinstance(data, dict) or not isinstance(data.get("settings"), dict):
            raise StimuliError(f"{self.settings_file}: expected a mapping with a 'settings' section")
        return data

    @cached_property
    def _default_settings(self) -> Any:
        return self.settings_from_dict(self._defaults_file["settings"], str(self.settings_file))

    def default_settings(self) -> Any:
        """The family's built-in settings, from its YAML file (read once per process)."""
        return self._default_settings

    def presets(self) -> dict[str, dict[str, Any]]:
        """Named sets the family adds to `cubeworld generate presets` (its YAML's `presets:`)."""
        return dict(self._defaults_file.get("presets") or {})

    def settings_from_dict(self, data: Mapping[str, Any], where: str) -> Any:
        """Settings from plain data (YAML or a card's copy); every key is checked."""
        from cubeworld.stimuli.plain import from_plain

        return from_plain(self.settings_type, data, where)

    def robustness_checks(self, settings: Any) -> tuple[Mapping[str, Any], ...]:
        """Physics changes ({setting: value}) under which a kept label must not change. The
        judge applies them at generation; an audit may re-run them with
        `answer_by_simulation(scene, physics=change)`. None by default."""
        return ()

    def audit_perturbations(self) -> tuple[Mapping[str, Any], ...]:
        """The documented physics changes (`cubeworld/stimuli/perturbations.yaml`) under which
        `cubeworld audit SET --physics` and the benchmark re-simulate a family's items and
        report how often the label holds. A family may audit a longer or shorter list."""
        from cubeworld.stimuli.core.perturbations import audit_perturbations

        return audit_perturbations()

    def stratum_values(self, size: int, settings: Any) -> tuple[Any, ...]:
        """The values of `quota_stratum` for scenes of `size` blocks (each gets an equal quota)."""
        return ()

    def stratum_quota(self, size: int, settings: Any, controlled: bool = False) -> StratumQuota | None:
        """The quota stratum of a set of `size` blocks: by default `quota_stratum` with equal
        quotas over `stratum_values`. `controlled` is True for a cue-controlled set, where a
        family may stratify more finely (pyramids do not: exact quotas per red place were
        tried and deadlocked where physics never answers No; their end / interior quota is
        a cue bin with shares per tier, `CueBins.value_shares`)."""
        if self.quota_stratum is None:
            return None
        return StratumQuota(self.quota_stratum, tuple(self.stratum_values(size, settings)))

    def control_cues(self, size: int, settings: Any) -> tuple[CueBins, ...]:
        """The cues a cue-controlled set (`--control-cues`) balances at `size`: each names
        one of `shortcut_cues()` and its bins. Generation keeps half Yes and half No within
        every combination of bins (and stratum value), so a family should only combine
        bins in which physics gives both answers. By default the `control` field of the
        family's settings (a tuple of `ControlledCue`), at the sizes it gives edges for; a
        family that controls no cue at any size of a set, and stratifies no differently
        when controlled, refuses `--control-cues`."""
        return tuple(
            CueBins(
                c.cue,
                tuple(c.edges[size]),
                tuple(c.shares[size]) if size in c.shares else None,
                {v: tuple(s) for v, s in c.value_shares[size].items()} if size in c.value_shares else None,
                {v: tuple(s) for v, s in c.no_value_shares[size].items()} if size in c.no_value_shares else None,
            )
            for c in getattr(settings, "control", ())
            if size in c.edges
        )

    # -- heavy: one candidate ----------------------------------------------------------
    @abc.abstractmethod
    def sample(self, rng: np.random.Generator, size: int, settings: Any) -> Scene:
        """Draw one scene of `size` blocks; every random draw comes from `rng`."""

    def sample_in_stratum(
        self, rng: np.random.Generator, size: int, settings: Any, value: Any, controlled: bool = False
    ) -> Scene:
        """Draw one scene whose stratum column (`stratum_quota(size, settings, controlled)
        .column`) will be `value` (needed only by families with a stratum quota).
        `controlled` is True for a cue-controlled set (generation passes it only then)."""
        raise NotImplementedError(f"the {self.domain} family sets no quota_stratum")

    @abc.abstractmethod
    def judge(self, world: World, scene: Scene, physics: PhysicsSettings, settings: Any) -> Judgement:
        """Label the scene by simulation, or reject it (too close to call, unstable, ...)."""

    def judge_wanted(
        self, world: World, scene: Scene, physics: PhysicsSettings, settings: Any, wanted: tuple[bool, ...]
    ) -> Judgement:
        """`judge`, told which labels the set can still take (`wanted`): a family may stop
        as soon as it knows the label is not wanted and skip its remaining work (the
        full-scene simulation, the robustness simulations), returning `accepted=False, reason="unwanted"`
        with `falls` set. Whenever a judgement knows the label, it should carry it in
        `falls`, rejected or not: generation counts a candidate whose label is no longer
        wanted as surplus, however far it was judged, so the bytes never depend on the
        number of workers. By default, the full `judge`."""
        return self.judge(world, scene, physics, settings)

    @abc.abstractmethod
    def falls(self, world: World, scene: Scene, physics: PhysicsSettings, settings: Any) -> bool:
        """The outcome rule, once: simulate the scene under `physics`; True means "Yes"."""

    @abc.abstractmethod
    def camera(self, size: int, settings: Any) -> dict[str, Any]:
        """The free camera for a scene of `size` blocks: lookat, distance, azimuth, elevation."""

    # -- light: rows and cards ---------------------------------------------------------
    def row_columns(self, scene: Mapping[str, Any], outcome: Mapping[str, Any]) -> dict[str, Any]:
        """Extra columns of the family's rows, from the recorded scene and outcome."""
        return {}

    @abc.abstractmethod
    def difficulty_of(self, row: Mapping[str, Any]) -> float | None:
        """The item's difficulty (see `difficulty`) from a row record; None if the row
        lacks what it needs (e.g. a photo set without a scene)."""

    def shortcut_cues(self) -> tuple[ShortcutCue, ...]:
        """The simple cues the card's shortcut audit scores on a set of this family."""
        return ()

    # -- provided: re-simulating a recorded scene (the physics observer) ---------------
    def answer_by_simulation(
        self,
        scene: Mapping[str, Any],
        *,
        physics: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> bool:
        """Re-simulate a row's recorded `scene` under the family's outcome rule; True = "Yes".

        `physics` overrides shared physics settings by name ({"friction": 0.5}); `settings`
        replaces the family's own settings (a card's `settings[domain]`, to re-simulate a set
        with the thresholds it was made with; default: the built-in ones). One MuJoCo world
        per process and scene size is reused, and every call rewrites it completely, so
        answers are deterministic.
        """
        from cubeworld.stimuli.core.scene import Scene
        from cubeworld.stimuli.core.settings import shared_defaults
        from cubeworld.stimuli.engine.worlds import simulation_world

        spec = Scene.from_record(scene)
        phys = shared_defaults().physics.perturbed(physics or {})
        own = (
            self.default_settings()
            if settings is None
            else self.settings_from_dict(settings, f"settings.{self.domain}")
        )
        world = simulation_world(len(spec.blocks))
        return bool(self.falls(world, spec, phys, own))

    # -- optional: many copies of a scene at once (the physics observer, fits to people) --
    def outcome_rule(self, scene: Scene, settings: Any) -> OutcomeRule | None:
        """The outcome rule of `falls` in the form a batch applies (`engine.batch.OutcomeRule`:
        blocks removed, early stop, verdict), or None: `answer_copies` then simulates the
        copies one at a time with `falls`. Heavy."""
        return None

    def answer_copies(
        self,
        scenes: Sequence[Mapping[str, Any]],
        *,
        physics: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
        rest: RestRule | None = None,
        threads: int = 1,
    ) -> list[bool]:
        """`answer_by_simulation` of every scene (copies of one scene: the same blocks, perturbed),
        as one batched simulation (`engine.batch.simulate_copies`) when the family gives its
        `outcome_rule`; `rest` also ends a copy once its blocks are still. Without `rest` the
        answers equal `answer_by_simulation`'s one by one."""
        from cubeworld.stimuli.core.scene import Scene
        from cubeworld.stimuli.core.settings import shared_defaults
        from cubeworld.stimuli.engine.batch import simulate_copies
        from cubeworld.stimuli.engine.worlds import simulation_world

        if not scenes:
            return []
        specs = [Scene.from_record(s) for s in scenes]
        phys = shared_defaults().physics.perturbed(physics or {})
        own = (
            self.default_settings()
            if settings is None
            else self.settings_from_dict(settings, f"settings.{self.domain}")
        )
        rules = [self.outcome_rule(spec, own) for spec in specs]
        n = len(specs[0].blocks)
        if any(r is None for r in rules) or any(len(s.blocks) != n for s in specs):
            return [bool(self.falls(simulation_world(len(s.blocks)), s, phys, own)) for s in specs]
        removed = {r.removed for r in rules}  # type: ignore[union-attr]
        settle = {r.settle for r in rules}  # type: ignore[union-attr]
        if len(removed) > 1 or len(settle) > 1:
            raise StimuliError("copies of one batch must remove the same blocks after the same settling")
        world = simulation_world(n)
        results = simulate_copies(
            world,
            [s.blocks for s in specs],
            phys,
            removed=next(iter(removed)),
            settle=next(iter(settle)),
            stops=[r.stop for r in rules],  # type: ignore[union-attr]
            rest=rest,
            threads=threads,
        )
        return [bool(r.verdict(res)) for r, res in zip(rules, results)]  # type: ignore[union-attr]

    def __repr__(self) -> str:
        return f"<stimulus family {self.domain!r}>"


def format_sizes(sizes: tuple[int, ...]) -> str:
    """(2, 3, 4, 5) -> '2-5'; (3, 6, 10) -> '3,6,10': the way --sizes is written."""
    parts, run = [], [sizes[0]] if sizes else []
    for s in sizes[1:]:
        if s == run[-1] + 1:
            run.append(s)
            continue
        parts.append(run)
        run = [s]
    if run:
        parts.append(run)
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else ",".join(map(str, r)) for r in parts)
