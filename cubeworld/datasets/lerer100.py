"""Lerer100: 100 photos of real wooden block towers with 107 people's judgments.

The naturalistic evaluation set of the study (Lerer, Gross & Fergus 2016 photos; human
judgments from Schulze Buschoff et al. 2025, Nature Machine Intelligence). A copy ships in
the package (`lerer100_data/`, MIT licence text and attribution beside it; registry entry
`cubeworld.datasets.catalog`). The source folder (see its README) holds `images/<image_id>.png`, `stimuli.csv` (image_id, file, n_blocks,
falls), `human_responses.csv` (image_id, participant, response_falls) and
`model_answers.csv` (image_id, model, response_falls: five zero-shot models).

`import_lerer100` turns it into a set of kind `photo` (ids `lerer-<image_id>`; no
recorded scenes, no generator: photographs) whose items ask the study's tower question --
rows of domain `tower` with the tower family's exact prompt, the one source of that text --
plus `human_responses.csv` in the toolkit's responses format;
`import_lerer100_models` turns the five models' answers into a prediction table.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cubeworld.datasets.base import DatasetError
from cubeworld.formats.answers import answer_for
from cubeworld.formats.atomic import atomic_write_bytes, atomic_write_json, write_jsonl
from cubeworld.formats.predictions import PREDICTION_COLUMNS, validate_predictions
from cubeworld.formats.responses import validate_responses
from cubeworld.formats.sets import (
    CARD_FILE,
    COMPLETE,
    IMAGES_DIR,
    IN_PROGRESS,
    METADATA_FILE,
    PHOTO,
    StimulusRow,
    seal_set,
)
from cubeworld.stimuli.catalog import TOWER, get_family

LERER100_NAME = "lerer100"
ID_PREFIX = "lerer-"
ZERO_SHOT = "zero-shot"

LICENCE = (
    "Images from Lerer, Gross & Fergus (2016); images, ground truth and human responses as "
    "published with the code of Schulze Buschoff et al. (2025), repository "
    "lsbuschoff/multimodal, MIT licence."
)
CITATION = (
    "Lerer, A., Gross, S. & Fergus, R. (2016). Learning physical intuition of block towers "
    "by example. ICML. | Schulze Buschoff, L. M., Akata, E., Bethge, M. & Schulz, E. (2025). "
    "Visual cognition in multimodal large language models. Nature Machine Intelligence."
)

_STIMULI_COLUMNS = ("image_id", "file", "n_blocks", "falls")
_HUMAN_COLUMNS = ("image_id", "participant", "response_falls")
_MODEL_COLUMNS = ("image_id", "model", "response_falls")


class Lerer100Error(DatasetError):
    """The source folder is not a readable Lerer100 folder; the message names the file."""


@dataclass(frozen=True)
class Lerer100:
    """The source tables, checked: stimuli, human responses and model answers (if present)."""

    root: Path
    stimuli: pd.DataFrame
    humans: pd.DataFrame
    models: pd.DataFrame | None


def stimulus_id(image_id: int | str) -> str:
    return f"{ID_PREFIX}{int(image_id)}"


def _read_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise Lerer100Error(f"{path}: no such file")
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise Lerer100Error(f"{path}: the table is empty") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise Lerer100Error(f"{path}: missing column(s) {missing}; expected {list(columns)}")
    if df.empty:
        raise Lerer100Error(f"{path}: the table is empty")
    return df


def read_lerer100(src: str | Path) -> Lerer100:
    """Read and check the source folder (stimuli, images, humans; model answers if present)."""
    root = Path(src)
    if not root.is_dir():
        raise Lerer100Error(f"{root}: no such folder (expected the Lerer100 data folder)")
    stimuli = _read_csv(root / "stimuli.csv", _STIMULI_COLUMNS)
    if stimuli["image_id"].duplicated().any():
        dup = stimuli.loc[stimuli["image_id"].duplicated(), "image_id"].iloc[0]
        raise Lerer100Error(f"{root / 'stimuli.csv'}: duplicate image_id {dup}")
    bad = ~stimuli["falls"].isin([0, 1])
    if bad.any():
        raise Lerer100Error(f"{root / 'stimuli.csv'}: falls must be 0 or 1, got {stimuli.loc[bad, 'falls'].iloc[0]}")
    sizes = get_family(TOWER).sizes
    bad = ~stimuli["n_blocks"].isin(sizes)
    if bad.any():
        raise Lerer100Error(
            f"{root / 'stimuli.csv'}: n_blocks {stimuli.loc[bad, 'n_blocks'].iloc[0]} is not a tower size {sizes}"
        )
    for f in stimuli["file"]:
        if not (root / f).is_file():
            raise Lerer100Error(f"{root / 'stimuli.csv'}: image {f!r} does not exist in {root}")
    humans = _read_csv(root / "human_responses.csv", _HUMAN_COLUMNS)
    unknown = ~humans["image_id"].isin(stimuli["image_id"])
    if unknown.any():
        raise Lerer100Error(
            f"{root / 'human_responses.csv'}: image_id {humans.loc[unknown, 'image_id'].iloc[0]} is not in stimuli.csv"
        )
    models = None
    if (root / "model_answers.csv").is_file():
        models = _read_csv(root / "model_answers.csv", _MODEL_COLUMNS)
    return Lerer100(root=root, stimuli=stimuli, humans=humans, models=models)


def _rows(data: Lerer100) -> list[StimulusRow]:
    prompt = get_family(TOWER).prompt  # the study asked people and models the tower question
    rows = []
    for rec in data.stimuli.sort_values("image_id").itertuples(index=False):
        falls = bool(int(rec.falls))
        rows.append(
            StimulusRow(
                stimulus_id=stimulus_id(rec.image_id),
                file_name=f"{IMAGES_DIR}/{int(rec.image_id)}{Path(rec.file).suffix}",
                domain=TOWER,
                n_blocks=int(rec.n_blocks),
                falls=falls,
                answer=answer_for(falls),
                prompt=prompt,
                extra={"image_id": int(rec.image_id), "source_file": str(rec.file)},
            )
        )
    return rows


def import_lerer100(src: str | Path, out: str | Path) -> Path:
    """Write Lerer100 as a stimulus set at `out` plus `out/human_responses.csv`; return `out`.

    Re-running over an existing import rewrites it (images are copied again only when their
    size differs), so an interrupted import is finished by running it again.
    """
    data = read_lerer100(src)
    out = Path(out)
    (out / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    # Until the sealed card replaces this one, `load_set` refuses the folder as unfinished.
    atomic_write_json(out / CARD_FILE, {"name": LERER100_NAME, "kind": PHOTO, "status": IN_PROGRESS})
    rows = _rows(data)
    for row in rows:
        source = data.root / row.extra["source_file"]
        target = out / row.file_name
        if not target.is_file() or target.stat().st_size != source.stat().st_size:
            atomic_write_bytes(target, source.read_bytes())
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        cell = counts.setdefault(str(row.n_blocks), {"Yes": 0, "No": 0})
        cell[row.answer] += 1
    humans = data.humans.rename(columns={"response_falls": "response"})
    humans = pd.DataFrame(
        {
            "stimulus_id": humans["image_id"].map(stimulus_id),
            "participant": humans["participant"].astype(str),
            "response": humans["response"],
        }
    )
    humans = validate_responses(humans, str(data.root / "human_responses.csv"))
    card = {
        "name": LERER100_NAME,
        "kind": PHOTO,
        "domain": TOWER,
        "prompt": rows[0].prompt,
        "generator": "cubeworld.datasets.lerer100",
        "generator_version": 1,
        "seed": None,
        "arguments": {"src": str(data.root.resolve())},
        "source": str(data.root.resolve()),
        "counts": counts,
        "total": len(rows),
        "n_participants": int(humans["participant"].nunique()),
        "licence": LICENCE,
        "citation": CITATION,
        "description": "Real photos of wooden block towers (2-4 blocks), stable or falling.",
        "status": COMPLETE,
    }
    write_jsonl(out / METADATA_FILE, (row.to_record() for row in rows))
    buf = io.StringIO()
    humans.to_csv(buf, index=False)
    atomic_write_bytes(out / "human_responses.csv", buf.getvalue().encode("utf-8"))
    seal_set(out, card, (row.to_record() for row in rows))  # the card last: an import is done once it is there
    return out


def lerer100_model_predictions(src: str | Path) -> pd.DataFrame:
    """The published zero-shot model answers as prediction-table rows.

    p_yes is 1.0 or 0.0 (only the answer was published). Missing answers (FUYU on image
    509) are dropped with a warning, never filled in.
    """
    data = read_lerer100(src)
    path = data.root / "model_answers.csv"
    if data.models is None:
        raise Lerer100Error(f"{path}: no such file")
    models = data.models
    unknown = ~models["image_id"].isin(data.stimuli["image_id"])
    if unknown.any():
        raise Lerer100Error(f"{path}: image_id {models.loc[unknown, 'image_id'].iloc[0]} is not in stimuli.csv")
    missing = models["response_falls"].isna()
    if missing.any():
        shown = ", ".join(f"{r.model} on image {r.image_id}" for r in models[missing].itertuples(index=False))
        warnings.warn(f"{path}: {int(missing.sum())} missing answer(s) dropped ({shown})", stacklevel=2)
        models = models[~missing]
    bad = ~models["response_falls"].isin([0, 1])
    if bad.any():
        raise Lerer100Error(f"{path}: response_falls must be 0 or 1, got {models.loc[bad, 'response_falls'].iloc[0]}")
    truth = data.stimuli.set_index("image_id")
    says_yes = models["response_falls"].astype(int).astype(bool)
    falls = models["image_id"].map(truth["falls"]).astype(int).astype(bool)
    df = pd.DataFrame(
        {
            "stimulus_id": models["image_id"].map(stimulus_id),
            "set": LERER100_NAME,
            "domain": TOWER,
            "n_blocks": models["image_id"].map(truth["n_blocks"]).astype(int),
            "falls": falls,
            "model": models["model"].astype(str),
            "adapter": "",
            "condition": ZERO_SHOT,
            "seed": "",
            "epoch": 0,
            "p_yes": says_yes.astype(float),
            "answer": says_yes.map(answer_for),
            "correct": says_yes == falls,
        }
    )[list(PREDICTION_COLUMNS)]
    return validate_predictions(df.reset_index(drop=True), str(path))


def import_lerer100_models(src: str | Path, out: str | Path) -> Path:
    """Write the five published models' answers as a prediction table (CSV or Parquet)."""
    out = Path(out)
    if out.suffix not in (".csv", ".parquet"):
        raise Lerer100Error(f"{out}: the predictions file must end in .csv or .parquet")
    df = lerer100_model_predictions(src)
    buf = io.BytesIO()
    if out.suffix == ".parquet":
        df.to_parquet(buf, index=False)
    else:
        df.to_csv(buf, index=False)
    atomic_write_bytes(out, buf.getvalue())
    return out
