"""From the study database to the tables the rest of cubeworld (and Prolific) reads.

- responses: the human-responses long table of `cubeworld.formats.responses`
  (`stimulus_id, participant, response` + rt_ms, trial_index, started_at, answered_at, ...),
  image trials only; fine-tuning on human labels and the kappa analysis read it as is.
- bonus: Prolific's bulk-bonus form, `participant_id,amount` per line with no header,
  `bonus_per_correct` times the number of correct answers, completed participants only.
- participants: one row per participant (status, answered trials, attention checks).

Timestamps: `started_at` is when the image appeared (the participant's clock),
`answered_at` when the server stored the answer (the server's clock); both UTC ISO 8601.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd

from cubeworld.formats.atomic import atomic_write_text
from cubeworld.formats.responses import RESPONSE_COLUMNS, validate_responses
from cubeworld.human.store import Store, iso
from cubeworld.human.study import HumanStudy, load_human_study
from cubeworld.formats.answers import YES

EXPORT_COLUMNS = RESPONSE_COLUMNS + (
    "rt_ms",
    "trial_index",
    "started_at",
    "answered_at",
    "answer",
    "correct",
    "n_blocks",
    "domain",
    "set",
    "study",
    "prolific_study_id",
    "prolific_session_id",
    "participant_status",
)
PARTICIPANT_COLUMNS = (
    "participant", "status", "prolific_study_id", "prolific_session_id", "n_trials",
    "n_answered", "n_correct", "attention_checks", "attention_passed", "bonus", "created_at",
    "consented_at", "completed_at",
)


@dataclass
class Tables:
    responses: pd.DataFrame
    participants: pd.DataFrame
    bonus: list[tuple[str, str]]  # (participant_id, amount as text with 2 decimals)


def build_tables(study: HumanStudy, store: Store, completed_only: bool = False) -> Tables:
    cfg = study.config
    items = study.by_id()
    rows = store.response_rows()
    responses = []
    per: dict[str, dict] = {}
    for r in rows:
        p = per.setdefault(r["prolific_pid"], {"n_answered": 0, "n_correct": 0,
                                               "attention_checks": 0, "attention_passed": 0})
        p["n_answered"] += 1
        correct = (r["response"] == 1) == (r["expected"] == YES)
        if r["kind"] == "attention":
            p["attention_checks"] += 1
            p["attention_passed"] += int(correct)
            continue
        p["n_correct"] += int(correct)
        if completed_only and r["status"] != "completed":
            continue
        item = items[r["item_id"]]
        responses.append({
            "stimulus_id": r["item_id"],
            "participant": r["prolific_pid"],
            "response": r["response"],
            "rt_ms": r["rt_ms"],
            "trial_index": r["position"],
            "started_at": iso(r["shown_at"]),
            "answered_at": iso(r["answered_at"]),
            "answer": item.answer,
            "correct": int(correct),
            "n_blocks": item.n_blocks,
            "domain": cfg.domain,
            "set": cfg.set_name,
            "study": cfg.name,
            "prolific_study_id": r["study_id"],
            "prolific_session_id": r["session_id"],
            "participant_status": r["status"],
        })
    rate = Decimal(str(cfg.bonus_per_correct))
    participants = []
    bonus = []
    for p in store.participant_rows():
        stats = per.get(p["prolific_pid"], {"n_answered": 0, "n_correct": 0,
                                            "attention_checks": 0, "attention_passed": 0})
        amount = (rate * stats["n_correct"]).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        if p["status"] == "completed" and amount > 0:
            bonus.append((p["prolific_pid"], f"{amount:.2f}"))
        participants.append({
            "participant": p["prolific_pid"],
            "status": p["status"],
            "prolific_study_id": p["study_id"],
            "prolific_session_id": p["session_id"],
            "n_trials": p["n_trials"],
            **stats,
            "bonus": f"{amount:.2f}" if p["status"] == "completed" else "0.00",
            "created_at": iso(p["created_at"]),
            "consented_at": iso(p["consented_at"]),
            "completed_at": iso(p["completed_at"]),
        })
    return Tables(
        responses=pd.DataFrame(responses, columns=list(EXPORT_COLUMNS)),
        participants=pd.DataFrame(participants, columns=list(PARTICIPANT_COLUMNS)),
        bonus=bonus,
    )


def responses_csv(tables: Tables) -> str:
    if not tables.responses.empty:  # the contract's checks: ids, 0/1, no duplicates
        validate_responses(tables.responses, "export")
    return tables.responses.to_csv(index=False, lineterminator="\n")


def bonus_csv(tables: Tables) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for pid, amount in tables.bonus:
        writer.writerow([pid, amount])
    return buf.getvalue()


def participants_csv(tables: Tables) -> str:
    return tables.participants.to_csv(index=False, lineterminator="\n")


def export_study(
    study_dir: str | Path,
    out: str | Path,
    *,
    bonus: str | Path | None = None,
    participants: str | Path | None = None,
    completed_only: bool = False,
) -> dict[str, Path]:
    """Write the responses table to `out`, and the bonus and participants tables beside it.

    Safe while the server runs (SQLite WAL readers never block the writer).
    """
    study = load_human_study(study_dir)
    store = Store(study)
    try:
        tables = build_tables(study, store, completed_only=completed_only)
    finally:
        store.close()
    out = Path(out)
    bonus = Path(bonus) if bonus else out.with_name("bonus.csv")
    participants = Path(participants) if participants else out.with_name("participants.csv")
    atomic_write_text(out, responses_csv(tables))
    atomic_write_text(bonus, bonus_csv(tables))
    atomic_write_text(participants, participants_csv(tables))
    return {"responses": out, "bonus": bonus, "participants": participants}
