"""The set folder's life: claimed for one set before any work, tidied when complete.

A folder belongs to the set whose card it holds: a generation refuses a folder holding another
set (or anything that is not a set), resumes one holding its own unfinished set, and
leaves a complete one alone. Finishing removes what a killed generation may have left behind.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from cubeworld.formats.atomic import atomic_write_json
from cubeworld.formats.sets import CARD_FILE, IMAGES_DIR, SetFormatError, read_card, seal_set
from cubeworld.stimuli.errors import StimuliError
from cubeworld.stimuli.pipeline.identity import identity_diff, version_problem
from cubeworld.stimuli.pipeline.progress import LOG_FILE, GenerationState

SHARDS_DIR = ".shards"  # a generation's shards (`pipeline.shards`), while it is under way


def _is_fresh(out: Path) -> bool:
    """Empty, or holding only what a generation killed while writing its first card leaves."""
    for p in out.iterdir():
        if p.name.startswith(f".{CARD_FILE}.") and p.name.endswith(".tmp"):
            continue
        if p.name == IMAGES_DIR and p.is_dir() and not any(p.iterdir()):
            continue
        return False
    return True


def prepare_folder(out: Path, ident: dict[str, Any], card: dict[str, Any]) -> str:
    """Check `out` may receive this set; returns "new", "resume" or "complete"."""
    if out.exists() and not out.is_dir():
        raise StimuliError(f"{out} exists and is not a folder")
    if out.is_dir():
        if (out / CARD_FILE).exists():
            try:
                old = read_card(out)
            except SetFormatError as e:
                raise StimuliError(f"{out} holds an unreadable card: {e}") from None
            diff = identity_diff(old, ident)
            problem = version_problem(old) if old.get("generator") == ident.get("generator") else None
            if problem:
                raise StimuliError(
                    f"{out} holds a set this generator cannot continue: {problem}; choose another --out folder"
                )
            if diff:
                raise StimuliError(
                    f"{out} holds a different set ({old.get('name')!r}; differs in {', '.join(diff)}); "
                    "choose another --out folder"
                )
            return "complete" if old.get("status") == "complete" else "resume"
        if not _is_fresh(out):
            raise StimuliError(f"{out} is not empty and holds no stimulus set; choose an empty or new folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / CARD_FILE, card)  # first: from here on the folder is this set's
        (out / IMAGES_DIR).mkdir(exist_ok=True)
    except OSError as e:
        raise StimuliError(f"cannot write to {out}: {e.strerror or e}") from None
    return "new"


def finish_folder(out: Path, state: GenerationState, card: dict[str, Any]) -> None:
    """Remove leftovers of killed generations, seal the set (`SHA256SUMS` and the final card
    with its integrity record: what every stage's `load_set` checks it against), drop the log."""
    keep = {f"{sid}.png" for sid in state.accepted_ids}
    for p in (out / IMAGES_DIR).iterdir():
        if p.name not in keep:  # stray images or temporary files from a killed generation
            p.unlink()
    for p in out.iterdir():
        if p.is_file() and p.name.startswith(".") and p.name.endswith(".tmp"):
            p.unlink()  # temporary files of atomic writes interrupted by a kill
    seal_set(out, card)
    (out / LOG_FILE).unlink(missing_ok=True)
    shutil.rmtree(out / SHARDS_DIR, ignore_errors=True)
