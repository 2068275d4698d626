"""A study folder: made from a stimulus set by `create_human_study`, opened by `load_human_study`.

    STUDY/
      study.yaml      settings (HumanStudyConfig): design, admin token, completion code, bonus, ...
      items.jsonl     the items, one per line, in the study's pool order (seeded shuffle)
      images/         copies of the set's images (unless created with images="reference")
      study.sqlite    participants and responses (created by the server, SQLite in WAL mode)

Items keep the stimulus ids of their set, so responses join the set, the predictions and
the analysis on `stimulus_id` with no glue.
"""

from __future__ import annotations

import json
import random
import secrets
import shutil
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image
from tqdm import tqdm

from cubeworld.formats.atomic import write_jsonl
from cubeworld.formats.responses import RESPONSE_CODES, response_code
from cubeworld.formats.sets import SetFormatError, StimulusSet, load_set
from cubeworld.human.config import (
    DB_FILE,
    IMAGES_DIR,
    ITEMS_FILE,
    HumanStudyConfig,
    load_human_config,
    parse_human_config,
    save_human_config,
)
from cubeworld.human.errors import HumanStudyError
from cubeworld.human.exclusions import ExclusionRules
from cubeworld.stimuli.families import get_family


@dataclass(frozen=True)
class Item:
    """One stimulus of a study, as the server needs it."""

    stimulus_id: str
    image: str  # relative to the study folder (copy) or absolute (reference)
    answer: str  # "Yes" / "No": the set's ground truth (its `answer`), used for the bonus only
    n_blocks: int

    @property
    def correct_response(self) -> int:
        """The response that is right (1 = Yes, 0 = No)."""
        return response_code(self.answer)

    def to_record(self) -> dict:
        return {
            "stimulus_id": self.stimulus_id,
            "image": self.image,
            "answer": self.answer,
            "n_blocks": self.n_blocks,
        }


@dataclass
class HumanStudy:
    """An opened study folder."""

    root: Path
    config: HumanStudyConfig
    items: list[Item]

    @property
    def db_path(self) -> Path:
        return self.root / DB_FILE

    def image_path(self, item: Item) -> Path:
        p = Path(item.image)
        return p if p.is_absolute() else self.root / p

    def by_id(self) -> dict[str, Item]:
        return {item.stimulus_id: item for item in self.items}


def _code(n: int = 8) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


def create_human_study(
    set_dir: str | Path,
    out: str | Path,
    design: str,
    *,
    items: int | None = None,
    exclusions: ExclusionRules | Mapping[str, Any] | None = None,
    overwrite: bool = False,
    **settings: Any,
) -> Path:
    """Make a study folder over the stimulus set `set_dir`; returns the folder.

    `design="same"`: every participant answers every item, each in their own random order.
    `design="spread"`: every item is answered by one participant, handed out in blocks of
    `items` (K); an unfinished block returns to the pool after `block_timeout_minutes`.
    `settings`: further fields of `HumanStudyConfig` (seed, name, images, completion_code,
    bonus_per_correct, attention_checks, ...; None = the default).
    `exclusions`: the exclusion rules (see `cubeworld.human.exclusions`); they can also be
    edited in study.yaml until the first participant starts.

    Every setting is checked, and every image decoded, before anything is written.
    """
    out = Path(out)
    if not isinstance(exclusions, ExclusionRules):
        exclusions = ExclusionRules.parse(exclusions, "exclusions")
    try:
        stim_set = load_set(set_dir)
    except SetFormatError as e:
        raise HumanStudyError(str(e)) from None
    check_set(stim_set)
    domains = sorted({row.domain for row in stim_set.rows})
    if len(domains) != 1:
        raise HumanStudyError(
            f"{set_dir}: a study asks one question, but the set mixes domains {domains}; make one study per domain"
        )
    family = _family(domains[0], set_dir)
    prompts = sorted({row.prompt for row in stim_set.rows})
    if prompts != [family.prompt]:
        # People must be asked exactly what the models were asked (the rows' prompt).
        raise HumanStudyError(
            f"{set_dir}: the set's rows ask {prompts[0]!r}"
            + (f" (and {len(prompts) - 1} other prompt(s))" if len(prompts) > 1 else "")
            + f", but the {family.domain!r} stimulus family asks {family.prompt!r}; make the "
            "set again with this version of cubeworld"
        )
    given = {k: v for k, v in settings.items() if v is not None}
    config = parse_human_config(
        {
            **given,
            "design": design,
            "items_per_participant": items if items is not None else given.get("items_per_participant"),
            "name": given.get("name") or out.name,
            "domain": family.domain,
            "prompt": family.prompt,
            "question": family.question,
            "set_name": stim_set.name,
            "set_path": str(Path(set_dir).resolve()),
            "n_items": len(stim_set.rows),
            "admin_token": secrets.token_urlsafe(24),
            "completion_code": given.get("completion_code") or _code(),
            "exclusions": exclusions,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        "",  # the settings came from the caller (the command line): name them, not a file
    )
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise HumanStudyError(f"{out}: folder exists and is not empty (pass --overwrite)")
        if (out / DB_FILE).exists():
            raise HumanStudyError(
                f"{out}: holds collected responses ({DB_FILE}); refusing to overwrite a study that has data"
            )
    rows = list(stim_set.rows)
    random.Random(config.seed).shuffle(rows)  # pool order for spread; irrelevant for same
    check_images([stim_set.image_path(row) for row in rows], str(set_dir))

    out.mkdir(parents=True, exist_ok=True)
    study_items = []
    if config.images == "copy":
        (out / IMAGES_DIR).mkdir(exist_ok=True)
    used_names: set[str] = set()
    for row in rows:
        src = stim_set.image_path(row)
        if config.images == "copy":
            fname = Path(row.file_name).name
            if fname in used_names:  # images from nested folders may share a base name
                fname = f"{len(used_names):06d}-{fname}"
            used_names.add(fname)
            shutil.copyfile(src, out / IMAGES_DIR / fname)
            image = f"{IMAGES_DIR}/{fname}"
        else:
            image = str(src.resolve())
        study_items.append(Item(row.stimulus_id, image, row.answer, row.n_blocks))
    write_jsonl(out / ITEMS_FILE, [item.to_record() for item in study_items])
    save_human_config(out, config)  # last: a folder with study.yaml is complete
    return out


def check_set(stim_set: StimulusSet) -> None:
    """Refuse a set whose generation did not finish (its card says so): participants would
    answer a set that is not the one the models are evaluated on."""
    status = stim_set.card.get("status")
    if status is not None and status != "complete":
        raise HumanStudyError(
            f"{stim_set.root}: the set is not complete (its card's status is {status!r}: its generation was "
            "interrupted); run the same `cubeworld generate` command again to finish it"
        )


def check_images(paths: list[Path], where: str, shown: int = 3) -> None:
    """Every image decodes completely (PIL's `verify()`, then a full `load()`), so that no
    participant is ever shown a broken one; one HumanStudyError names the first few that do not.

    (A set's own verification in `cubeworld.formats.sets.load_set` is on its way; this is
    the one place to call it from when it lands.)
    """
    bad: list[str] = []
    for path in tqdm(paths, desc="checking images", unit="image", disable=len(paths) < 500, leave=False):
        try:
            with Image.open(path) as img:
                img.verify()
            with Image.open(path) as img:
                img.load()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            bad.append(f"{path} ({str(e) or type(e).__name__})")
    if bad:
        more = f" and {len(bad) - shown} more" if len(bad) > shown else ""
        raise HumanStudyError(
            f"{where}: {len(bad)} image(s) do not decode: {'; '.join(bad[:shown])}{more}; "
            "the set is damaged or was copied or generated only in part: make it again"
        )


def _family(domain: str, set_dir: str | Path):
    """The stimulus family of `domain` (its prompt and question): whatever families exist,
    the study takes its words from there and never branches on a domain's name."""
    try:
        return get_family(domain)
    except (KeyError, ValueError) as e:
        raise HumanStudyError(f"{set_dir}: {e}") from None


def load_human_study(study_dir: str | Path) -> HumanStudy:
    """Open and check a study folder; every problem is a HumanStudyError naming the file."""
    root = Path(study_dir)
    config = load_human_config(root)
    items_path = root / ITEMS_FILE
    if not items_path.is_file():
        raise HumanStudyError(f"{root}: {ITEMS_FILE} is missing")
    items: list[Item] = []
    seen: set[str] = set()
    for i, line in enumerate(items_path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            item = Item(str(rec["stimulus_id"]), str(rec["image"]), str(rec["answer"]), int(rec["n_blocks"]))
            if item.answer not in RESPONSE_CODES:
                raise ValueError(f"answer must be one of {list(RESPONSE_CODES)}, got {item.answer!r}")
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise HumanStudyError(f"{items_path}:{i}: bad item ({e})") from None
        if item.stimulus_id in seen:
            raise HumanStudyError(f"{items_path}:{i}: duplicate stimulus_id {item.stimulus_id!r}")
        seen.add(item.stimulus_id)
        items.append(item)
    if not items:
        raise HumanStudyError(f"{items_path}: the study has no items")
    study = HumanStudy(root=root, config=config, items=items)
    missing = [it.image for it in items if not study.image_path(it).is_file()]
    if missing:
        raise HumanStudyError(f"{root}: {len(missing)} image(s) missing, e.g. {missing[0]!r}")
    return study
