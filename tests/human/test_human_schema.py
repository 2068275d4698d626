"""Studies in the field: a database written by the first cubeworld (version 0: `item_id`,
`position`, the correct answer as a word) is read as it is and migrated only on request.

The version-0 database is made the way that cubeworld wrote it (its layout, copied below,
WAL mode) from the rows of a current one, so every read can be compared with the current
database's: the same export, byte for byte.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from human_helpers import make_set
from typer.testing import CliRunner

from cubeworld.human.cli import human_app
from cubeworld.human.errors import HumanStudyError
from cubeworld.human.export import export_study
from cubeworld.human.schema import SCHEMA_VERSION
from cubeworld.human.server import create_app
from cubeworld.human.store import Store
from cubeworld.human.study import create_human_study, load_human_study

runner = CliRunner()

# The layout of the first human-study databases (cubeworld before the database had a version).
VERSION_0 = """
CREATE TABLE participants (
    id INTEGER PRIMARY KEY, prolific_pid TEXT NOT NULL UNIQUE, study_id TEXT NOT NULL DEFAULT '',
    session_id TEXT NOT NULL DEFAULT '', token TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('active', 'completed', 'expired', 'declined')),
    order_seed INTEGER NOT NULL, created_at REAL NOT NULL, deadline REAL, consented_at REAL,
    completed_at REAL, user_agent TEXT NOT NULL DEFAULT ''
);
CREATE TABLE trials (
    participant_id INTEGER NOT NULL REFERENCES participants(id), position INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('stimulus', 'attention')), item_id TEXT NOT NULL,
    expected TEXT NOT NULL, PRIMARY KEY (participant_id, position), UNIQUE (participant_id, item_id)
);
CREATE INDEX trials_item ON trials(item_id);
CREATE TABLE responses (
    id INTEGER PRIMARY KEY, participant_id INTEGER NOT NULL REFERENCES participants(id),
    position INTEGER NOT NULL, kind TEXT NOT NULL, item_id TEXT NOT NULL,
    response INTEGER NOT NULL CHECK (response IN (0, 1)), rt_ms REAL, shown_at REAL,
    answered_at REAL NOT NULL, request_id TEXT NOT NULL,
    UNIQUE (participant_id, position), UNIQUE (participant_id, request_id)
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def _answer(store: Store, pid: str, session: str | None = None, complete: bool = True) -> None:
    s = store.start_session(pid, session_id=session or f"s-{pid}")
    store.consent(s.token, True)
    for n, t in enumerate(s.remaining):
        response = t.correct_response if n % 3 else 1 - t.correct_response
        store.record(s.token, f"req-{pid}-{n:04d}", t.stimulus_id, t.trial_index, response, 650.0 + n, 1.7e12 + n)
    if complete:
        store.complete(s.token)


def _as_version_0(study: Path) -> None:
    """Rewrite the study's database in the version-0 layout, row for row."""
    db = study / "study.sqlite"
    new = sqlite3.connect(db)
    old_path = study / "v0.sqlite"
    old = sqlite3.connect(old_path)
    old.executescript(VERSION_0)
    old.execute("PRAGMA journal_mode=WAL")
    old.executemany(
        "INSERT INTO participants VALUES (" + ",".join("?" * 12) + ")", new.execute("SELECT * FROM participants")
    )
    old.executemany(
        "INSERT INTO trials VALUES (?,?,?,?,?)",
        new.execute(
            "SELECT participant_id, trial_index, kind, stimulus_id, "
            "CASE correct_response WHEN 1 THEN 'Yes' ELSE 'No' END FROM trials"
        ),
    )
    old.executemany(
        "INSERT INTO responses VALUES (?,?,?,?,?,?,?,?,?,?)",
        new.execute(
            "SELECT id, participant_id, trial_index, kind, stimulus_id, response, rt_ms, shown_at, "
            "answered_at, request_id FROM responses"
        ),
    )
    old.executemany("INSERT INTO meta VALUES (?, ?)", new.execute("SELECT key, value FROM meta"))
    old.commit()
    old.close()
    new.close()
    old_path.replace(db)


def _files(study: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in study.iterdir() if p.name.startswith("study.sqlite")}


def _dump(db: Path) -> list[str]:
    con = sqlite3.connect(db)
    try:
        return list(con.iterdump())
    finally:
        con.close()


def _export(study: Path, out: Path) -> dict[str, bytes]:
    paths = export_study(study, out / "responses.csv")
    return {kind: Path(p).read_bytes() for kind, p in paths.items()}


@pytest.fixture
def field_study(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """A spread study with data, its export, and the same data in a version-0 database."""
    study = create_human_study(make_set(tmp_path / "set", 8), tmp_path / "study", "spread", items=3, seed=1)
    store = Store(load_human_study(study), clock=lambda: 1.8e9)
    _answer(store, "p1")
    _answer(store, "p2", complete=False)
    store.close()
    reference = _export(study, tmp_path / "reference")
    _as_version_0(study)
    return study, reference


def test_an_earlier_database_is_read_as_it_is(field_study, tmp_path):
    study, reference = field_study
    before = _files(study)
    assert set(before) == {"study.sqlite"}
    assert _export(study, tmp_path / "v0") == reference  # the same tables, byte for byte
    r = runner.invoke(human_app, ["progress", str(study)])
    assert r.exit_code == 0 and '"responses": 6' in r.output, r.output
    r = runner.invoke(human_app, ["backup", str(study), "--out", str(tmp_path / "b.sqlite")])
    assert r.exit_code == 0, r.output
    con = sqlite3.connect(tmp_path / "b.sqlite")  # a backup is the database as stored
    assert "item_id" in {row[1] for row in con.execute("PRAGMA table_info(trials)")}
    con.close()
    assert _files(study) == before  # reading changed and created nothing


def test_the_server_refuses_an_earlier_database_naming_the_migration(field_study):
    study, _ = field_study
    with pytest.raises(HumanStudyError, match=rf"human migrate {study}.*keeps a backup"):
        create_app(study, require_frontend=False)


def test_migrate_keeps_a_backup_and_every_answer(field_study, tmp_path):
    study, reference = field_study
    original = _dump(study / "study.sqlite")
    r = runner.invoke(human_app, ["migrate", str(study)])
    assert r.exit_code == 0, r.output
    assert "migrated from version 0 to 1 (2 participant(s) and 6 response(s), all kept)" in r.output
    assert _dump(study / "study.sqlite.v0-backup") == original  # every table and row as it was
    con = sqlite3.connect(study / "study.sqlite")
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    con.close()
    assert _export(study, tmp_path / "migrated") == reference
    # The study goes on: p3 gets the items nobody answered or holds.
    store = Store(load_human_study(study), clock=lambda: 1.8e9)
    _answer(store, "p3")
    with pytest.raises(sqlite3.IntegrityError):  # the spread design's index is back
        with store._write() as con:
            con.execute("UPDATE responses SET stimulus_id = (SELECT MIN(stimulus_id) FROM responses)")
    store.close()
    r = runner.invoke(human_app, ["migrate", str(study)])
    assert r.exit_code == 0 and "nothing to do" in r.output


def test_migrate_keeps_ids_that_differ_only_in_case(field_study):
    """A version-0 study may hold `DOUBLE1` and `double1` (the old server let both in): the
    migration keeps both, says so, and the export pays each person once."""
    study, _ = field_study
    con = sqlite3.connect(study / "study.sqlite")
    con.execute("UPDATE participants SET prolific_pid = 'P1' WHERE prolific_pid = 'p2'")
    con.commit()
    con.close()
    r = runner.invoke(human_app, ["migrate", str(study)])
    assert r.exit_code == 0 and "differ only in case" in r.output, r.output
    store = Store(load_human_study(study))
    with pytest.raises(Exception, match="already"):  # still nobody new under that ID
        store.start_session("P1", session_id="another")
    store.close()
