"""The participant and admin HTTP API of a real uvicorn server: rules, refusals, nothing stored."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import httpx
import pandas as pd
import pytest
from human_helpers import make_set

from cubeworld.human.config import load_human_config
from cubeworld.human.study import create_human_study


def _counts(study: Path) -> tuple[int, int]:
    con = sqlite3.connect(study / "study.sqlite")
    n_resp = con.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    n_part = con.execute("SELECT COUNT(*) FROM participants").fetchone()[0]
    con.close()
    return n_resp, n_part


@pytest.fixture
def spread_server(tmp_path, server_factory):
    set_dir = make_set(tmp_path / "set", 8)
    study = create_human_study(set_dir, tmp_path / "study", "spread", items=3, seed=3)
    return study, server_factory(study)


def _start(c: httpx.Client, pid: str, session: str = "") -> dict:
    r = c.post("/api/session", json={"prolific_pid": pid, "study_id": "st", "session_id": session or f"s-{pid}"})
    assert r.status_code == 200, r.text
    s = r.json()
    assert c.post("/api/consent", json={"agree": True}, headers={"X-Participant-Token": s["token"]}).status_code == 200
    return s


def _answer(trial: dict, request_id: str, response: int = 1) -> dict:
    return {
        "request_id": request_id,
        "stimulus_id": trial["stimulus_id"],
        "trial_index": trial["trial_index"],
        "response": response,
        "rt_ms": 812.5,
        "shown_at": 1.7e12,
    }


def test_api_bad_input_is_refused_and_stores_nothing(spread_server):
    study, server = spread_server
    with httpx.Client(base_url=server.url, timeout=10) as c:
        a = _start(c, "pidA")
        b = _start(c, "pidB")
        ha = {"X-Participant-Token": a["token"]}
        assert a["total"] == 3 and b["total"] == 3
        assert "answer" not in str(a["trials"]) and "correct" not in str(a["trials"])  # no ground truth on the page
        # The buttons and the response code each sends come from the server (issue 22).
        assert a["choices"] == [{"label": "Yes", "response": 1}, {"label": "No", "response": 0}]
        ok = c.post("/api/responses", json=_answer(a["trials"][0], "req-a-0001"), headers=ha)
        assert ok.status_code == 200 and ok.json()["stored"] is True
        before = _counts(study)

        def refused(status, code, words, *, json=None, content=None, headers=ha):
            r = c.post(
                "/api/responses", json=json, content=content, headers={**headers, "Content-Type": "application/json"}
            )
            assert r.status_code == status, r.text
            body = r.json()
            assert body["code"] == code and words in body["error"], body
            assert _counts(study) == before

        refused(400, "bad_request", "malformed JSON", content=b'{"request_id": "x", ')
        refused(
            404,
            "unknown_participant",
            "unknown participant",
            json=_answer(a["trials"][1], "req-a-0002"),
            headers={"X-Participant-Token": "not-a-real-token-at-all"},
        )
        refused(
            401, "no_participant", "missing participant token", json=_answer(a["trials"][1], "req-a-0002"), headers={}
        )
        # b's item is not a's to answer.
        refused(403, "not_assigned", "not assigned to you", json=_answer(b["trials"][0], "req-a-0003"))
        refused(
            403,
            "not_assigned",
            "not assigned to you",
            json={**_answer(a["trials"][1], "req-a-0003"), "stimulus_id": "no-such-item"},
        )
        # The same request again (a client retry after a lost acknowledgement).
        refused(409, "duplicate_request", "already stored", json=_answer(a["trials"][0], "req-a-0001"))
        refused(409, "already_answered", "already answered", json=_answer(a["trials"][0], "req-a-0009", 0))
        refused(422, "wrong_trial", "is your trial", json={**_answer(a["trials"][1], "req-a-0004"), "trial_index": 2})
        refused(422, "bad_request", "response", json={**_answer(a["trials"][1], "req-a-0005"), "response": "Maybe"})
        refused(422, "bad_request", "response", json={**_answer(a["trials"][1], "req-a-0005"), "response": "Yes"})
        refused(422, "bad_request", "trial_index", json={**_answer(a["trials"][1], "req-a-0006"), "trial_index": "1"})
        refused(
            422,
            "bad_request",
            "unknown field 'participant'",
            json={**_answer(a["trials"][1], "req-a-0007"), "participant": "pidB"},
        )
        refused(422, "bad_request_id", "request_id", json=_answer(a["trials"][1], "x"))
        refused(422, "bad_request", "rt_ms", json={**_answer(a["trials"][1], "req-a-0008"), "rt_ms": -5})

        # Completing early is refused; the trials are still open.
        r = c.post("/api/complete", headers=ha)
        assert r.status_code == 409 and r.json()["code"] == "incomplete"

        # Another person with a's Prolific ID gets nothing of a's: no token, no trials.
        r = c.post("/api/session", json={"prolific_pid": "pidA", "session_id": "s-other"})
        assert r.status_code == 409 and "token" not in r.json()
        assert a["token"] not in r.text
        r = c.post("/api/session", json={"prolific_pid": "bad id!"})
        assert r.status_code == 400 and "PROLIFIC_PID" in r.json()["error"]
        r = c.post("/api/session", content=b"[1, 2", headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and "malformed JSON" in r.json()["error"]
        assert _counts(study) == before
        assert c.get("/images/no-such-item").status_code == 404


def test_api_consent_needed_and_decline(tmp_path, server_factory):
    study = create_human_study(make_set(tmp_path / "set", 4), tmp_path / "study", "same")
    server = server_factory(study)
    with httpx.Client(base_url=server.url, timeout=10) as c:
        s = c.post("/api/session", json={"prolific_pid": "pidC", "session_id": "x"}).json()
        h = {"X-Participant-Token": s["token"]}
        r = c.post("/api/responses", json=_answer(s["trials"][0], "req-c-0001"), headers=h)
        assert r.status_code == 403 and r.json()["code"] == "no_consent"
        assert c.post("/api/consent", json={"agree": "yes"}, headers=h).status_code == 422
        assert c.post("/api/consent", json={"agree": False}, headers=h).status_code == 200
        r = c.post("/api/session", json={"prolific_pid": "pidC", "session_id": "x"})
        assert r.status_code == 409 and r.json()["code"] == "declined"
        assert _counts(study) == (0, 1)


def test_api_admin_needs_token(spread_server):
    study, server = spread_server
    token = load_human_config(study).admin_token
    with httpx.Client(base_url=server.url, timeout=10) as c:
        s = _start(c, "pidD")
        h = {"X-Participant-Token": s["token"]}
        for t in s["trials"]:
            assert (
                c.post("/api/responses", json=_answer(t, f"req-d-{t['trial_index']:04d}"), headers=h).status_code == 200
            )
        done = c.post("/api/complete", headers=h).json()
        cfg = load_human_config(study)
        assert done["completion_url"] == cfg.completion_url.replace("{code}", cfg.completion_code)
        for path in ("/admin/progress", "/admin/export/responses.csv", "/admin/export/bonus.csv"):
            r = c.get(path)
            assert r.status_code == 401 and "admin token required" in r.json()["error"]
            r = c.get(path, headers={"Authorization": "Bearer wrong-token-xxxxxxxxxxxx"})
            assert r.status_code == 403 and r.json()["error"] == "wrong admin token"
            # A participant's token is no admin token.
            assert c.get(path, headers={"Authorization": f"Bearer {s['token']}"}).status_code == 403
        auth = {"Authorization": f"Bearer {token}"}
        prog = c.get("/admin/progress", headers=auth).json()
        assert prog["participants"]["completed"] == 1 and prog["responses"] == 3
        assert prog["items_free"] == 5
        df = pd.read_csv(io.StringIO(c.get("/admin/export/responses.csv", headers=auth).text))
        assert len(df) == 3 and set(df["participant"]) == {"pidD"}
        # The token is taken from the header only: in a URL it would land in access logs.
        r = c.get(f"/admin/export/bonus.csv?token={token}")
        assert r.status_code == 401 and "never put it in the URL" in r.json()["error"]
        assert c.get("/admin/export/secrets.txt", headers=auth).status_code == 404
