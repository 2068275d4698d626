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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cubeworld.formats.atomic import write_jsonl
from cubeworld.formats.sets import SetFormatError, load_set
from cubeworld.human.config import (
    CONFIG_FILE,
    DB_FILE,
    IMAGES_DIR,
    ITEMS_FILE,
    PROLIFIC_COMPLETION_URL,
    HumanStudyConfig,
    HumanStudyError,
    load_human_config,
    save_human_config,
)
from cubeworld.human.exclusions import ExclusionRules
from cubeworld.stimuli.families import get_family


@dataclass(frozen=True)
class Item:
    """One stimulus of a study, as the server needs it."""

    stimulus_id: str
    image: str  # relative to the study folder (copy) or absolute (reference)
    answer: str  # "Yes" / "No": the ground truth, used for the bonus only
    n_blocks: int

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
    seed: int = 0,
    name: str | None = None,
    images: str = "copy",
    completion_code: str | None = None,
    completion_url: str = PROLIFIC_COMPLETION_URL,
    prolific_study_id: str = "",
    bonus_per_correct: float = 0.01,
    attention_checks: bool = False,
    attention_check_every: int = 25,
    block_timeout_minutes: float = 60.0,
    exclusions: ExclusionRules | dict | None = None,
    overwrite: bool = False,
) -> Path:
    """Make a study folder over the stimulus set `set_dir`; returns the folder.

    `design="same"`: every participant answers every item, each in their own random order.
    `design="spread"`: every item is answered by one participant, handed out in blocks of
    `items` (K); an unfinished block returns to the pool after `block_timeout_minutes`.
    `exclusions`: the exclusion rules (see `cubeworld.human.exclusions`); they can also be
    edited in study.yaml until the first participant starts.
    """
    out = Path(out)
    if not isinstance(exclusions, ExclusionRules):
        exclusions = ExclusionRules.from_dict(exclusions, "exclusions")
    if design not in ("same", "spread"):
        raise HumanStudyError(f"design must be 'same' or 'spread', got {design!r}")
    if design == "spread" and items is None:
        raise HumanStudyError("the spread design needs --items K (items per participant)")
    if design == "same" and items is not None:
        raise HumanStudyError(
            "--items applies to the spread design; for the same design draw a subset of the "
            "set first (cubeworld stimuli subset)"
        )
    try:
        stim_set = load_set(set_dir)
    except SetFormatError as e:
        raise HumanStudyError(str(e)) from None
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
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise HumanStudyError(f"{out}: folder exists and is not empty (pass --overwrite)")
        if (out / DB_FILE).exists():
            raise HumanStudyError(
                f"{out}: holds collected responses ({DB_FILE}); refusing to overwrite a study that has data"
            )
    rows = list(stim_set.rows)
    random.Random(seed).shuffle(rows)  # pool order for spread; irrelevant for same

    out.mkdir(parents=True, exist_ok=True)
    study_items = []
    if images == "copy":
        (out / IMAGES_DIR).mkdir(exist_ok=True)
    elif images != "reference":
        raise HumanStudyError(f"images must be 'copy' or 'reference', got {images!r}")
    used_names: set[str] = set()
    for row in rows:
        src = stim_set.image_path(row)
        if images == "copy":
            fname = Path(row.file_name).name
            if fname in used_names:  # images from nested folders may share a base name
                fname = f"{len(used_names):06d}-{fname}"
            used_names.add(fname)
            shutil.copyfile(src, out / IMAGES_DIR / fname)
            image = f"{IMAGES_DIR}/{fname}"
        else:
            image = str(src.resolve())
        study_items.append(Item(row.stimulus_id, image, row.answer, row.n_blocks))

    config = HumanStudyConfig(
        name=name or out.name,
        design=design,
        domain=family.domain,
        prompt=family.prompt,
        question=family.question,
        set_name=stim_set.name,
        set_path=str(Path(set_dir).resolve()),
        n_items=len(study_items),
        seed=seed,
        admin_token=secrets.token_urlsafe(24),
        completion_code=completion_code or _code(),
        completion_url=completion_url,
        prolific_study_id=prolific_study_id,
        items_per_participant=items if design == "spread" else None,
        block_timeout_minutes=block_timeout_minutes,
        bonus_per_correct=bonus_per_correct,
        attention_checks=attention_checks,
        attention_check_every=attention_check_every,
        images=images,
        exclusions=exclusions,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    config.validate(str(out / CONFIG_FILE))
    write_jsonl(out / ITEMS_FILE, [item.to_record() for item in study_items])
    save_human_config(out, config)  # last: a folder with study.yaml is complete
    return out


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
