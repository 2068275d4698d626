"""Building a set's metadata row from an evaluated candidate.

Every family's rows have the same core (`formats.sets.REQUIRED_COLUMNS`, then the seed,
the candidate index, the recorded scene and outcome, and the item's `difficulty`:
contract B, the family's measure, larger = more clearly "No"); the family adds its own
columns (`StimulusFamily.row_columns`: towers their margin, pyramids their red block and row).
"""

from __future__ import annotations

from typing import Any

from cubeworld.formats.answers import answer_for
from cubeworld.formats.sets import IMAGES_DIR, StimulusRow
from cubeworld.stimuli.family import StimulusFamily
from cubeworld.stimuli.pipeline.arguments import SetArguments
from cubeworld.stimuli.pipeline.candidates import CandidateResult


def stimulus_id(args: SetArguments, size: int, index: int) -> str:
    """Ids carry domain, seed, size and index, so sets with different seeds never collide."""
    return f"{args.domain}-s{args.seed}-n{size}-{index:05d}"


def make_row(family: StimulusFamily, args: SetArguments, res: CandidateResult, index: int) -> StimulusRow:
    """The row of the `index`-th accepted stimulus of its size."""
    sid = stimulus_id(args, res.size, index)
    extra: dict[str, Any] = {"seed": args.seed, "candidate": res.k, "scene": res.scene, "outcome": res.outcome}
    extra.update(family.row_columns(res.scene, res.outcome))
    record = {"n_blocks": res.size, "falls": bool(res.falls), **extra}
    extra["difficulty"] = family.difficulty_of(record)
    return StimulusRow(
        stimulus_id=sid,
        file_name=f"{IMAGES_DIR}/{sid}.png",
        domain=args.domain,
        n_blocks=res.size,
        falls=bool(res.falls),
        answer=answer_for(bool(res.falls)),
        prompt=family.prompt,
        extra=extra,
    )
