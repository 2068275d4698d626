"""Rebuilding a set from its card (`cubeworld generate from`), byte for byte.

The card holds every argument and the settings the set was made with, so the rebuild uses
those, not today's defaults. Only cards of this generator version can be rebuilt: another
version makes other stimuli from the same card (generator 2.0.0 cannot replay 1.0.0's
sleep-shortened runs or equal-cube pyramids), so such a card is refused with a line that
says why, rather than rebuilt into a set that would differ from the original.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from cubeworld.formats.sets import CARD_FILE, SetFormatError, read_card
from cubeworld.stimuli.catalog import get_family
from cubeworld.stimuli.core.settings import SetConfig
from cubeworld.stimuli.errors import StimuliError
from cubeworld.stimuli.pipeline.arguments import SetArguments
from cubeworld.stimuli.pipeline.card import mujoco_version
from cubeworld.stimuli.pipeline.generate import generate_set
from cubeworld.stimuli.pipeline.identity import GENERATOR, version_problem
from cubeworld.stimuli.pipeline.pool import Executor


def regenerate(
    card_path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    workers: int | None = None,
    progress: bool = True,
    executor: Executor | None = None,
) -> Path:
    """Rebuild a set from its card (`dataset.json`, or its folder), with the card's own
    settings (`executor`: as in `generate_set`)."""
    card_path = Path(card_path)
    if card_path.is_dir():
        card_path = card_path / CARD_FILE
    if not card_path.is_file():
        raise StimuliError(f"{card_path}: no such card file")
    try:
        card = read_card(card_path)
    except SetFormatError as e:
        raise StimuliError(f"cannot parse the card: {e}") from None
    if "parent" in card.get("arguments", {}):
        raise StimuliError(
            f"{card_path} is the card of a subset; rebuild its parent, then draw the subset with its arguments"
        )
    if card.get("generator") != GENERATOR:
        raise StimuliError(f"{card_path}: not a card written by {GENERATOR} (generator={card.get('generator')!r})")
    problem = version_problem(card)
    if problem:
        raise StimuliError(
            f"{card_path}: cannot rebuild this set: {problem}; rebuild it with the cubeworld release "
            f"of that generator, or generate a new set"
        )
    if card.get("mujoco_version") not in (None, mujoco_version()):
        warnings.warn(f"the card used MuJoCo {card.get('mujoco_version')}, this is {mujoco_version()}", stacklevel=2)
    if not isinstance(card.get("arguments"), dict) or not isinstance(card.get("settings"), dict):
        raise StimuliError(f"{card_path}: the card lacks 'arguments' or 'settings'")
    args = SetArguments.from_dict(card["arguments"])
    try:
        config = SetConfig.from_dict(get_family(args.domain), card["settings"])
    except StimuliError as e:
        raise StimuliError(f"{card_path}: {e}") from None
    return generate_set(
        args.domain,
        args.sizes,
        args.per_size,
        args.seed,
        out,
        resolution=args.resolution,
        workers=workers,
        progress=progress,
        name=card.get("name"),
        config=config,
        control_cues=args.control_cues,
        executor=executor,
    )
