"""The stimulus-set folder: the contract between stimulus generation and everything after.

A set is a folder that Hugging Face `datasets` can load as an "imagefolder":

    SET/
      dataset.json      the card: name, generator version, every argument and seed, physics
                        and render settings, counts per size x label, rejection counts
      metadata.jsonl    one JSON object per stimulus (columns below), in a fixed order
      images/*.png

Every row has at least the `REQUIRED_COLUMNS`; generators add the full scene spec and
simulation outcome under further keys (`scene`, `outcome`, ...), kept in `StimulusRow.extra`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cubeworld.errors import CubeworldError
from cubeworld.formats.answers import answer_for
from cubeworld.stimuli.families import FAMILIES

CARD_FILE = "dataset.json"
METADATA_FILE = "metadata.jsonl"
IMAGES_DIR = "images"

REQUIRED_COLUMNS = ("file_name", "stimulus_id", "domain", "n_blocks", "falls", "answer", "prompt")


class SetFormatError(CubeworldError):
    """A folder is not a valid stimulus set; the message names the file and the problem."""


@dataclass(frozen=True)
class StimulusRow:
    """One stimulus: the image, the question asked about it and its ground truth."""

    stimulus_id: str
    file_name: str  # relative to the set folder, e.g. "images/tower-2-00001.png"
    domain: str  # a registered stimulus family ("tower", "pyramid", ...)
    n_blocks: int
    falls: bool  # ground truth; True means the correct answer is "Yes"
    answer: str  # "Yes" or "No"
    prompt: str
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_record(self) -> dict[str, Any]:
        record = {
            "file_name": self.file_name,
            "stimulus_id": self.stimulus_id,
            "domain": self.domain,
            "n_blocks": self.n_blocks,
            "falls": self.falls,
            "answer": self.answer,
            "prompt": self.prompt,
        }
        record.update(self.extra)
        return record

    @property
    def difficulty(self) -> float | None:
        """How clearly the answer is "No" (contract B; larger = more clearly "No"): the
        row's `difficulty` column, else the family's measure computed from the recorded
        scene and outcome (sets of generator 1.0.0 do not store it); None for rows without
        them, such as photos."""
        if self.extra.get("difficulty") is not None:
            return float(self.extra["difficulty"])
        return FAMILIES.get(self.domain).difficulty_of(self.to_record())

    @classmethod
    def from_record(cls, record: dict[str, Any], where: str = "row") -> StimulusRow:
        missing = [c for c in REQUIRED_COLUMNS if c not in record]
        if missing:
            raise SetFormatError(f"{where}: missing column(s) {missing}")
        if not isinstance(record["domain"], str) or record["domain"] not in FAMILIES:
            raise SetFormatError(
                f"{where}: unknown domain {record['domain']!r}: expected one of {', '.join(FAMILIES.names())}"
            )
        falls = record["falls"]
        if not isinstance(falls, bool):
            raise SetFormatError(f"{where}: 'falls' must be true or false, got {falls!r}")
        if record["answer"] != answer_for(falls):
            raise SetFormatError(f"{where}: answer {record['answer']!r} contradicts falls={falls}")
        extra = {k: v for k, v in record.items() if k not in REQUIRED_COLUMNS}
        return cls(
            stimulus_id=str(record["stimulus_id"]),
            file_name=str(record["file_name"]),
            domain=record["domain"],
            n_blocks=int(record["n_blocks"]),
            falls=falls,
            answer=record["answer"],
            prompt=str(record["prompt"]),
            extra=extra,
        )


@dataclass
class StimulusSet:
    """A loaded set: its folder, its card and its rows (images are opened on demand)."""

    root: Path
    card: dict[str, Any]
    rows: list[StimulusRow]

    @property
    def name(self) -> str:
        return str(self.card.get("name") or self.root.name)

    def image_path(self, row: StimulusRow) -> Path:
        return self.root / row.file_name

    def by_id(self) -> dict[str, StimulusRow]:
        return {row.stimulus_id: row for row in self.rows}

    def __len__(self) -> int:
        return len(self.rows)


def is_set_folder(path: str | Path) -> bool:
    return (Path(path) / METADATA_FILE).is_file()


def read_card(path: str | Path) -> dict[str, Any]:
    """The card of a set folder (or a card file itself); {} when a set has none."""
    path = Path(path)
    card_path = path if path.suffix == ".json" else path / CARD_FILE
    if not card_path.exists():
        return {}
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SetFormatError(f"{card_path}: not valid JSON ({e})") from None
    if not isinstance(card, dict):
        raise SetFormatError(f"{card_path}: expected a JSON object")
    return card


def load_set(path: str | Path, check_images: bool = True) -> StimulusSet:
    """Load and validate a set folder; every problem is a SetFormatError naming the file."""
    root = Path(path)
    if not root.is_dir():
        raise SetFormatError(f"{root}: no such set folder")
    meta = root / METADATA_FILE
    if not meta.is_file():
        raise SetFormatError(f"{root}: not a stimulus set ({METADATA_FILE} is missing)")
    rows: list[StimulusRow] = []
    seen: set[str] = set()
    lines = meta.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{meta}:{i}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise SetFormatError(f"{where}: not valid JSON ({e.msg})") from None
        row = StimulusRow.from_record(record, where)
        if row.stimulus_id in seen:
            raise SetFormatError(f"{where}: duplicate stimulus_id {row.stimulus_id!r}")
        seen.add(row.stimulus_id)
        if check_images and not (root / row.file_name).is_file():
            raise SetFormatError(f"{where}: image {row.file_name!r} does not exist in {root}")
        rows.append(row)
    if not rows:
        raise SetFormatError(f"{meta}: the set has no stimuli")
    return StimulusSet(root=root, card=read_card(root), rows=rows)
