"""Participants, their trial sequences and their responses in SQLite (WAL mode).

Every response is committed (synchronous=FULL) before the server acknowledges it, inside
a `BEGIN IMMEDIATE` transaction that checks the participant's rights first, so a killed
server keeps every acknowledged response and a replayed request can never store twice:
`(participant, request_id)` and `(participant, trial_index)` are unique in the schema, and
in the spread design `stimulus_id` is unique across all responses.

Two ways to open a study (`cubeworld.human.schema` holds the layout and its versions):
- `Store(study)`, the server's: creates the database when there is none, and refuses one
  collected under another design or written by an earlier cubeworld (naming the migration);
- `Store.snapshot(study)`, for progress, export and backup: a consistent copy of the
  database in memory, read without creating or changing anything in the study folder (a
  read-only folder works; an earlier version's database is read as it is).

A damaged database file (a disk error, a copy taken mid-write) is reported as one
HumanStudyError that names the file and says how to recover (`database_damaged`).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cubeworld.formats.responses import is_response
from cubeworld.human import schema
from cubeworld.human.assign import Trial, build_sequence, order_seed, take_block
from cubeworld.human.database import copy_database, damage_check, database_damaged, write_backup
from cubeworld.human.errors import ApiError, HumanStudyError
from cubeworld.human.limits import (
    OPTIONAL_ID_RE,
    PROLIFIC_ID_RE,
    REQUEST_ID_RE,
    RT_MAX_MS,
    SHOWN_AT_MAX_MS,
    SHOWN_AT_MIN_MS,
    TRIAL_INDEX_MAX,
    in_range,
    is_id,
)
from cubeworld.human.study import HumanStudy
from cubeworld.typed import to_plain

EXCLUSIONS_KEY = "exclusions_declared"


@dataclass
class Session:
    """What a participant's page needs: their token and the trials still to answer."""

    token: str
    participant: str
    status: str
    consented: bool
    total: int
    answered: int
    remaining: list[Trial]
    deadline: float | None
    completion_url: str | None  # only once the participant has completed


# A participant's status at `:now`: an active one past their deadline counts as expired
# (stored so by the next write that passes by, see `_expire`), so views need not write.
STATUS_NOW = (
    "CASE WHEN p.status = 'active' AND p.deadline IS NOT NULL AND p.deadline < :now THEN 'expired' ELSE p.status END"
)


class Store:
    """All reads and writes of one study's database; safe to share between threads.

    `Store(study)` opens the database for the server (creating it when there is none);
    `Store.snapshot(study)` reads a copy in memory and writes nothing anywhere.
    """

    def __init__(
        self,
        study: HumanStudy,
        clock: Callable[[], float] = time.time,
        *,
        _snapshot: sqlite3.Connection | None = None,
        _raw: sqlite3.Connection | None = None,
    ):
        self.study = study
        self.config = study.config
        self.items = study.by_id()
        self.clock = clock
        self.path = study.db_path
        self._snapshot = _snapshot
        self._raw = _raw  # the database as stored, when the snapshot had to be migrated
        self._local = threading.local()
        self._write_lock = threading.Lock()
        if _snapshot is not None:
            with self._read() as con:
                self._check_design(con, may_update=False)
            return
        with self._write() as con:
            version = schema.version_of(con)
            if version is None:
                schema.create(con, self.config.design)
            elif version == 0:
                raise HumanStudyError(schema.migration_hint(self.path, study.root))
            elif version > schema.SCHEMA_VERSION:
                raise HumanStudyError(_newer(self.path, version))
            # Before any index of the design: the spread index cannot even be built over
            # data collected under `same` (two people answered one item).
            self._check_design(con, may_update=True)
            if self.config.design == "spread":
                con.execute(schema.SPREAD_INDEX)

    @classmethod
    def snapshot(cls, study: HumanStudy, clock: Callable[[], float] = time.time) -> Store:
        """A read-only view of the study's database as it is now, held in memory.

        Creates nothing (no database where there is none, no -wal or -shm beside one) and
        changes nothing: a study folder on read-only media can be read, and a database of
        an earlier cubeworld is read through a migrated copy, its file left as it is.
        """
        design = study.config.design
        raw = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        path = study.db_path
        if path.exists():
            copy_database(path, raw)
        with damage_check(path):
            version = schema.version_of(raw)
        if version is not None and version > schema.SCHEMA_VERSION:
            raise HumanStudyError(_newer(path, version))
        view, kept = raw, None
        if version != schema.SCHEMA_VERSION:
            if version == 0:  # migrate a second copy; backups copy the database as stored
                view, kept = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False), raw
                raw.backup(view)
            with damage_check(path):
                view.execute("BEGIN")
                if version is None:
                    schema.create(view, design)
                else:
                    schema.upgrade(view, design)
                view.execute("COMMIT")
        view.row_factory = sqlite3.Row
        return cls(study, clock, _snapshot=view, _raw=kept)

    @property
    def read_only(self) -> bool:
        return self._snapshot is not None

    def _check_design(self, con: sqlite3.Connection, *, may_update: bool) -> None:
        """A study's design cannot change once someone has started: refuse, in one line."""
        row = con.execute("SELECT value FROM meta WHERE key='design'").fetchone()
        (people,) = con.execute("SELECT COUNT(*) FROM participants").fetchone()
        stored = row[0] if row is not None else None
        if stored is None:
            if may_update:
                con.execute("INSERT INTO meta(key, value) VALUES ('design', ?)", (self.config.design,))
            return
        if stored == self.config.design:
            return
        if not people:  # nobody started yet: the design may still change
            if may_update:
                con.execute("UPDATE meta SET value=? WHERE key='design'", (self.config.design,))
                con.execute("DROP INDEX IF EXISTS responses_one_per_item")
            return
        raise HumanStudyError(
            f"{self.path}: data were collected with design {stored!r}, but study.yaml now says "
            f"{self.config.design!r}; a study's design cannot change once participants have started "
            f"(put `design: {stored}` back, or create a new study)"
        )

    # -- connections -------------------------------------------------------------------
    def _damage_check(self) -> contextlib.AbstractContextManager[None]:
        return damage_check(self.path)

    def _connect(self) -> sqlite3.Connection:
        if self._snapshot is not None:
            return self._snapshot
        con = getattr(self._local, "con", None)
        if con is None:
            with self._damage_check():
                con = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
                con.row_factory = sqlite3.Row
                con.execute("PRAGMA journal_mode=WAL")
                con.execute("PRAGMA synchronous=FULL")
                con.execute("PRAGMA foreign_keys=ON")
                con.execute("PRAGMA busy_timeout=30000")
            self._local.con = con
        return con

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One serialised write transaction; an exception rolls everything back."""
        if self.read_only:
            raise HumanStudyError(f"{self.path}: opened read-only (a snapshot); nothing can be written")
        con = self._connect()
        # Threads of this process queue on a lock rather than in SQLite's busy handler,
        # which sleeps in growing steps and made tail latencies of seconds under load.
        with self._write_lock, self._damage_check():
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        con = self._connect()
        with self._damage_check():
            con.execute("BEGIN")
            try:
                yield con
            finally:
                if con.in_transaction:
                    con.execute("COMMIT")

    def check_integrity(self) -> None:
        """Read every page (SQLite's quick_check); a damaged file is a HumanStudyError.

        Run before serving and exporting, so a damaged database is reported at once and
        by name, not as a failure of whichever request first touches the broken page.
        """
        with self._damage_check():
            rows = [r[0] for r in (self._raw or self._connect()).execute("PRAGMA quick_check")]
        if rows != ["ok"]:
            raise database_damaged(
                self.path,
                sqlite3.DatabaseError(
                    f"integrity check: {rows[0]}" + (f" (+{len(rows) - 1} more)" if len(rows) > 1 else "")
                ),
            )

    def backup(self, dest: str | Path) -> Path:
        """A consistent copy of the database at `dest`, safe while the server writes.

        SQLite's online backup copies every committed page (those still in the WAL too);
        the copy is written beside `dest` and moved into place, so `dest` is never half a
        database. A snapshot of an earlier version's database is backed up as stored.
        """
        with self._damage_check():
            return write_backup(self._raw or self._connect(), dest)

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None
        for con in (self._snapshot, self._raw):
            if con is not None:
                con.close()
        self._snapshot = self._raw = None

    # -- participants --------------------------------------------------------------------
    def start_session(
        self,
        prolific_pid: str,
        study_id: str = "",
        session_id: str = "",
        token: str | None = None,
        user_agent: str = "",
    ) -> Session:
        """Start a participant, or resume them where they stopped.

        A Prolific ID is resumed only from the same Prolific session (SESSION_ID) or the
        same browser (token); after completion it is refused, so nobody takes part twice.
        IDs are compared ignoring case (Prolific's IDs are case-insensitive in practice):
        `double1` after `DOUBLE1` is the same person, never a second one to pay.
        """
        if not is_id(prolific_pid, PROLIFIC_ID_RE):
            raise ApiError(
                400,
                "bad_prolific_pid",
                "PROLIFIC_PID is missing or malformed (1-64 letters, digits, - or _); "
                "please open the study from its Prolific link",
            )
        for name, value in (("STUDY_ID", study_id), ("SESSION_ID", session_id)):
            if not is_id(value or "", OPTIONAL_ID_RE):
                raise ApiError(400, "bad_parameter", f"{name} is malformed (up to 64 letters, digits, - or _)")
        expected_study = self.config.prolific_study_id
        if expected_study and study_id != expected_study:
            raise ApiError(
                403,
                "wrong_study",
                "This link does not belong to this Prolific study (STUDY_ID "
                f"{study_id or 'missing'}); please open the study from its Prolific link",
            )
        now = self.clock()
        with self._write() as con:
            self._expire(con, now)
            row = con.execute(
                "SELECT * FROM participants WHERE prolific_pid = ? COLLATE NOCASE ORDER BY id LIMIT 1",
                (prolific_pid,),
            ).fetchone()
            if row is not None:
                same_person = _same_token(token, row["token"]) or (session_id != "" and session_id == row["session_id"])
                if row["status"] == "completed":
                    if same_person:  # a reload of the end page: show it again
                        return self._session(con, row)
                    raise ApiError(
                        409,
                        "already_completed",
                        "This Prolific ID has already completed this study; it can be taken only once.",
                    )
                if row["status"] == "expired":
                    raise ApiError(410, "timed_out", self._timeout_message())
                if row["status"] == "declined":
                    raise ApiError(
                        409, "declined", "This Prolific ID did not consent to this study; please return it on Prolific."
                    )
                if not same_person:
                    raise ApiError(
                        409,
                        "already_started",
                        "This Prolific ID has already started this study in another "
                        "session; it can be taken only once.",
                    )
                return self._session(con, row)
            trials = self._new_sequence(con, prolific_pid, now)
            new_token = secrets.token_urlsafe(24)
            deadline = None
            if self.config.design == "spread":
                deadline = now + 60.0 * float(self.config.block_timeout_minutes)
            cur = con.execute(
                "INSERT INTO participants(prolific_pid, study_id, session_id, token, status, "
                "order_seed, created_at, deadline, user_agent) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    prolific_pid,
                    study_id or "",
                    session_id or "",
                    new_token,
                    "active",
                    order_seed(self.config.seed, prolific_pid),
                    now,
                    deadline,
                    user_agent[:300],
                ),
            )
            pid = cur.lastrowid
            # The exclusion rules in force when the first participant started: the export
            # says whether the rules it applies are these (declared before the data).
            con.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)",
                (EXCLUSIONS_KEY, json.dumps({"rules": to_plain(self.config.exclusions), "at": now}, sort_keys=True)),
            )
            con.executemany(
                "INSERT INTO trials(participant_id, trial_index, kind, stimulus_id, correct_response) "
                "VALUES (?,?,?,?,?)",
                [(pid, t.trial_index, t.kind, t.stimulus_id, t.correct_response) for t in trials],
            )
            row = con.execute("SELECT * FROM participants WHERE id=?", (pid,)).fetchone()
            return self._session(con, row)

    def _new_sequence(self, con: sqlite3.Connection, prolific_pid: str, now: float) -> list[Trial]:
        cfg = self.config
        if cfg.design == "same":
            chosen = [it.stimulus_id for it in self.study.items]
        else:
            pool = self._pool(con, now)
            if not pool:
                raise ApiError(
                    409,
                    "study_full",
                    "All items of this study are answered or handed out right now; "
                    "please return the study on Prolific.",
                )
            chosen = take_block(pool, int(cfg.items_per_participant or 0))
        return build_sequence(
            [(sid, self.items[sid].correct_response) for sid in chosen],
            order_seed(cfg.seed, prolific_pid),
            cfg.attention_checks,
            cfg.attention_check_every,
        )

    def _pool(self, con: sqlite3.Connection, now: float) -> list[str]:
        """Spread design: items neither answered nor held by a participant active at `now`."""
        taken = {
            r[0]
            for r in con.execute(
                "SELECT stimulus_id FROM responses WHERE kind='stimulus' UNION "
                "SELECT t.stimulus_id FROM trials t JOIN participants p ON p.id = t.participant_id "
                f"WHERE ({STATUS_NOW}) = 'active' AND t.kind = 'stimulus'",
                {"now": now},
            )
        }
        return [it.stimulus_id for it in self.study.items if it.stimulus_id not in taken]

    def _expire(self, con: sqlite3.Connection, now: float) -> None:
        """Blocks past their deadline go back to the pool (their answers stay stored)."""
        con.execute(
            "UPDATE participants SET status='expired' WHERE status='active' AND deadline IS NOT NULL AND deadline < ?",
            (now,),
        )

    def _timeout_message(self) -> str:
        return (
            f"The time limit of {self.config.block_timeout_minutes:g} minutes for this study "
            "ran out, and your remaining images went to other participants. Your answers so "
            "far are saved; please return the study on Prolific."
        )

    def _session(self, con: sqlite3.Connection, row: sqlite3.Row) -> Session:
        trials = con.execute(
            "SELECT t.trial_index, t.kind, t.stimulus_id, t.correct_response, r.id AS rid FROM trials t "
            "LEFT JOIN responses r ON r.participant_id = t.participant_id "
            "AND r.trial_index = t.trial_index WHERE t.participant_id=? ORDER BY t.trial_index",
            (row["id"],),
        ).fetchall()
        remaining = [
            Trial(t["trial_index"], t["kind"], t["stimulus_id"], t["correct_response"])
            for t in trials
            if t["rid"] is None
        ]
        return Session(
            token=row["token"],
            participant=row["prolific_pid"],
            status=row["status"],
            consented=row["consented_at"] is not None,
            total=len(trials),
            answered=len(trials) - len(remaining),
            remaining=remaining,
            deadline=row["deadline"],
            completion_url=self.config.completion_link if row["status"] == "completed" else None,
        )

    def _participant(self, con: sqlite3.Connection, token: str | None) -> sqlite3.Row:
        if not token or not isinstance(token, str):
            raise ApiError(401, "no_participant", "missing participant token (X-Participant-Token header)")
        row = con.execute("SELECT * FROM participants WHERE token=?", (token,)).fetchone()
        if row is None:
            raise ApiError(404, "unknown_participant", "unknown participant: start the study from its link first")
        return row

    def _check_active(self, con: sqlite3.Connection, row: sqlite3.Row, now: float) -> None:
        status = row["status"]
        if status == "active" and row["deadline"] is not None and row["deadline"] < now:
            con.execute("UPDATE participants SET status='expired' WHERE id=?", (row["id"],))
            status = "expired"
        if status == "completed":
            raise ApiError(409, "already_completed", "you have already completed this study")
        if status == "expired":
            raise ApiError(410, "timed_out", self._timeout_message())
        if status == "declined":
            raise ApiError(403, "declined", "you did not consent to this study")

    def consent(self, token: str | None, agree: bool) -> None:
        now = self.clock()
        with self._write() as con:
            row = self._participant(con, token)
            if row["consented_at"] is not None and agree:
                return
            self._check_active(con, row, now)
            if agree:
                con.execute("UPDATE participants SET consented_at=? WHERE id=?", (now, row["id"]))
            else:
                con.execute("UPDATE participants SET status='declined' WHERE id=?", (row["id"],))

    # -- responses -----------------------------------------------------------------------
    def record(
        self,
        token: str | None,
        request_id: str,
        stimulus_id: str,
        trial_index: int,
        response: int,
        rt_ms: float | None = None,
        shown_at_ms: float | None = None,
    ) -> dict:
        """Store one answer once; every broken rule is an ApiError and stores nothing.

        `response` is the response code (1 = Yes, 0 = No; `cubeworld.formats.responses`).
        """
        if not is_id(request_id, REQUEST_ID_RE):
            raise ApiError(422, "bad_request_id", "request_id must be 8-64 letters, digits, - or _")
        if not isinstance(stimulus_id, str) or len(stimulus_id) > 300:
            raise ApiError(422, "bad_stimulus_id", "stimulus_id must be a string of at most 300 characters")
        if not is_response(response):
            raise ApiError(422, "bad_response", f"response must be 1 (Yes) or 0 (No), got {response!r}")
        if not in_range(trial_index, 0, TRIAL_INDEX_MAX) or not isinstance(trial_index, int):
            raise ApiError(422, "bad_trial_index", f"trial_index must be an integer from 0 to {TRIAL_INDEX_MAX}")
        if rt_ms is not None and not in_range(rt_ms, 0, RT_MAX_MS):
            raise ApiError(422, "bad_rt", f"rt_ms must be between 0 and one day, got {rt_ms!r}")
        if shown_at_ms is not None and not in_range(shown_at_ms, SHOWN_AT_MIN_MS, SHOWN_AT_MAX_MS):
            raise ApiError(
                422,
                "bad_shown_at",
                f"shown_at must be a time in ms since 1970 between the years 2000 and 2100, got {shown_at_ms!r}",
            )
        now = self.clock()
        with self._write() as con:
            row = self._participant(con, token)
            dup = con.execute(
                "SELECT trial_index FROM responses WHERE participant_id=? AND request_id=?",
                (row["id"], request_id),
            ).fetchone()
            if dup is not None:
                raise ApiError(
                    409,
                    "duplicate_request",
                    f"request {request_id} was already stored (trial {dup[0]}); nothing new was stored",
                    trial_index=dup[0],
                )
            self._check_active(con, row, now)
            if row["consented_at"] is None:
                raise ApiError(403, "no_consent", "consent must be given before the trials")
            trial = con.execute(
                "SELECT trial_index, kind FROM trials WHERE participant_id=? AND stimulus_id=?",
                (row["id"], stimulus_id),
            ).fetchone()
            if trial is None:
                raise ApiError(403, "not_assigned", f"stimulus {stimulus_id!r} is not assigned to you")
            if trial["trial_index"] != trial_index:
                raise ApiError(
                    422,
                    "wrong_trial",
                    f"stimulus {stimulus_id!r} is your trial {trial['trial_index']}, not {trial_index}",
                )
            if con.execute(
                "SELECT 1 FROM responses WHERE participant_id=? AND trial_index=?",
                (row["id"], trial_index),
            ).fetchone():
                raise ApiError(
                    409,
                    "already_answered",
                    f"trial {trial_index} was already answered; nothing new was stored",
                    trial_index=trial_index,
                )
            con.execute(
                "INSERT INTO responses(participant_id, trial_index, kind, stimulus_id, response, rt_ms, "
                "shown_at, answered_at, request_id) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    row["id"],
                    trial_index,
                    trial["kind"],
                    stimulus_id,
                    response,
                    rt_ms,
                    None if shown_at_ms is None else shown_at_ms / 1000.0,
                    now,
                    request_id,
                ),
            )
            (answered,) = con.execute("SELECT COUNT(*) FROM responses WHERE participant_id=?", (row["id"],)).fetchone()
            (total,) = con.execute("SELECT COUNT(*) FROM trials WHERE participant_id=?", (row["id"],)).fetchone()
        return {"stored": True, "trial_index": trial_index, "answered": answered, "total": total}

    def complete(self, token: str | None) -> str:
        """Mark a participant done once every trial is answered; returns the completion URL."""
        now = self.clock()
        with self._write() as con:
            row = self._participant(con, token)
            if row["status"] == "completed":
                return self.config.completion_link
            self._check_active(con, row, now)
            (missing,) = con.execute(
                "SELECT COUNT(*) FROM trials t WHERE t.participant_id=? AND NOT EXISTS "
                "(SELECT 1 FROM responses r WHERE r.participant_id=t.participant_id "
                "AND r.trial_index=t.trial_index)",
                (row["id"],),
            ).fetchone()
            if missing:
                raise ApiError(409, "incomplete", f"{missing} trial(s) are not answered yet", missing=missing)
            con.execute("UPDATE participants SET status='completed', completed_at=? WHERE id=?", (now, row["id"]))
        return self.config.completion_link

    # -- researcher's views (read only: they never write) --------------------------------
    def progress(self) -> dict:
        now = {"now": self.clock()}
        with self._read() as con:
            by_status = {
                r[0]: r[1]
                for r in con.execute(f"SELECT {STATUS_NOW} AS s, COUNT(*) FROM participants p GROUP BY s", now)
            }
            (n_resp,) = con.execute("SELECT COUNT(*) FROM responses WHERE kind='stimulus'").fetchone()
            (n_items_answered,) = con.execute(
                "SELECT COUNT(DISTINCT stimulus_id) FROM responses WHERE kind='stimulus'"
            ).fetchone()
            participants = [
                dict(r)
                for r in con.execute(
                    f"SELECT p.prolific_pid AS participant, {STATUS_NOW} AS status, "
                    "(SELECT COUNT(*) FROM trials t WHERE t.participant_id=p.id) AS trials, "
                    "(SELECT COUNT(*) FROM responses r WHERE r.participant_id=p.id) AS answered "
                    "FROM participants p ORDER BY p.id",
                    now,
                )
            ]
            out = {
                "study": self.config.name,
                "design": self.config.design,
                "items": len(self.study.items),
                "participants": {s: by_status.get(s, 0) for s in ("active", "completed", "expired", "declined")},
                "responses": n_resp,
                "items_answered": n_items_answered,
                "per_participant": participants,
            }
            if self.config.design == "spread":
                out["items_free"] = len(self._pool(con, now["now"]))
        return out

    def response_rows(self) -> list[dict]:
        """Every stored response (image and attention trials), joined with its participant."""
        with self._read() as con:
            return [
                dict(r)
                for r in con.execute(
                    f"SELECT r.kind, r.stimulus_id, p.prolific_pid, p.study_id, p.session_id, {STATUS_NOW} AS status, "
                    "r.response, r.rt_ms, r.trial_index, r.shown_at, r.answered_at, t.correct_response "
                    "FROM responses r JOIN participants p ON p.id = r.participant_id "
                    "JOIN trials t ON t.participant_id = r.participant_id AND t.trial_index = r.trial_index "
                    "ORDER BY p.id, r.trial_index",
                    {"now": self.clock()},
                )
            ]

    def participant_rows(self) -> list[dict]:
        with self._read() as con:
            return [
                dict(r)
                for r in con.execute(
                    f"SELECT p.id, p.prolific_pid, p.study_id, p.session_id, {STATUS_NOW} AS status, p.created_at, "
                    "p.consented_at, p.completed_at, "
                    "(SELECT COUNT(*) FROM trials t WHERE t.participant_id=p.id "
                    " AND t.kind='stimulus') AS n_trials, "
                    "(SELECT COUNT(*) FROM trials t WHERE t.participant_id=p.id "
                    " AND t.kind='attention') AS n_attention "
                    "FROM participants p ORDER BY p.id",
                    {"now": self.clock()},
                )
            ]

    def declared_exclusions(self) -> dict | None:
        """The exclusion rules recorded when the first participant started (None: no one has,
        or the data predate the record)."""
        with self._read() as con:
            row = con.execute("SELECT value FROM meta WHERE key=?", (EXCLUSIONS_KEY,)).fetchone()
        if row is None:
            return None
        try:
            return json.loads(row[0])
        except (json.JSONDecodeError, TypeError):
            return None


def _newer(path: Path, version: int) -> str:
    return (
        f"{path}: written by a newer cubeworld (database version {version}; this one reads up to "
        f"{schema.SCHEMA_VERSION}); upgrade cubeworld to read it"
    )


def _same_token(given: str | None, stored: str) -> bool:
    """Constant-time token comparison that accepts any text a browser may send."""
    if not isinstance(given, str) or not given:
        return False
    return secrets.compare_digest(given.encode("utf-8", "surrogatepass"), stored.encode())
