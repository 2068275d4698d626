"""The study database's layout, its versions, and how a database of an earlier version is
read (in memory, untouched) or migrated (in place, after a backup).

Why versions: studies run for days, and cubeworld may be upgraded while one runs. A
database written by an earlier cubeworld must still be read (progress, export, backup
work on it as it is) and is never rewritten behind the researcher's back: the server
refuses it with one line naming `cubeworld human migrate STUDY`, which keeps a backup and
rewrites it in one transaction.

Version 1 (`SCHEMA_VERSION`, in SQLite's `user_version`) uses the names of the responses
table and the web API everywhere (`stimulus_id`, `trial_index`, `response` 1/0,
`correct_response` 1/0). Version 0, the unnumbered layout of the first studies, named the
same things `item_id` and `position` and stored the correct answer as the word "Yes"/"No".
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cubeworld.human.errors import HumanStudyError

SCHEMA_VERSION = 1

TABLES = """
CREATE TABLE IF NOT EXISTS participants (
    id INTEGER PRIMARY KEY,
    prolific_pid TEXT NOT NULL UNIQUE,
    study_id TEXT NOT NULL DEFAULT '',
    session_id TEXT NOT NULL DEFAULT '',
    token TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('active', 'completed', 'expired', 'declined')),
    order_seed INTEGER NOT NULL,
    created_at REAL NOT NULL,
    deadline REAL,
    consented_at REAL,
    completed_at REAL,
    user_agent TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS trials (
    participant_id INTEGER NOT NULL REFERENCES participants(id),
    trial_index INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('stimulus', 'attention')),
    stimulus_id TEXT NOT NULL,
    correct_response INTEGER NOT NULL CHECK (correct_response IN (0, 1)),
    PRIMARY KEY (participant_id, trial_index),
    UNIQUE (participant_id, stimulus_id)
);
CREATE INDEX IF NOT EXISTS trials_stimulus ON trials(stimulus_id);
CREATE TABLE IF NOT EXISTS responses (
    id INTEGER PRIMARY KEY,
    participant_id INTEGER NOT NULL REFERENCES participants(id),
    trial_index INTEGER NOT NULL,
    kind TEXT NOT NULL,
    stimulus_id TEXT NOT NULL,
    response INTEGER NOT NULL CHECK (response IN (0, 1)),
    rt_ms REAL,
    shown_at REAL,
    answered_at REAL NOT NULL,
    request_id TEXT NOT NULL,
    UNIQUE (participant_id, trial_index),
    UNIQUE (participant_id, request_id)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# Prolific IDs are case-insensitive in practice: `DOUBLE1` and `double1` are one person.
# (IDs are ASCII letters, digits, - and _, for which NOCASE is exact.) A database of
# version 0 may already hold two such IDs; it then goes without this index, and the store's
# NOCASE lookup still keeps out any new one.
PID_INDEX = "CREATE UNIQUE INDEX IF NOT EXISTS participants_pid_nocase ON participants(prolific_pid COLLATE NOCASE)"
# Spread design: an item is answered by exactly one participant, enforced by the database.
SPREAD_INDEX = (
    "CREATE UNIQUE INDEX IF NOT EXISTS responses_one_per_item ON responses(stimulus_id) WHERE kind = 'stimulus'"
)

# Version 0 -> 1: the two tables with renamed columns are rebuilt (SQLite's way to change a
# column's type); participants and meta are kept as they are.
MIGRATE_0_TO_1 = """
ALTER TABLE trials RENAME TO trials_v0;
ALTER TABLE responses RENAME TO responses_v0;
DROP INDEX IF EXISTS trials_item;
DROP INDEX IF EXISTS responses_one_per_item;
{tables}
INSERT INTO trials (participant_id, trial_index, kind, stimulus_id, correct_response)
    SELECT participant_id, position, kind, item_id,
           CASE expected WHEN 'Yes' THEN 1 WHEN 'No' THEN 0 END
    FROM trials_v0;
INSERT INTO responses (id, participant_id, trial_index, kind, stimulus_id, response, rt_ms, shown_at,
                       answered_at, request_id)
    SELECT id, participant_id, position, kind, item_id, response, rt_ms, shown_at, answered_at, request_id
    FROM responses_v0;
DROP TABLE trials_v0;
DROP TABLE responses_v0;
""".replace("{tables}", TABLES)


def version_of(con: sqlite3.Connection) -> int | None:
    """The layout version of the database behind `con`: None for an empty database."""
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not tables:
        return None
    version = con.execute("PRAGMA user_version").fetchone()[0]
    if version == 0:
        columns = {r[1] for r in con.execute("PRAGMA table_info(trials)")}
        if "item_id" not in columns:
            raise HumanStudyError(f"{_name(con)}: not a cubeworld study database (no known layout)")
    return int(version)


def create(con: sqlite3.Connection, design: str) -> None:
    """The tables of the current version in an empty database (inside the caller's transaction)."""
    for statement in _statements(TABLES):
        con.execute(statement)
    con.execute(PID_INDEX)
    if design == "spread":
        con.execute(SPREAD_INDEX)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def upgrade(con: sqlite3.Connection, design: str) -> list[str]:
    """Rewrite a version-0 database as the current version (inside the caller's transaction);
    returns notes for the researcher. Counts are compared before and after."""
    before = {
        t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("participants", "trials", "responses")
    }
    bad = con.execute("SELECT COUNT(*) FROM trials WHERE expected NOT IN ('Yes', 'No')").fetchone()[0]
    if bad:
        raise HumanStudyError(f"{_name(con)}: {bad} trial(s) with an expected answer other than Yes/No; not migrated")
    for statement in _statements(MIGRATE_0_TO_1):
        con.execute(statement)
    if design == "spread":
        con.execute(SPREAD_INDEX)
    notes = []
    try:
        con.execute("SAVEPOINT pid_index")
        con.execute(PID_INDEX)
        con.execute("RELEASE pid_index")
    except sqlite3.IntegrityError:
        con.execute("ROLLBACK TO pid_index")
        con.execute("RELEASE pid_index")
        notes.append(
            "some Prolific IDs differ only in case (e.g. DOUBLE1 and double1); they stay as they are, the "
            "export flags the later ones as duplicates and pays each person once, and no new one is let in"
        )
    after = {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in before}
    if after != before:
        raise HumanStudyError(f"{_name(con)}: migration changed the row counts ({before} -> {after}); not migrated")
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return notes


def migration_hint(path: Path, root: Path) -> str:
    return (
        f"{path}: written by an earlier cubeworld (database version 0; this one writes version "
        f"{SCHEMA_VERSION}); stop the study's server and run `cubeworld human migrate {root}` (it keeps a "
        "backup), then serve again; progress, export and backup read it as it is"
    )


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _name(con: sqlite3.Connection) -> str:
    row = con.execute("PRAGMA database_list").fetchone()
    return row[2] if row and row[2] else "the study database"
