"""Pilot data for the human-study planner: who answered what, right or wrong, and models.

A pilot is a matrix of correctness (items x participants, NaN where a participant did not
see an item), each item's size (n_blocks), and the correctness of zero or more model
observers on the same items (seeds x items). Two sources:

- Lerer100 (the default): 100 photos, 107 participants who answered every photo, and the
  five zero-shot models the study published. Read from `default_pilot_source()`.
- Any responses table (a `cubeworld human export`, or any table in the responses format),
  with the truth and sizes from its own `answer` and `n_blocks` columns or from `--set`,
  and models from prediction tables (`--predictions`). Participants flagged `excluded`
  are left out unless asked for (contract D), as the analysis does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cubeworld.formats.answers import YES
from cubeworld.formats.responses import drop_excluded, validate_responses
from cubeworld.human.errors import HumanStudyError


class PlanError(HumanStudyError):
    """The planner cannot run on this input; the message names the file or option."""


@dataclass
class Pilot:
    """Correctness of participants and models on the pilot's items."""

    name: str
    item_ids: list[str]
    sizes: np.ndarray  # (n_items,) n_blocks of each item
    correct: np.ndarray  # (n_items, n_participants), 1/0, NaN where not shown
    participants: list[str]
    observers: dict[str, np.ndarray] = field(default_factory=dict)  # (n_seeds, n_items)
    notes: list[str] = field(default_factory=list)
    falls: np.ndarray | None = None  # (n_items,) the truth (1 = falls): an observer's answers from its correctness

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_participants(self) -> int:
        return len(self.participants)

    @property
    def coverage(self) -> float:
        """Share of (item, participant) cells answered: 1 for a same-design pilot."""
        return float(np.isfinite(self.correct).mean())

    def select_observers(self, names: Sequence[str]) -> Pilot:
        if not names:
            return self
        unknown = [n for n in names if n not in self.observers]
        if unknown:
            raise PlanError(f"--model {unknown[0]!r} is not in the pilot's models {sorted(self.observers) or '(none)'}")
        self.observers = {n: self.observers[n] for n in names}
        return self


def default_pilot_source() -> Path:
    """Where the default pilot (Lerer100) lives: $CUBEWORLD_LERER100, else the copy shipped
    with cubeworld (the external data set registry decides, as everywhere else)."""
    from cubeworld.datasets import get_dataset

    return get_dataset("lerer100").source()


def _matrix(long: pd.DataFrame, items: list[str]) -> tuple[np.ndarray, list[str]]:
    """(items x participants) correctness from long rows (stimulus_id, participant, correct)."""
    wide = long.pivot_table(index="stimulus_id", columns="participant", values="correct", aggfunc="first")
    wide = wide.reindex(index=items)
    return wide.to_numpy(dtype=float), [str(c) for c in wide.columns]


def lerer100_pilot(root: str | Path | None = None) -> Pilot:
    """Lerer100's 107 participants and its five published zero-shot models."""
    from cubeworld.datasets.lerer100 import read_lerer100, stimulus_id

    data = read_lerer100(root if root is not None else default_pilot_source())
    stim = data.stimuli.sort_values("image_id")
    items = [stimulus_id(i) for i in stim["image_id"]]
    falls = dict(zip(items, stim["falls"].astype(int)))
    h = data.humans.dropna(subset=["response_falls"])
    long = pd.DataFrame({"stimulus_id": h["image_id"].map(stimulus_id), "participant": h["participant"].astype(str)})
    long["correct"] = (h["response_falls"].astype(int).to_numpy() == long["stimulus_id"].map(falls).to_numpy()).astype(
        float
    )
    correct, participants = _matrix(long, items)
    observers = {}
    if data.models is not None:
        m = data.models
        for name, g in m.groupby("model", sort=False):
            answers = dict(zip(g["image_id"].map(stimulus_id), g["response_falls"]))
            row = np.array(
                [np.nan if pd.isna(answers.get(s, np.nan)) else float(int(answers[s]) == falls[s]) for s in items]
            )
            observers[str(name)] = row[None, :]
    return Pilot(
        name="lerer100",
        item_ids=items,
        sizes=stim["n_blocks"].to_numpy(dtype=int),
        correct=correct,
        participants=participants,
        observers=observers,
        falls=np.array([falls[i] for i in items], dtype=float),
    )


def responses_pilot(
    path: str | Path,
    *,
    set_dir: str | Path | None = None,
    predictions: Sequence[str | Path] = (),
    include_excluded: bool = False,
) -> Pilot:
    """A responses table as a pilot (truth and sizes from its columns or from `set_dir`)."""
    path = Path(path)
    if not path.is_file():
        raise PlanError(f"--pilot {path}: no such file")
    try:
        df = pd.read_csv(path, dtype={"stimulus_id": str, "participant": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise PlanError(
            f"--pilot {path}: not a readable CSV table ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
        ) from None
    notes = []
    df = validate_responses(df, str(path))
    df, left_out = drop_excluded(df, include=include_excluded, source=str(path))
    if left_out["participants"] and not include_excluded:
        rules = ", ".join(f"{r} {n}" for r, n in left_out["by_rule"].items())
        notes.append(
            f"{left_out['participants']} participant(s) flagged excluded in the pilot "
            f"are left out ({rules}; --include-excluded keeps them)"
        )
    if df.empty:
        raise PlanError(f"--pilot {path}: every participant is flagged excluded")
    if set_dir is not None:
        from cubeworld.formats.sets import load_set

        s = load_set(set_dir, check_images=False)
        truth = pd.DataFrame(
            {
                "stimulus_id": [r.stimulus_id for r in s.rows],
                "n_blocks": [int(r.n_blocks) for r in s.rows],
                "falls": [int(bool(r.falls)) for r in s.rows],
            }
        )
    elif {"answer", "n_blocks"} <= set(df.columns):
        truth = df.groupby("stimulus_id", sort=False)[["answer", "n_blocks"]].first().reset_index()
        truth["falls"] = (truth["answer"].astype(str) == YES).astype(int)
    else:
        raise PlanError(
            f"--pilot {path}: the table has no 'answer' and 'n_blocks' columns "
            "(a `cubeworld human export` has them); pass --set with the stimulus "
            "set for the truth and sizes"
        )
    truth = truth.drop_duplicates("stimulus_id")
    unknown = ~df["stimulus_id"].isin(truth["stimulus_id"])
    if unknown.all():
        raise PlanError(f"--pilot {path}: none of its stimulus ids is in --set (e.g. {df['stimulus_id'].iloc[0]!r})")
    if unknown.any():
        notes.append(f"{int(unknown.sum())} response(s) to items outside --set are ignored")
        df = df[~unknown]
    truth = truth[truth["stimulus_id"].isin(df["stimulus_id"])].reset_index(drop=True)
    items = truth["stimulus_id"].tolist()
    falls = dict(zip(items, truth["falls"]))
    long = df[["stimulus_id", "participant"]].copy()
    long["correct"] = df["response"].to_numpy() == df["stimulus_id"].map(falls).to_numpy()
    long["correct"] = long["correct"].astype(float)
    correct, participants = _matrix(long, items)
    pilot = Pilot(
        name=str(path),
        item_ids=items,
        sizes=truth["n_blocks"].to_numpy(dtype=int),
        correct=correct,
        participants=participants,
        notes=notes,
        falls=truth["falls"].to_numpy(dtype=float),
    )
    if predictions:
        pilot.observers = _observers(predictions, items)
    return pilot


def _observers(paths: Sequence[str | Path], items: list[str]) -> dict[str, np.ndarray]:
    """Each observer's correctness (seeds x items) at the last epoch of its runs."""
    from cubeworld.analysis.loading import load_predictions
    from cubeworld.analysis.tables import select_epoch

    pred = select_epoch(load_predictions([Path(p) for p in paths]))
    pred = pred[pred["stimulus_id"].isin(items)]
    if pred.empty:
        raise PlanError(f"--predictions {', '.join(map(str, paths))}: no prediction for any item of the pilot")
    out = {}
    for name, g in pred.groupby("observer", sort=False):
        wide = g.assign(correct=g["correct"].astype(float)).pivot_table(
            index="seed", columns="stimulus_id", values="correct", aggfunc="first"
        )
        wide = wide.reindex(columns=items)
        out[str(name)] = wide.to_numpy(dtype=float)
    return out
