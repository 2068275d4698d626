"""From the study database to the tables the rest of cubeworld (and Prolific) reads.

- responses: the human-responses long table of `cubeworld.formats.responses`
  (`stimulus_id, participant, response` + rt_ms, trial_index, started_at, answered_at, ...),
  image trials only; fine-tuning on human labels and the kappa analysis read it as is.
- bonus: Prolific's bulk-bonus form, `participant_id,amount` per line with no header,
  `bonus_per_correct` times the number of correct answers, completed participants only.
- participants: one row per participant (status, trials, attention checks, the statistics
  the exclusion rules look at, bonus).
- exclusions: the rules applied (declared in study.yaml), how many participants each rule
  excluded, and whether the rules are the ones recorded before the first participant.

Excluded participants stay in every table, flagged (`excluded` 0/1, `exclusion_rules` =
";"-joined rule names); the bonus does not depend on exclusions.

Timestamps: `started_at` is when the image appeared (the participant's clock),
`answered_at` when the server stored the answer (the server's clock); both UTC ISO 8601.

One bad row never stops an export: a value that cannot be converted (a timestamp far out of
range stored before the server bounded it, an item no longer in items.jsonl) is left empty
or the row left out, and reported in `Tables.problems` (the command line prints them).
"""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd

from cubeworld.formats.responses import RESPONSE_COLUMNS, validate_responses
from cubeworld.human.assign import ATTENTION
from cubeworld.human.database import iso
from cubeworld.human.errors import HumanStudyError
from cubeworld.human.exclusions import ExclusionResult, apply_exclusions, normalise_id, read_previous_participants
from cubeworld.human.limits import PROLIFIC_ID_RE, RT_MAX_MS, in_range, is_id
from cubeworld.human.store import Store
from cubeworld.human.study import HumanStudy, load_human_study
from cubeworld.typed import to_plain

EXCLUSIONS_FILE = "exclusions.json"
_UMASK = os.umask(0)
os.umask(_UMASK)
MAX_PROBLEMS_SHOWN = 20


class ExportWarning(UserWarning):
    """A row or value the export had to leave out or empty, or a note on the exclusions."""


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
    "excluded",
    "exclusion_rules",
)
# n_trials / n_answered / n_correct count image trials; attention_* count attention checks
# (assigned, answered, answered right, answered wrong): never one mixed with the other.
PARTICIPANT_COLUMNS = (
    "participant",
    "status",
    "prolific_study_id",
    "prolific_session_id",
    "n_trials",
    "n_answered",
    "n_correct",
    "attention_checks",
    "attention_answered",
    "attention_passed",
    "attention_failed",
    "longest_same_answer_run",
    "median_rt_ms",
    "bonus",
    "excluded",
    "exclusion_rules",
    "created_at",
    "consented_at",
    "completed_at",
)


@dataclass
class Tables:
    responses: pd.DataFrame
    participants: pd.DataFrame
    bonus: list[tuple[str, str]]  # (participant_id, amount as text with 2 decimals)
    exclusions: ExclusionResult
    declared: dict | None = None  # the rules recorded when the first participant started
    problems: list[str] = field(default_factory=list)  # rows/values left out or emptied

    @property
    def declared_before_data(self) -> bool | None:
        """True when the rules applied are those recorded before the first participant."""
        if self.declared is None:
            return None
        return self.declared.get("rules") == to_plain(self.exclusions.rules)


def _time(value, what: str, where: str, problems: list[str]) -> str:
    try:
        return iso(value)
    except (ValueError, OverflowError, OSError, TypeError):
        problems.append(f"{where}: {what} {value!r} is not a valid time; left empty")
        return ""


def _rt(value, where: str, problems: list[str]):
    if value is None:
        return None
    if not in_range(value, 0, RT_MAX_MS):
        problems.append(f"{where}: rt_ms {value!r} is out of range; left empty")
        return None
    return value


def build_tables(study: HumanStudy, store: Store, completed_only: bool = False) -> Tables:
    """All export tables from the database (the exclusions look at every participant,
    also when only completed participants' responses are exported)."""
    cfg = study.config
    items = study.by_id()
    problems: list[str] = []
    per: dict[str, dict] = {}
    image_rows = []
    for r in store.response_rows():
        pid = r["prolific_pid"]
        where = f"participant {pid!r}, trial {r['trial_index']}"
        p = per.setdefault(pid, {"n_answered": 0, "n_correct": 0, "attention_answered": 0, "attention_passed": 0})
        correct = r["response"] == r["correct_response"]
        if r["kind"] == ATTENTION:
            p["attention_answered"] += 1
            p["attention_passed"] += int(correct)
            continue
        item = items.get(r["stimulus_id"])
        if item is None:
            problems.append(f"{where}: stimulus {r['stimulus_id']!r} is not in items.jsonl; response left out")
            continue
        p["n_answered"] += 1
        p["n_correct"] += int(correct)
        image_rows.append(
            {
                "stimulus_id": r["stimulus_id"],
                "participant": pid,
                "response": r["response"],
                "rt_ms": _rt(r["rt_ms"], where, problems),
                "trial_index": r["trial_index"],
                "started_at": _time(r["shown_at"], "shown_at", where, problems),
                "answered_at": _time(r["answered_at"], "answered_at", where, problems),
                "answer": item.answer,
                "correct": int(correct),
                "n_blocks": item.n_blocks,
                "domain": cfg.domain,
                "set": cfg.set_name,
                "study": cfg.name,
                "prolific_study_id": r["study_id"],
                "prolific_session_id": r["session_id"],
                "participant_status": r["status"],
            }
        )
    people = store.participant_rows()
    empty = {"n_answered": 0, "n_correct": 0, "attention_answered": 0, "attention_passed": 0}
    base = pd.DataFrame(
        {
            "participant": [p["prolific_pid"] for p in people],
            "prolific_session_id": [p["session_id"] for p in people],
            "attention_failed": [
                per.get(p["prolific_pid"], empty)["attention_answered"]
                - per.get(p["prolific_pid"], empty)["attention_passed"]
                for p in people
            ],
        }
    )
    rules = cfg.exclusions
    previous = read_previous_participants(rules.duplicates_of, study.root) if rules.duplicates_of else None
    all_responses = pd.DataFrame(image_rows, columns=list(EXPORT_COLUMNS[:-2]))
    exclusions = apply_exclusions(rules, base, all_responses, previous=previous, source=f"{study.db_path} (responses)")

    rate = Decimal(str(cfg.bonus_per_correct))  # finite and bounded: checked with study.yaml
    participants = []
    bonus = []
    paid: dict[str, str] = {}  # Prolific ID ignoring case -> the ID paid
    for p in people:
        pid = p["prolific_pid"]
        stats = per.get(pid, empty)
        st = exclusions.stats[pid]
        amount = (rate * stats["n_correct"]).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        if p["status"] == "completed" and amount > 0:
            if not is_id(pid, PROLIFIC_ID_RE):
                problems.append(
                    f"participant {pid!r}: not a valid Prolific ID; left out of "
                    "bonus.csv (pay by hand if the person is real)"
                )
            elif normalise_id(pid) in paid:
                # Only in a database written before IDs were compared ignoring case.
                problems.append(
                    f"participant {pid!r}: the same Prolific ID as {paid[normalise_id(pid)]!r} (ignoring case), "
                    "who is paid; left out of bonus.csv so that nobody is paid twice"
                )
            else:
                paid[normalise_id(pid)] = pid
                bonus.append((pid, f"{amount:.2f}"))
        participants.append(
            {
                "participant": pid,
                "status": p["status"],
                "prolific_study_id": p["study_id"],
                "prolific_session_id": p["session_id"],
                "n_trials": p["n_trials"],
                "n_answered": stats["n_answered"],
                "n_correct": stats["n_correct"],
                "attention_checks": p["n_attention"],
                "attention_answered": stats["attention_answered"],
                "attention_passed": stats["attention_passed"],
                "attention_failed": st.attention_failed,
                "longest_same_answer_run": st.longest_same_answer_run,
                "median_rt_ms": None if math.isnan(st.median_rt_ms) else st.median_rt_ms,
                "bonus": f"{amount:.2f}" if p["status"] == "completed" else "0.00",
                "excluded": int(bool(exclusions.flags[pid])),
                "exclusion_rules": exclusions.label(pid),
                "created_at": _time(p["created_at"], "created_at", f"participant {pid!r}", problems),
                "consented_at": _time(p["consented_at"], "consented_at", f"participant {pid!r}", problems),
                "completed_at": _time(p["completed_at"], "completed_at", f"participant {pid!r}", problems),
            }
        )
    responses = all_responses
    if completed_only:
        responses = responses[responses["participant_status"] == "completed"]
    responses = responses.assign(
        excluded=[int(bool(exclusions.flags.get(pid))) for pid in responses["participant"]],
        exclusion_rules=[exclusions.label(pid) for pid in responses["participant"]],
    )
    return Tables(
        responses=responses.reset_index(drop=True)[list(EXPORT_COLUMNS)],
        participants=pd.DataFrame(participants, columns=list(PARTICIPANT_COLUMNS)),
        bonus=bonus,
        exclusions=exclusions,
        declared=store.declared_exclusions(),
        problems=problems,
    )


def exclusion_notes(tables: Tables) -> list[str]:
    """Notes a researcher must see: rules changed after the data began, rules not applied."""
    notes = list(tables.exclusions.notes)
    if tables.declared_before_data is False:
        notes.append(
            "the exclusion rules in study.yaml differ from those recorded when the first "
            f"participant started ({json.dumps((tables.declared or {}).get('rules'), sort_keys=True)}); "
            "the export applies the current ones, so they were not declared before the data"
        )
    return notes


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


def exclusions_json(tables: Tables) -> str:
    """The rules, the count per rule and who was excluded by which rules."""
    ex = tables.exclusions
    doc = {
        "rules": to_plain(ex.rules),
        "active": list(ex.rules.active),
        "declared_before_data": tables.declared_before_data,
        "declared": tables.declared,
        "n_participants": len(ex.flags),
        "n_excluded": ex.n_excluded,
        "counts": ex.counts,
        "summary": ex.summary(),
        "notes": exclusion_notes(tables),
        "excluded": {p: f for p, f in ex.flags.items() if f},
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def export_study(
    study_dir: str | Path,
    out: str | Path,
    *,
    bonus: str | Path | None = None,
    participants: str | Path | None = None,
    exclusions: str | Path | None = None,
    completed_only: bool = False,
) -> dict[str, Path]:
    """Write the responses table to `out`, and the bonus, participants and exclusions
    tables beside it. Rows the export had to leave out or empty, and notes on the exclusion
    rules, are issued as `ExportWarning`s (one per line; the command line prints them).

    All or nothing: every file is written beside its target first and the four are swapped
    in only when all are written, so a full disk leaves the previous export as it was (the
    error names the file that could not be written). Safe while the server runs (it reads a
    snapshot of the database; SQLite WAL readers never block the writer).
    """
    study = load_human_study(study_dir)
    store = Store.snapshot(study)
    try:
        store.check_integrity()
        tables = build_tables(study, store, completed_only=completed_only)
    finally:
        store.close()
    out = Path(out)
    bonus = Path(bonus) if bonus else out.with_name("bonus.csv")
    participants = Path(participants) if participants else out.with_name("participants.csv")
    exclusions = Path(exclusions) if exclusions else out.with_name(EXCLUSIONS_FILE)
    texts = {
        "responses": (out, responses_csv(tables)),
        "bonus": (bonus, bonus_csv(tables)),
        "participants": (participants, participants_csv(tables)),
        "exclusions": (exclusions, exclusions_json(tables)),
    }
    write_all({path: text for path, text in texts.values()})
    for line in problem_lines(tables) + exclusion_notes(tables):
        warnings.warn(line, ExportWarning, stacklevel=2)
    return {kind: path for kind, (path, _) in texts.items()}


def write_all(files: dict[Path, str]) -> None:
    """Write every file or none: each goes to a temporary file beside its target (flushed to
    disk), and only when all are written are they renamed into place. A failure (a full
    disk, a missing permission) removes the temporary files and names the path."""
    temps: list[tuple[Path, Path]] = []
    try:
        for path, text in files.items():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
                tmp = Path(tmp_name)
                temps.append((path, tmp))
                with os.fdopen(fd, "wb") as f:
                    f.write(text.encode("utf-8"))
                    f.flush()
                    os.fsync(f.fileno())
                os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual file mode
            except OSError as e:
                reason = "the disk is full" if e.errno in (errno.ENOSPC, errno.EDQUOT) else (e.strerror or str(e))
                raise HumanStudyError(f"{path}: cannot write ({reason}); no export file was changed") from None
        for path, done in temps:
            os.replace(done, path)
    finally:
        for _, left in temps:
            left.unlink(missing_ok=True)


def problem_lines(tables: Tables) -> list[str]:
    """The export's problems, at most MAX_PROBLEMS_SHOWN of them plus a count of the rest."""
    lines = tables.problems[:MAX_PROBLEMS_SHOWN]
    if len(tables.problems) > MAX_PROBLEMS_SHOWN:
        lines.append(f"... and {len(tables.problems) - MAX_PROBLEMS_SHOWN} more problem(s)")
    return lines
