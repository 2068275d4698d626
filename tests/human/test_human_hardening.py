"""Attacks found by trying to break the human-study server (issue 13), each refused now.

A real uvicorn server in a subprocess; the database is inspected directly to prove that
nothing was stored.
"""

from __future__ import annotations

import io
import json
import re
import socket
import sqlite3
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from human_helpers import (
    HOST,
    ServerProcess,
    answer_body,
    db_counts,
    free_port,
    make_set,
    start_participant,
)
from PIL import Image
from typer.testing import CliRunner

from cubeworld.human.cli import human_app
from cubeworld.human.config import load_human_config
from cubeworld.human.errors import ApiError, HumanStudyError
from cubeworld.human.export import export_study
from cubeworld.human.store import Store
from cubeworld.human.study import create_human_study, load_human_study

runner = CliRunner()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One same-design study (6 items, attention checks) served for this module's tests."""
    root = tmp_path_factory.mktemp("hardening")
    study = create_human_study(
        make_set(root / "set", 6), root / "study", "same", attention_checks=True, attention_check_every=3
    )
    server = ServerProcess(study).start()
    yield study, server
    server.stop()


def _post_raw(c: httpx.Client, path: str, content: bytes, token: str | None = None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["X-Participant-Token"] = token
    return c.post(path, content=content, headers=headers)


# -- 1. ids match the whole string ---------------------------------------------------------
def test_ids_with_a_trailing_newline_are_refused(served):
    study, server = served
    with httpx.Client(base_url=server.url, timeout=10) as c:
        s = start_participant(c, "DUP1", session="sess-dup1")
        before = db_counts(study)
        for pid in ("DUP1\n", "abc\n", "DUP1\r\n", "\nDUP1"):
            r = c.post("/api/session", json={"prolific_pid": pid})
            assert r.status_code == 400 and r.json()["code"] == "bad_prolific_pid", (pid, r.text)
        for field in ("study_id", "session_id"):
            r = c.post("/api/session", json={"prolific_pid": "NEWPID", field: "abc\n"})
            assert r.status_code == 400 and r.json()["code"] == "bad_parameter"
        h = {"X-Participant-Token": s["token"]}
        stim = next(t for t in s["trials"] if t["kind"] == "stimulus")
        r = c.post("/api/responses", json=answer_body(stim, "req-dup1-0001\n"), headers=h)
        assert r.status_code == 422 and r.json()["code"] == "bad_request_id"
        assert db_counts(study) == before


def test_config_prolific_study_id_with_newline_is_refused(tmp_path):
    study = create_human_study(make_set(tmp_path / "set", 2), tmp_path / "s", "same")
    text = (study / "study.yaml").read_text()
    (study / "study.yaml").write_text(text.replace("prolific_study_id: ''", 'prolific_study_id: "ABC\\n"'))
    with pytest.raises(HumanStudyError, match="prolific_study_id"):
        load_human_config(study)


def test_store_refuses_trailing_newline_ids(tmp_path):
    store = Store(load_human_study(create_human_study(make_set(tmp_path / "set", 2), tmp_path / "s", "same")))
    store.start_session("DUP1", session_id="a")
    with pytest.raises(ApiError) as e:
        store.start_session("DUP1\n", session_id="b")
    assert e.value.code == "bad_prolific_pid"


def test_a_database_from_before_the_fix_pays_no_malformed_id(tmp_path):
    """`DUP1\n` stored by the old server: flagged a duplicate of `DUP1`, and left out of
    bonus.csv (a field with a newline split Prolific's one-line-per-payment form)."""
    study = create_human_study(make_set(tmp_path / "set", 3), tmp_path / "s", "same")
    store = Store(load_human_study(study))
    _answer_everything(store, "DUP1")
    _answer_everything(store, "DUP2")
    store.close()
    con = sqlite3.connect(study / "study.sqlite")
    con.execute(
        "UPDATE participants SET prolific_pid = 'DUP1' || char(10), session_id = 'other' WHERE prolific_pid = 'DUP2'"
    )
    con.commit()
    con.close()
    out = tmp_path / "out" / "responses.csv"
    r = runner.invoke(human_app, ["export", str(study), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "not a valid Prolific ID; left out of bonus.csv" in r.output
    assert out.with_name("bonus.csv").read_text() == "DUP1,0.03\n"
    flags = json.loads(out.with_name("exclusions.json").read_text())["excluded"]
    assert flags == {"DUP1\n": ["duplicates"]}


# -- 2. client numbers are bounded; one bad row never blocks the export ---------------------
@pytest.mark.parametrize(
    "key, raw",
    [
        ("shown_at", "1e20"),
        ("shown_at", "-1"),
        ("shown_at", "NaN"),
        ("shown_at", "Infinity"),
        ("rt_ms", "1e300"),
        ("rt_ms", "-Infinity"),
        ("rt_ms", "NaN"),
        ("trial_index", "1000000000000000000000000000000"),
        # Issue 23, item 12: JSON numbers only, never numeric strings or bools.
        ("rt_ms", '"12"'),
        ("rt_ms", "true"),
        ("shown_at", '"1700000000000"'),
        ("trial_index", '"0"'),
        # The response is the code 1/0 (issue 22): no words, strings, bools or floats.
        ("response", '"Yes"'),
        ("response", '"1"'),
        ("response", "true"),
        ("response", "1.0"),
        ("response", "2"),
    ],
)
def test_out_of_range_numbers_get_422_and_store_nothing(served, key, raw):
    """Python's JSON parser accepts NaN and Infinity, so they are sent raw as well."""
    study, server = served
    with httpx.Client(base_url=server.url, timeout=10) as c:
        s = start_participant(c, f"num-{key}-{re.sub('[^A-Za-z0-9]', 'x', raw)[:12]}")
        stim = next(t for t in s["trials"] if t["kind"] == "stimulus")
        before = db_counts(study)
        body = json.dumps({**answer_body(stim, "req-num-00001"), key: "__RAW__"})
        r = _post_raw(c, "/api/responses", body.replace('"__RAW__"', raw).encode(), s["token"])
        assert r.status_code == 422, (key, raw, r.status_code, r.text)
        assert key in r.json()["error"]
        assert db_counts(study) == before
        admin = {"Authorization": f"Bearer {load_human_config(study).admin_token}"}
        assert c.get("/admin/export/responses.csv", headers=admin).status_code == 200


def _answer_everything(store: Store, pid: str) -> None:
    s = store.start_session(pid, session_id=f"s-{pid}")
    store.consent(s.token, True)
    for t in s.remaining:
        store.record(
            s.token,
            f"req-{pid}-{t.trial_index:04d}",
            t.stimulus_id,
            t.trial_index,
            t.correct_response,
            rt_ms=700.0,
            shown_at_ms=1.7e12,
        )
    store.complete(s.token)


def test_a_bad_stored_row_is_reported_and_the_export_goes_on(tmp_path):
    """Rows stored before the bounds existed (shown_at 1e20 ms overflowed the date
    conversion and failed every export) are reported, not fatal."""
    study = create_human_study(make_set(tmp_path / "set", 4), tmp_path / "s", "same")
    store = Store(load_human_study(study))
    _answer_everything(store, "good1")
    _answer_everything(store, "bad1")
    store.close()
    con = sqlite3.connect(study / "study.sqlite")
    con.execute(
        "UPDATE responses SET shown_at = 1e17 WHERE trial_index = 1 AND participant_id = "
        "(SELECT id FROM participants WHERE prolific_pid = 'bad1')"
    )
    con.commit()
    con.close()
    out = tmp_path / "out" / "responses.csv"
    r = runner.invoke(human_app, ["export", str(study), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "warning: participant 'bad1', trial 1: shown_at 1e+17 is not a valid time" in r.output
    df = pd.read_csv(out)
    assert len(df) == 8  # every response is there
    bad = df[(df.participant == "bad1") & (df.trial_index == 1)]
    assert bad["started_at"].isna().all()
    assert df.loc[df.participant == "good1", "started_at"].notna().all()
    server = ServerProcess(study).start()
    try:
        admin = {"Authorization": f"Bearer {load_human_config(study).admin_token}"}
        for table in ("responses.csv", "bonus.csv", "participants.csv", "exclusions.json"):
            r = httpx.get(f"{server.url}/admin/export/{table}", headers=admin, timeout=10)
            assert r.status_code == 200 and r.headers["X-Export-Problems"] == "1", table
    finally:
        server.stop()


# -- 3. request size limit -------------------------------------------------------------------
def test_huge_declared_body_is_refused_before_it_is_read(served):
    _, server = served
    with socket.create_connection((HOST, server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            b"\r\nContent-Length: 300000000\r\n\r\n"
        )
        t0 = time.monotonic()
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = sock.recv(4096)  # the server answers without waiting for 300 MB
            if not chunk:
                break
            reply += chunk
        assert time.monotonic() - t0 < 5
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b"content-security-policy" in reply.lower()


def test_streamed_body_over_the_limit_is_refused(served):
    study, server = served
    before = db_counts(study)

    def chunks():
        yield b'{"prolific_pid": "big", "study_id": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    with httpx.Client(base_url=server.url, timeout=10) as c:
        r = c.post("/api/session", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and r.json()["code"] == "body_too_large", r.text
    assert db_counts(study) == before


# -- 4. the admin token never reaches the access log -----------------------------------------
def test_admin_token_only_from_header_and_redacted_in_access_log(tmp_path):
    study = create_human_study(make_set(tmp_path / "set", 2), tmp_path / "s", "same")
    token = load_human_config(study).admin_token
    secrets = {"key": "KEY-SECRET-1", "authorization": "AUTH-SECRET-2", "api_key": "KEY-SECRET-3"}
    secrets |= {"password": "PASS-SECRET-4", "signature": "SIG-SECRET-5", "client_secret": "SECRET-6"}
    server = ServerProcess(study, access_log=True).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            r = c.get(f"/admin/progress?token={token}")
            assert r.status_code == 401  # a URL token is not accepted...
            r = c.get(f"/admin/export/bonus.csv?x=1&admin_token={token}")
            assert r.status_code == 401
            assert c.get("/admin/progress", headers={"Authorization": f"Bearer {token}"}).status_code == 200
            # Issue 23, item 12: any secret-bearing parameter, and secrets in a path.
            for name, value in secrets.items():
                assert c.get(f"/admin/progress?x=1&{name}={value}").status_code == 401
            assert c.get(f"/admin/{token}/progress").status_code == 404  # never taken from a path...
            assert c.get(f"/api/{'Q' * 20}abcdefghijklmnopqr").status_code in (404, 405)  # a token-shaped segment
        time.sleep(0.3)
    finally:
        server.stop()
    log = server.log.read_text()
    assert "GET /admin/progress" in log  # the access log is on...
    assert token not in log  # ...and the token is not in it, in a query or a path
    assert "token=[redacted]" in log
    for name, value in secrets.items():
        assert value not in log and f"{name}=[redacted]" in log, name
    assert "/admin/[redacted]/progress" in log and "abcdefghijklmnopqr" not in log


# -- 5. security headers -----------------------------------------------------------------------
def test_security_headers_on_every_kind_of_response(served):
    _, server = served
    with httpx.Client(base_url=server.url, timeout=10) as c:
        responses = [
            c.get("/"),
            c.get("/static/experiment.js"),
            c.get("/vendor/jspsych.js"),
            c.get("/favicon.ico"),
            c.get("/images/no-such-image"),
            c.get("/no/such/page"),
            c.post("/api/session", json={"prolific_pid": "bad id"}),
            c.get("/admin/progress"),
        ]
    for r in responses:
        h = r.headers
        csp = h.get("content-security-policy", "")
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
        assert directives.get("script-src") == "'self'", (r.url, csp)
        assert directives.get("default-src") == "'none'"
        assert directives.get("frame-ancestors") == "'none'"
        assert "unsafe-inline" not in directives.get("style-src", "")
        assert h.get("x-frame-options") == "DENY"
        assert h.get("x-content-type-options") == "nosniff"
        assert h.get("referrer-policy") == "no-referrer"
    # Refusals keep the app's error format, also for unknown pages.
    assert responses[5].status_code == 404 and responses[5].json()["code"] == "not_found"


# -- 6. participants.csv agrees with itself ----------------------------------------------------
def test_participant_counts_separate_images_and_attention_checks(tmp_path):
    study = create_human_study(
        make_set(tmp_path / "set", 6), tmp_path / "s", "same", attention_checks=True, attention_check_every=2
    )
    store = Store(load_human_study(study))
    _answer_everything(store, "p1")
    s = store.start_session("p2", session_id="s-p2")  # started, answered nothing
    store.close()
    paths = export_study(study, tmp_path / "out" / "responses.csv")
    parts = pd.read_csv(paths["participants"]).set_index("participant")
    assert parts.loc["p1", "n_trials"] == parts.loc["p1", "n_answered"] == 6
    assert parts.loc["p1", "attention_checks"] == parts.loc["p1", "attention_answered"] == 3
    assert parts.loc["p1", "attention_passed"] == 3 and parts.loc["p1", "attention_failed"] == 0
    assert parts.loc["p2", "n_trials"] == 6 and parts.loc["p2", "n_answered"] == 0
    assert parts.loc["p2", "attention_checks"] == 3 and parts.loc["p2", "attention_answered"] == 0
    assert len(s.remaining) == 9
    assert len(pd.read_csv(paths["responses"])) == parts["n_answered"].sum()


# -- 8. favicon ----------------------------------------------------------------------------------
def test_favicon_is_served(served):
    _, server = served
    r = httpx.get(server.url + "/favicon.ico", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"] == "image/x-icon"
    img = Image.open(io.BytesIO(r.content))
    assert img.format == "ICO" and img.size[0] >= 16
    assert '<link rel="icon" href="/favicon.ico"' in httpx.get(server.url + "/", timeout=10).text


# -- 11. a damaged database: one line, which file, how to recover -------------------------------
def _study_with_data(tmp_path: Path) -> Path:
    study = create_human_study(make_set(tmp_path / "set", 6), tmp_path / "s", "same")
    store = Store(load_human_study(study))
    for pid in ("p1", "p2", "p3"):
        _answer_everything(store, pid)
    store.close()  # the last connection checkpoints the WAL into study.sqlite
    return study


def _check_one_line_error(result, db: Path) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert str(db) in lines[0] and "damaged" in lines[0]
    assert "study.sqlite-wal" in lines[0] and "backup" in lines[0] and ".recover" in lines[0]
    assert "Traceback" not in result.output


def test_garbage_database_file_is_one_line_error(tmp_path):
    study = _study_with_data(tmp_path)
    db = study / "study.sqlite"
    db.write_bytes(b"this is not an SQLite file at all" * 200)
    out = tmp_path / "out" / "responses.csv"
    _check_one_line_error(runner.invoke(human_app, ["export", str(study), "--out", str(out)]), db)
    assert not out.exists()
    _check_one_line_error(runner.invoke(human_app, ["progress", str(study)]), db)


def _damage_page_2(db: Path) -> None:
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    assert len(data) >= 4 * page
    data[page : 2 * page] = b"\xa5" * page  # page 2 (a table's root page) is overwritten
    db.write_bytes(bytes(data))


def test_malformed_database_pages_are_one_line_error(tmp_path):
    study = _study_with_data(tmp_path)
    db = study / "study.sqlite"
    _damage_page_2(db)
    out = tmp_path / "out" / "responses.csv"
    _check_one_line_error(runner.invoke(human_app, ["export", str(study), "--out", str(out)]), db)
    assert not out.exists()
    # The server refuses to start on it (it checks every page first) rather than failing
    # on whichever request touches the broken page.
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "cubeworld.human", "serve", str(study), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    proc.exit_code, proc.output = proc.returncode, proc.stdout + proc.stderr
    _check_one_line_error(proc, db)


def test_backup_restores_a_damaged_database(tmp_path):
    study = _study_with_data(tmp_path)
    before = export_study(study, tmp_path / "before" / "responses.csv")
    r = runner.invoke(human_app, ["backup", str(study), "--out", str(tmp_path / "b.sqlite")])
    assert r.exit_code == 0 and "18 image responses" in r.output, r.output
    db = study / "study.sqlite"
    _damage_page_2(db)
    (tmp_path / "b.sqlite").replace(db)  # the README's restore step
    after = export_study(study, tmp_path / "after" / "responses.csv")
    assert before["responses"].read_text() == after["responses"].read_text()


def _sqlite3_recover_works(tmp_path: Path) -> bool:
    import shutil
    import subprocess

    if shutil.which("sqlite3") is None:
        return False
    probe = tmp_path / "probe.sqlite"
    con = sqlite3.connect(probe)
    con.execute("CREATE TABLE t(a)")
    con.commit()
    con.close()
    # Some builds (Debian 12's 3.40) lack the sqlite_dbpage table that .recover needs.
    return subprocess.run(["sqlite3", str(probe), ".recover"], capture_output=True).returncode == 0


def test_sqlite3_recover_advice_salvages_a_damaged_database(tmp_path):
    import subprocess

    if not _sqlite3_recover_works(tmp_path):
        pytest.skip("this machine's sqlite3 has no working .recover (Debian 12 builds lack it)")
    study = _study_with_data(tmp_path)
    db = study / "study.sqlite"
    _damage_page_2(db)
    dump = subprocess.run(["sqlite3", str(db), ".recover"], capture_output=True, check=True)
    rec = tmp_path / "recovered.sqlite"
    subprocess.run(["sqlite3", str(rec)], input=dump.stdout, capture_output=True, check=True)
    rec.replace(db)
    r = runner.invoke(human_app, ["export", str(study), "--out", str(tmp_path / "r.csv")])
    assert r.exit_code == 0, r.output


# -- 9 and 12 (coordinator's fixes, kept): unwritable outputs and YAML errors -------------------
def test_unwritable_outputs_fail_in_one_line_before_any_work(tmp_path):
    set_dir = make_set(tmp_path / "set", 2)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    r = runner.invoke(human_app, ["create", "--set", str(set_dir), "--design", "same", "--out", str(blocker / "study")])
    assert r.exit_code == 2 and r.output.startswith("error: ") and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1
    study = create_human_study(set_dir, tmp_path / "s", "same")
    r = runner.invoke(human_app, ["export", str(study), "--out", str(blocker / "r.csv")])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
    assert not (study / "study.sqlite").exists()  # refused before the database was opened


def test_yaml_syntax_error_is_one_line_with_file_line_column(tmp_path):
    study = create_human_study(make_set(tmp_path / "set", 2), tmp_path / "s", "same")
    (study / "study.yaml").write_text("name: x\ndesign: [unclosed\n")
    r = runner.invoke(human_app, ["export", str(study), "--out", str(tmp_path / "r.csv")])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and f"{study / 'study.yaml'}:3:1: YAML syntax error" in lines[0], lines
    assert not (tmp_path / "r.csv").exists()


def test_failed_create_leaves_no_folder(tmp_path):
    set_dir = make_set(tmp_path / "set", 2)
    r = runner.invoke(
        human_app, ["create", "--set", str(set_dir), "--design", "spread", "--out", str(tmp_path / "new")]
    )
    assert r.exit_code == 2 and not (tmp_path / "new").exists()
