"""A generated set's card (`dataset.json`): its identity plus what describes the set.

Besides the identity (`cubeworld.stimuli.pipeline.identity`), the card records its kind
(`rendered`: every row records the scene its image shows), the MuJoCo version and render
backend, the camera per size, the family's label rule, prompt and difficulty
measure, and -- once the set is complete -- the counts per size x label, rejections, the
family's strata counts (pyramids: per size x red block's tier x label and those quotas),
the shortcut audit (`cubeworld.stimuli.audit.shortcut`: what one-cue rules and small models
score on the set) and, for a cue-controlled set, its cue bins, quotas, counts, candidates
per stimulus and the audit's targets (`control_cues`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from cubeworld.formats.sets import COMPLETE, IN_PROGRESS, RENDERED
from cubeworld.stimuli.core.settings import SetConfig
from cubeworld.stimuli.family import StimulusFamily
from cubeworld.stimuli.pipeline.arguments import SetArguments
from cubeworld.stimuli.pipeline.identity import identity
from cubeworld.stimuli.pipeline.progress import GenerationState
from cubeworld.stimuli.pipeline.quotas import counted_strata, stratum_column


def mujoco_version() -> str:
    from cubeworld.stimuli.engine.world import mujoco

    return mujoco.__version__


def build_card(
    name: str,
    family: StimulusFamily,
    args: SetArguments,
    config: SetConfig,
    state: GenerationState | None = None,
    rows: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The card of a set in progress (`state` None) or complete (with its `rows`)."""
    card = identity(name, args, config)
    card.update(
        {
            "kind": RENDERED,
            "mujoco_version": mujoco_version(),
            "render_backend": os.environ.get("MUJOCO_GL", "egl"),
            "cameras": {str(s): family.camera(s, config.family) for s in args.sizes},
            "label_rule": family.label_rule,
            "prompt": family.prompt,
            "difficulty": family.difficulty.to_dict(),
            "status": IN_PROGRESS,
        }
    )
    if args.control_cues:
        from cubeworld.stimuli.pipeline.control import describe

        card["control_cues"] = {"bins": describe(family, args.sizes, config.family)}
    if state is not None:
        from cubeworld.stimuli.audit.shortcut import shortcut_audit

        card.update(state.summary(counted_strata(family, args, config), stratum_column(family, args, config)))
        audit = shortcut_audit(family, rows)
        card["shortcut_audit"] = audit.to_card()
        card["shortcut_warnings"] = audit.warnings
        if args.control_cues:
            card["control_cues"]["targets"] = audit.control_targets(family.control_reading_targets)
        card["status"] = COMPLETE
    return card
