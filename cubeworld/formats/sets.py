"""The stimulus-set folder: the contract between the sources of sets and everything after.

A set is a folder that Hugging Face `datasets` can load as an "imagefolder":

    SET/
      dataset.json      the card: name, kind, generator and version, every argument and seed,
                        counts per size x answer, the total, the integrity record (below)
      metadata.jsonl    one JSON object per stimulus (columns below), in a fixed order
      images/*.png
      SHA256SUMS        sha256 of metadata.jsonl and every image (`sha256sum -c SHA256SUMS`)

Every row has at least the `REQUIRED_COLUMNS`; sources add their own columns (a rendered
set the recorded `scene` and `outcome`, ...), kept in `StimulusRow.extra`.

**Kinds of set** (the card's `kind`): `rendered` -- made by a stimulus family, every row
records the scene its image shows, so a simulator can answer it again; `photo` --
external images (Lerer100's photographs), no scenes. Observers and the human app ask
`StimulusSet.kind` instead of guessing from a missing `scene`.

**Why this module knows no stimulus family**: the format is shared by every stage and by
sets no family made (photos). A row's `domain` names the question its item asks; the
format checks that it is a name, and whoever needs the family (`cubeworld.stimuli`) looks
it up and refuses an unknown one.

**Every stage that reads a set verifies it** through `load_set`: by default (fast) the
card's claims are checked against the folder -- a set whose generation stopped
(`status` other than "complete") is refused, the rows must match the card's `total` and
`counts`, every image must exist, and, for sets sealed with an integrity record, the
metadata must hash to the card's sha256 and the images' count and total bytes must match
(a truncated PNG changes them). `verify=True` also decodes every image and checks every
file's sha256 against `SHA256SUMS`. Sets made before the integrity record (no
`integrity` on the card) pass the fast check on counts and existence; `verify=True`
decodes their images.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cubeworld.errors import CubeworldError
from cubeworld.formats.answers import answer_for
from cubeworld.formats.atomic import atomic_write_json, atomic_write_text

CARD_FILE = "dataset.json"
METADATA_FILE = "metadata.jsonl"
IMAGES_DIR = "images"
MANIFEST_FILE = "SHA256SUMS"

REQUIRED_COLUMNS = ("file_name", "stimulus_id", "domain", "n_blocks", "falls", "answer", "prompt")

RENDERED = "rendered"  # made by a stimulus family: every row records the scene its image shows
PHOTO = "photo"  # external images: no recorded scenes
SET_KINDS = (RENDERED, PHOTO)
COMPLETE = "complete"  # the card's `status` of a finished set ...
IN_PROGRESS = "in_progress"  # ... and of one being made (refused by `load_set`)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_CHUNK = 1 << 20


class SetFormatError(CubeworldError):
    """A folder is not a valid stimulus set; the message names the file and the problem."""


@dataclass(frozen=True)
class StimulusRow:
    """One stimulus: the image, the question asked about it and its ground truth."""

    stimulus_id: str
    file_name: str  # relative to the set folder, e.g. "images/tower-2-00001.png"
    domain: str  # the question the item asks ("tower", "pyramid", ...): a stimulus family's domain
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
        row's `difficulty` column; None for rows without one (photos, sets of generator
        1.0.0 -- `cubeworld.stimuli.difficulty_of(row)` computes the family's measure for
        those from the recorded scene)."""
        value = self.extra.get("difficulty")
        return None if value is None else float(value)

    @classmethod
    def from_record(cls, record: dict[str, Any], where: str = "row") -> StimulusRow:
        missing = [c for c in REQUIRED_COLUMNS if c not in record]
        if missing:
            raise SetFormatError(f"{where}: missing column(s) {missing}")
        if not isinstance(record["domain"], str) or not _NAME.match(record["domain"]):
            raise SetFormatError(
                f"{where}: domain {record['domain']!r} is not a name (letters, digits, '_', '-', '.'; e.g. 'tower')"
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

    @property
    def kind(self) -> str:
        """`rendered` (a stimulus family made it; rows record scenes) or `photo`: the card's
        `kind`; for sets made before cards said so, `rendered` when every row records a
        scene, else `photo`."""
        kind = self.card.get("kind")
        if kind in SET_KINDS:
            return str(kind)
        return RENDERED if all(isinstance(r.extra.get("scene"), Mapping) for r in self.rows) else PHOTO

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


def load_set(
    path: str | Path, check_images: bool = True, *, verify: bool = False, progress: bool = False
) -> StimulusSet:
    """Load and check a set folder; every problem is a one-line SetFormatError naming the
    file (see the module docstring for what is checked).

    `check_images=False` skips the image files (existence, sizes) for callers that read
    only rows; the card's claims about the rows are checked anyway. `verify=True` decodes
    every image and checks every sha256 (`progress` shows a bar while it does)."""
    root = Path(path)
    if not root.is_dir():
        raise SetFormatError(f"{root}: no such set folder")
    meta = root / METADATA_FILE
    if not meta.is_file():
        raise SetFormatError(f"{root}: not a stimulus set ({METADATA_FILE} is missing)")
    card = read_card(root)
    _check_card(root, card)
    data = meta.read_bytes()
    integrity = card.get("integrity")
    if isinstance(integrity, Mapping):
        _check_metadata_bytes(root, data, integrity)
    rows: list[StimulusRow] = []
    seen: set[str] = set()
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise SetFormatError(f"{meta}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{meta}:{i}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise SetFormatError(f"{where}: not valid JSON ({e.msg})") from None
        if not isinstance(record, dict):
            raise SetFormatError(f"{where}: expected a JSON object")
        row = StimulusRow.from_record(record, where)
        if row.stimulus_id in seen:
            raise SetFormatError(f"{where}: duplicate stimulus_id {row.stimulus_id!r}")
        seen.add(row.stimulus_id)
        if card.get("kind") == RENDERED and not isinstance(row.extra.get("scene"), Mapping):
            raise SetFormatError(f"{where}: the card says the set is rendered, but the row records no scene")
        rows.append(row)
    if not rows:
        raise SetFormatError(f"{meta}: the set has no stimuli")
    _check_claims(root, card, rows)
    if check_images or verify:
        _check_images(root, rows, integrity if isinstance(integrity, Mapping) else None)
    if verify:
        verify_images(root, rows, integrity if isinstance(integrity, Mapping) else None, progress=progress)
    return StimulusSet(root=root, card=card, rows=rows)


# -- the card's claims ---------------------------------------------------------------------


def _check_card(root: Path, card: Mapping[str, Any]) -> None:
    """A set whose making stopped, or a card of an unknown kind, is refused."""
    where = root / CARD_FILE
    status = card.get("status", COMPLETE)
    if status != COMPLETE:
        raise SetFormatError(
            f"{root}: the set is not complete: an unfinished set whose making was interrupted (the card's status "
            f"is {status!r}); run the command that made it again to finish it (it resumes), or choose a complete set"
        )
    kind = card.get("kind")
    if kind is not None and kind not in SET_KINDS:
        raise SetFormatError(f"{where}: kind {kind!r} is not a kind of set; expected one of {list(SET_KINDS)}")


def _count_cells(counts: Any) -> dict[tuple[str, str], int] | None:
    """{(size, answer): n} from a card's `counts` ({"2": {"Yes": 3, "No": 3}, ...}), or None
    when the entry is not in that shape (hand-made cards: nothing is claimed)."""
    if not isinstance(counts, Mapping) or not counts:
        return None
    cells = {}
    for size, by_answer in counts.items():
        if not isinstance(by_answer, Mapping) or not set(by_answer) <= {"Yes", "No"}:
            return None
        for answer, n in by_answer.items():
            if isinstance(n, bool) or not isinstance(n, int):
                return None
            cells[(str(size), str(answer))] = n
    return cells


def _check_claims(root: Path, card: Mapping[str, Any], rows: list[StimulusRow]) -> None:
    """The rows hold what the card says: its `total` and its counts per size x answer."""
    total = card.get("total")
    if isinstance(total, int) and not isinstance(total, bool) and total != len(rows):
        raise SetFormatError(
            f"{root}: the card says {total} stimuli, {METADATA_FILE} holds {len(rows)}; the set is incomplete "
            "or was edited (make it again, or draw it again from its parent)"
        )
    claimed = _count_cells(card.get("counts"))
    if claimed is None:
        return
    found = Counter((str(r.n_blocks), r.answer) for r in rows)
    for cell in sorted(set(claimed) | {c for c in found if c[0] in {s for s, _ in claimed}}):
        if claimed.get(cell, 0) != found.get(cell, 0):
            size, answer = cell
            raise SetFormatError(
                f"{root}: the card counts {claimed.get(cell, 0)} {answer} stimuli of size {size}, "
                f"{METADATA_FILE} holds {found.get(cell, 0)}; the set is incomplete or was edited"
            )


# -- integrity: sizes (fast) and hashes (verify) ----------------------------------------------


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_metadata_bytes(root: Path, data: bytes, integrity: Mapping[str, Any]) -> None:
    recorded = integrity.get("metadata") or {}
    if recorded.get("bytes") not in (None, len(data)) or recorded.get("sha256") not in (
        None,
        hashlib.sha256(data).hexdigest(),
    ):
        raise SetFormatError(
            f"{root / METADATA_FILE}: changed since the set was made (its size or sha256 differs from the "
            "card's integrity record)"
        )


def _check_images(root: Path, rows: list[StimulusRow], integrity: Mapping[str, Any] | None) -> None:
    """Every image exists; for a sealed set, their count and total size are the card's."""
    meta = root / METADATA_FILE
    total = 0
    for i, row in enumerate(rows, start=1):
        try:
            total += (root / row.file_name).stat().st_size
        except OSError:
            raise SetFormatError(f"{meta}:{i}: image {row.file_name!r} does not exist in {root}") from None
    if integrity is None:
        return
    images = integrity.get("images") or {}
    if images.get("count") not in (None, len(rows)):
        raise SetFormatError(f"{root}: the card's integrity record lists {images.get('count')} images, not {len(rows)}")
    if images.get("bytes") not in (None, total):
        bad = _mismatching_files(root, rows, limit=3)
        named = ", ".join(bad) if bad else "an image"
        raise SetFormatError(
            f"{root}: {named} changed since the set was made (the images hold {total} bytes, the card "
            f"{images.get('bytes')}: truncated or replaced?)"
        )


def read_manifest(root: Path) -> dict[str, str]:
    """{relative path: sha256} from `SHA256SUMS` ({} when there is none)."""
    path = root / MANIFEST_FILE
    if not path.is_file():
        return {}
    out = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            raise SetFormatError(f"{path}:{n}: not a '<sha256>  <file>' line")
        out[name] = digest
    return out


def _mismatching_files(root: Path, rows: list[StimulusRow], limit: int) -> list[str]:
    """Up to `limit` image files whose sha256 is not the manifest's (the slow search that
    names the damaged file once the fast check failed)."""
    manifest = read_manifest(root)
    bad = []
    for row in rows:
        if manifest.get(row.file_name) != sha256_file(root / row.file_name):
            bad.append(row.file_name)
            if len(bad) >= limit:
                break
    return bad


def verify_images(
    root: Path, rows: list[StimulusRow], integrity: Mapping[str, Any] | None, *, progress: bool = False
) -> None:
    """Every image decodes, and (sealed sets) its sha256 is the one `SHA256SUMS` records,
    whose own sha256 is the card's. A SetFormatError names the first bad file."""
    from PIL import Image
    from tqdm.auto import tqdm

    manifest: dict[str, str] = {}
    if integrity is not None:
        path = root / MANIFEST_FILE
        if not path.is_file():
            raise SetFormatError(f"{root}: {MANIFEST_FILE} is missing (the card's integrity record names it)")
        if sha256_file(path) != integrity.get("manifest_sha256"):
            raise SetFormatError(f"{path}: changed since the set was made (its sha256 is not the card's)")
        manifest = read_manifest(root)
    for row in tqdm(rows, desc=f"verify {root.name}", unit="image", disable=not progress):
        image = root / row.file_name
        if manifest and manifest.get(row.file_name) != sha256_file(image):
            raise SetFormatError(f"{image}: its sha256 is not the one {MANIFEST_FILE} records (damaged or replaced)")
        try:
            with Image.open(image) as im:
                im.verify()
            with Image.open(image) as im:
                im.load()
        except Exception as e:  # PIL raises many types for a broken file; all mean the same here  # noqa: BLE001
            raise SetFormatError(f"{image}: not a readable image ({type(e).__name__}: {e})") from None


def seal_set(
    root: str | Path, card: Mapping[str, Any], rows: Iterable[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """Write `SHA256SUMS` (metadata.jsonl and every row's image) and the card with its
    `integrity` record, the card last: what `load_set` checks a set against from then on.

    Every writer of a set calls this when the set is complete (generation, subsets,
    splits, imports). `rows` defaults to the rows of `metadata.jsonl`."""
    root = Path(root)
    meta = (root / METADATA_FILE).read_bytes()
    if rows is None:
        rows = [json.loads(line) for line in meta.decode("utf-8").splitlines() if line.strip()]
    files = sorted({str(r["file_name"]) for r in rows})
    digests = {name: sha256_file(root / name) for name in files}
    digests[METADATA_FILE] = hashlib.sha256(meta).hexdigest()
    manifest = "".join(f"{digests[name]}  {name}\n" for name in sorted(digests))
    atomic_write_text(root / MANIFEST_FILE, manifest)
    sealed = dict(card)
    sealed["integrity"] = {
        "algorithm": "sha256",
        "manifest": MANIFEST_FILE,
        "manifest_sha256": hashlib.sha256(manifest.encode("utf-8")).hexdigest(),
        "metadata": {"bytes": len(meta), "sha256": digests[METADATA_FILE]},
        "images": {"count": len(files), "bytes": sum((root / name).stat().st_size for name in files)},
    }
    atomic_write_json(root / CARD_FILE, sealed)
    return sealed
