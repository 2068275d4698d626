"""The stimulus-family protocol: everything generation needs to know about one domain.

A family is one kind of stimulus and the Yes/No question asked about it (towers: "will
the tower fall?"). Generation, the command line, presets, subsets, contact sheets and
the physics observer know nothing about any particular family: they ask the registry
(`cubeworld.stimuli.families.FAMILIES`) for one and call the members below.

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
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, Protocol

from cubeworld.stimuli.errors import StimuliError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from cubeworld.stimuli.config import PhysicsSettings
    from cubeworld.stimuli.engine import World
    from cubeworld.stimuli.scene import Scene


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
    audit: `value(row)` reads one number from a row record (its `scene`, `n_blocks`, ...);
    the audit reports the accuracy the best threshold on that number reaches on a set."""

    name: str
    description: str
    value: Callable[[Mapping[str, Any]], float]


class Judgement(Protocol):
    """What `StimulusFamily.judge` returns for one candidate."""

    accepted: bool  # False: the candidate is rejected and never shown
    reason: str  # why it was rejected ("" when accepted); counted on the card
    falls: bool | None  # the label (True = "Yes") when accepted
    outcome: dict[str, Any]  # JSON-ready measurements, stored as the row's `outcome`


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

    # -- heavy: one candidate ----------------------------------------------------------
    @abc.abstractmethod
    def sample(self, rng: "np.random.Generator", size: int, settings: Any) -> "Scene":
        """Draw one scene of `size` blocks; every random draw comes from `rng`."""

    @abc.abstractmethod
    def judge(self, world: "World", scene: "Scene", physics: "PhysicsSettings", settings: Any) -> Judgement:
        """Label the scene by simulation, or reject it (too close to call, unstable, ...)."""

    @abc.abstractmethod
    def falls(self, world: "World", scene: "Scene", physics: "PhysicsSettings", settings: Any) -> bool:
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
    def answer_by_simulation(self, scene: Mapping[str, Any], *, physics: Mapping[str, Any] | None = None) -> bool:
        """Re-simulate a row's recorded `scene` under the family's outcome rule; True = "Yes".

        `physics` overrides shared physics settings by name ({"friction": 0.5}); the
        family's own settings are its defaults. One MuJoCo world per process is reused,
        and every call rewrites it completely, so answers are deterministic.
        """
        from cubeworld.stimuli.config import shared_defaults
        from cubeworld.stimuli.scene import Scene
        from cubeworld.stimuli.worlds import simulation_world

        spec = Scene.from_record(scene)
        phys = shared_defaults().physics.perturbed(physics or {})
        world = simulation_world(max(self.capacity, len(spec.blocks)))
        return bool(self.falls(world, spec, phys, self.default_settings()))

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
