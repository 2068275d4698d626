"""Round two of trying to break the human-study app (issue 23): each defect found, refused now.

In-process where the transport does not matter (FastAPI's TestClient runs the real app),
real files, a real read-only mount where the operating system allows one.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from human_helpers import make_set
from typer.testing import CliRunner

from cubeworld.human import server as server_mod
from cubeworld.human.cli import human_app
from cubeworld.human.config import load_human_config
from cubeworld.human.errors import ApiError, HumanStudyError
from cubeworld.human.export import export_study
from cubeworld.human.server import SECURITY_HEADERS, create_app
from cubeworld.human.store import Store
from cubeworld.human.study import create_human_study, load_human_study

runner = CliRunner()


def _take_part(store: Store, pid: str, session: str | None = None) -> str:
    s = store.start_session(pid, session_id=session or f"s-{pid}")
    store.consent(s.token, True)
    for t in s.remaining:
        store.record(s.token, f"req-{pid}-{t.trial_index:04d}", t.stimulus_id, t.trial_index, t.correct_response)
    store.complete(s.token)
    return s.token


@pytest.fixture
def study_with_data(tmp_path: Path) -> Path:
    study = create_human_study(make_set(tmp_path / "set", 4), tmp_path / "study", "same")
    store = Store(load_human_study(study))
    _take_part(store, "p1")
    store.close()
    return study


def _one_line_error(result, *words: str) -> None:
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    for w in words:
        assert w in lines[0], (w, lines[0])


# -- item 3: money is finite and bounded; no export ever crashes on it -------------------------
def test_a_nan_bonus_in_study_yaml_is_refused_in_one_line(study_with_data, tmp_path):
    path = study_with_data / "study.yaml"
    text = path.read_text()
    path.write_text(text.replace("bonus_per_correct: 0.01", "bonus_per_correct: .nan"))
    line = next(i for i, x in enumerate(path.read_text().splitlines(), 1) if x.startswith("bonus_per_correct"))
    r = runner.invoke(human_app, ["export", str(study_with_data), "--out", str(tmp_path / "x" / "r.csv")])
    _one_line_error(r, f"{path}:{line}: bonus_per_correct: expected a finite number")
    assert not (tmp_path / "x").exists()
    with pytest.raises(HumanStudyError, match="bonus_per_correct"):
        create_app(study_with_data, require_frontend=False)


def test_unexpected_server_errors_are_json_500s_with_the_security_headers(study_with_data, monkeypatch):
    """Starlette's own 500 is bare text without the headers; an admin export that fails
    for an unforeseen reason (the old NaN bonus: decimal.InvalidOperation) is now a JSON
    500 with every security header, and so is a stimulus image deleted while serving."""
    client = TestClient(create_app(study_with_data, require_frontend=False))
    admin = {"Authorization": f"Bearer {load_human_config(study_with_data).admin_token}"}

    def broken(*args, **kwargs):
        import decimal

        raise decimal.InvalidOperation([decimal.InvalidOperation])

    monkeypatch.setattr(server_mod, "build_tables", broken)
    item = load_human_study(study_with_data).items[0]
    (study_with_data / item.image).unlink()
    for r in (client.get("/admin/export/bonus.csv", headers=admin), client.get(f"/images/{item.stimulus_id}")):
        assert r.status_code == 500 and r.json()["code"] == "server_error", r.text
        for name, value in SECURITY_HEADERS.items():
            assert r.headers.get(name) == value, (r.url, name)


# -- item 7: an export is all or nothing ---------------------------------------------------
def test_an_export_that_runs_out_of_disk_changes_no_file(study_with_data, tmp_path, monkeypatch):
    out = tmp_path / "export" / "responses.csv"
    first = export_study(study_with_data, out)
    before = {kind: Path(p).read_bytes() for kind, p in first.items()}
    store = Store(load_human_study(study_with_data))
    _take_part(store, "p2")  # new data: every file of the next export differs
    store.close()
    calls = []
    real_fsync = os.fsync

    def full_disk_on_the_third_file(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full_disk_on_the_third_file)
    with pytest.raises(HumanStudyError, match=r"participants\.csv: cannot write \(the disk is full\)"):
        export_study(study_with_data, out)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert {kind: Path(p).read_bytes() for kind, p in first.items()} == before
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(Path(p).name for p in first.values())
    after = export_study(study_with_data, out)  # with space again: all four are new
    assert all(Path(p).read_bytes() != before[kind] for kind, p in after.items() if kind != "exclusions")


# -- items 8 and 13: reading a study creates and changes nothing ------------------------------
def test_progress_creates_nothing(tmp_path, study_with_data):
    empty = create_human_study(make_set(tmp_path / "set2", 2), tmp_path / "empty", "same")
    r = runner.invoke(human_app, ["progress", str(empty)])
    assert r.exit_code == 0 and json.loads(r.output)["participants"]["active"] == 0, r.output
    assert not (empty / "study.sqlite").exists()
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in study_with_data.iterdir() if p.is_file()}
    for args in (
        ["progress", str(study_with_data)],
        ["export", str(study_with_data), "--out", str(tmp_path / "e.csv")],
    ):
        assert runner.invoke(human_app, args).exit_code == 0
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in study_with_data.iterdir() if p.is_file()}
    assert after == before  # no -wal or -shm left beside the database, nothing touched


def _read_only_mount(study: Path, *command: str) -> subprocess.CompletedProcess:
    """`command` run with `study` mounted read-only (a user and mount namespace of its own)."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1) here: cannot mount a folder read-only")
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no user namespaces here ({probe.stderr.decode().strip()})")
    script = f'mount --bind -o ro "{study}" "{study}" && touch "{study}/probe" 2>/dev/null && exit 99; exec "$@"'
    return subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh", *command],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )


def test_progress_and_export_on_a_read_only_folder(study_with_data, tmp_path):
    """`human progress` on a read-only folder ended in a traceback (it tried to create its
    tables); now it reads, and so does export, into a writable place."""
    out = tmp_path / "ro-export" / "responses.csv"
    proc = _read_only_mount(
        study_with_data,
        sys.executable,
        "-m",
        "cubeworld.human",
        "progress",
        str(study_with_data),
    )
    assert proc.returncode != 99, "the mount is not read-only"
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["participants"]["completed"] == 1
    proc = _read_only_mount(
        study_with_data, sys.executable, "-m", "cubeworld.human", "export", str(study_with_data), "--out", str(out)
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.read_text().count("\n") == 5  # the header and four answers
    # Serving needs a writable folder: one line that says so, no traceback.
    proc = _read_only_mount(
        study_with_data, sys.executable, "-m", "cubeworld.human", "serve", str(study_with_data), "--port", "1"
    )
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "read-only" in lines[0], lines


# -- item 11: Prolific IDs are one person whatever their case ----------------------------------
def test_ids_that_differ_only_in_case_are_one_participant(tmp_path):
    study = load_human_study(create_human_study(make_set(tmp_path / "set", 2), tmp_path / "s", "same"))
    store = Store(study)
    first = store.start_session("DOUBLE1", session_id="sess-1")
    with pytest.raises(ApiError) as e:
        store.start_session("double1", session_id="sess-2")
    assert e.value.code == "already_started"
    assert store.start_session("Double1", session_id="sess-1").token == first.token  # the same person
    _take_part(store, "OTHER")
    with pytest.raises(ApiError) as e:
        store.start_session("other", session_id="sess-3")
    assert e.value.code == "already_completed"
    with sqlite3.connect(study.db_path) as con, pytest.raises(sqlite3.IntegrityError):
        con.execute(  # the database itself refuses a second one
            "INSERT INTO participants(prolific_pid, token, status, order_seed, created_at) "
            "VALUES ('double1', 'tok', 'active', 1, 0)"
        )
    store.close()


def test_an_old_database_with_two_cases_of_one_id_pays_once(tmp_path, study_with_data):
    store = Store(load_human_study(study_with_data))
    _take_part(store, "p2")
    store.close()
    con = sqlite3.connect(study_with_data / "study.sqlite")
    con.execute("DROP INDEX participants_pid_nocase")  # as in a database from before the check
    con.execute("UPDATE participants SET prolific_pid = 'P1', session_id = 'other' WHERE prolific_pid = 'p2'")
    con.commit()
    con.close()
    out = tmp_path / "out" / "responses.csv"
    r = runner.invoke(human_app, ["export", str(study_with_data), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.with_name("bonus.csv").read_text() == "p1,0.04\n"
    assert "'P1': the same Prolific ID as 'p1' (ignoring case), who is paid; left out of bonus.csv" in r.output
    assert json.loads(out.with_name("exclusions.json").read_text())["excluded"] == {"P1": ["duplicates"]}


# -- item 9: participants never see a broken image ---------------------------------------------
def test_create_refuses_a_truncated_image_and_an_unfinished_set(tmp_path):
    set_dir = make_set(tmp_path / "set", 4)
    png = sorted((set_dir / "images").iterdir())[2]
    png.write_bytes(png.read_bytes()[: len(png.read_bytes()) // 2])
    r = runner.invoke(human_app, ["create", "--set", str(set_dir), "--design", "same", "--out", str(tmp_path / "s1")])
    _one_line_error(r, "1 image(s) do not decode", png.name)
    assert not (tmp_path / "s1").exists()

    unfinished = make_set(tmp_path / "set2", 4)
    card = json.loads((unfinished / "dataset.json").read_text())
    (unfinished / "dataset.json").write_text(json.dumps({**card, "status": "in_progress"}))
    r = runner.invoke(
        human_app, ["create", "--set", str(unfinished), "--design", "same", "--out", str(tmp_path / "s2")]
    )
    _one_line_error(r, "the set is not complete", "interrupted")
    assert not (tmp_path / "s2").exists()


# -- issue 22, item 5: create's options are the typed config's fields ----------------------------
def test_create_options_are_generated_from_the_config_fields():
    import dataclasses

    import typer.main

    from cubeworld.human.config import HumanStudyConfig

    command = typer.main.get_command(human_app).commands["create"]
    options = {p.name: p for p in command.params}
    for f in dataclasses.fields(HumanStudyConfig):
        if f.metadata.get("cli", True) is False:
            assert f.name not in options
            continue
        option = options[f.name]
        assert option.help == f.metadata["help"], f.name
        if f.name not in ("name", "completion_code", "design"):
            assert option.default == f.default, f.name
