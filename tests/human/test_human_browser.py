"""A participant in a real browser (Debian's Chromium via Playwright) against a real server."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from urllib.parse import unquote

import pandas as pd
import pytest
from human_helpers import free_port
from playwright.sync_api import expect

from cubeworld.formats.responses import read_responses, response_label
from cubeworld.human.export import export_study
from cubeworld.human.study import create_human_study
from cubeworld.stimuli.families import get_family

pytestmark = pytest.mark.browser


def _study(tmp_path: Path, set_dir: Path, port: int, **kw) -> Path:
    return create_human_study(
        set_dir,
        tmp_path / "study",
        "same",
        completion_code="CWTEST01",
        completion_url=f"http://127.0.0.1:{port}/prolific-done?cc={{code}}",
        **kw,
    )


def _answer_for(sid: str) -> str:
    """The simulated participant's choice: fixed per image, mixing Yes and No."""
    return "Yes" if sum(map(ord, sid)) % 3 else "No"


def _consent_and_instructions(page, expect_prompt: bool = True) -> None:
    page.get_by_role("button", name="I agree").click()
    _instructions(page, expect_prompt)


def _instructions(page, expect_prompt: bool = True) -> None:
    """Page through the instructions; they must show the study's exact prompt, and the
    last page must name the button that is really there ("Next >", not "Start")."""
    expect(page.locator("#jspsych-instructions-next")).to_be_visible()
    seen_prompt = False
    told_to_click = False
    while True:
        nxt = page.locator("#jspsych-instructions-next")
        if not nxt.count():
            break
        text = page.locator(".jspsych-content").inner_text()
        label = nxt.inner_text().strip()
        assert "Start" not in text, f"the instructions name a button that is not there: {text!r}"
        if "when you are ready" in text.lower():
            assert f"click {label}" in text, (label, text)
            told_to_click = True
        if page.locator("#cw-prompt").count():
            expect(page.locator("#cw-prompt")).to_have_text(get_family("tower").prompt)
            seen_prompt = True
        nxt.click()
    assert seen_prompt or not expect_prompt
    assert told_to_click


def _answer_trials(page, total: int, first: int, upto: int, clicks: dict) -> None:
    """Click trials `first`..`upto-1` (0-based), choosing by image; attention checks obeyed."""
    for k in range(first, upto):
        expect(page.locator("#cw-progress")).to_have_text(f"Trial {k + 1} of {total}")
        img = page.locator("#jspsych-image-button-response-stimulus")
        if img.count():
            sid = unquote(img.get_attribute("src").rsplit("/", 1)[1])
            expect(page.locator(".cw-question")).to_have_text("Will the tower fall?")
            # Shown image_height_px (448) high, or less where the CSS caps it at 60% of the view.
            shown = min(448, 0.6 * page.viewport_size["height"])
            assert img.bounding_box()["height"] == pytest.approx(shown, abs=1)
            choice = _answer_for(sid)
            clicks[sid] = (choice, k)
        else:
            text = page.locator(".cw-attention").nth(1).inner_text()
            choice = "Yes" if "Yes" in text else "No"
            clicks[f"attention@{k}"] = (choice, k)
        page.wait_for_timeout(30)  # a human-ish, non-zero reaction time
        page.get_by_role("button", name=choice, exact=True).click()


def _wait_saved(page, timeout: float = 15.0) -> None:
    """Until every answer is acknowledged. Polled with evaluate (not wait_for_function, whose
    string predicates the page's Content-Security-Policy rightly refuses to eval)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate("() => !!window.cubeworld && window.cubeworld.pending() === 0"):
        assert time.monotonic() < deadline, "answers were not acknowledged in time"
        page.wait_for_timeout(50)


def _order(study: Path, pid: str) -> list[str]:
    con = sqlite3.connect(study / "study.sqlite")
    rows = con.execute(
        "SELECT t.stimulus_id FROM trials t JOIN participants p ON p.id = t.participant_id "
        "WHERE p.prolific_pid=? ORDER BY t.trial_index",
        (pid,),
    ).fetchall()
    con.close()
    return [r[0] for r in rows]


def test_browser_full_session_export_equals_clicks(tmp_path, tower_set, server_factory, new_page):
    port = free_port()
    study = _study(tmp_path, tower_set, port, attention_checks=True, attention_check_every=4)
    server = server_factory(study, port)
    page = new_page()
    page.goto(f"{server.url}/?PROLIFIC_PID=pidA1&STUDY_ID=studyX&SESSION_ID=sessA1")
    expect(page.locator(".cw-consent")).to_be_visible()
    _consent_and_instructions(page)
    total = 7  # 6 images + 1 attention check after the 4th
    clicks: dict = {}
    _answer_trials(page, total, 0, total, clicks)
    expect(page.locator("#cw-code")).to_have_text("CWTEST01")
    page.get_by_role("button", name="Return to Prolific").click()
    page.wait_for_url(f"{server.url}/prolific-done?cc=CWTEST01")

    paths = export_study(study, tmp_path / "out" / "responses.csv")
    df = read_responses(paths["responses"])
    images = {sid: v for sid, v in clicks.items() if not sid.startswith("attention")}
    assert len(images) == 6 and len(df) == 6
    got = {r.stimulus_id: (response_label(r.response), r.trial_index) for r in df.itertuples()}
    assert got == images
    assert set(df["participant"]) == {"pidA1"}
    assert (df["rt_ms"] > 0).all()
    assert set(df["prolific_session_id"]) == {"sessA1"}
    assert set(df["prolific_study_id"]) == {"studyX"}
    assert df["answered_at"].str.endswith("+00:00").all()
    assert list(df["trial_index"]) == sorted(df["trial_index"])
    # The order is the participant's own stored shuffle.
    assert [sid for sid in _order(study, "pidA1") if not sid.startswith("attention")] == list(
        df.sort_values("trial_index")["stimulus_id"]
    )
    n_correct = int(df["correct"].sum())
    bonus = Path(paths["bonus"]).read_text()
    assert bonus == (f"pidA1,{0.01 * n_correct:.2f}\n" if n_correct else "")
    parts = pd.read_csv(paths["participants"])
    assert parts.loc[0, "status"] == "completed"
    assert parts.loc[0, "attention_checks"] == 1 and parts.loc[0, "attention_passed"] == 1


def test_browser_reload_resumes_and_second_session_refused(tmp_path, tower_set, server_factory, new_page):
    port = free_port()
    study = _study(tmp_path, tower_set, port)
    server = server_factory(study, port)
    url = f"{server.url}/?PROLIFIC_PID=pidB2&STUDY_ID=studyX&SESSION_ID=sessB2"
    page = new_page()
    page.goto(url)
    _consent_and_instructions(page)
    clicks: dict = {}
    _answer_trials(page, 6, 0, 3, clicks)
    _wait_saved(page)
    expect(page.locator("#cw-progress")).to_have_text("Trial 4 of 6")

    # Another Prolific session with the same ID, while this one runs: refused.
    other = new_page()
    other.goto(f"{server.url}/?PROLIFIC_PID=pidB2&STUDY_ID=studyX&SESSION_ID=sessOTHER")
    expect(other.locator("#cw-message")).to_contain_text("already started")

    page.reload()
    expect(page.locator(".cw-text").first).to_contain_text("Welcome back")
    expect(page.locator(".cw-text").first).to_contain_text("trial 4 of 6")
    _instructions(page)
    order = _order(study, "pidB2")
    expect(page.locator("#jspsych-image-button-response-stimulus")).to_have_attribute("src", f"/images/{order[3]}")
    _answer_trials(page, 6, 3, 5, clicks)
    _wait_saved(page)

    # The same Prolific session in a fresh browser (no local storage) resumes too.
    page2 = new_page()
    page2.goto(url)
    expect(page2.locator(".cw-text").first).to_contain_text("trial 6 of 6")
    _instructions(page2)
    _answer_trials(page2, 6, 5, 6, clicks)
    page2.get_by_role("button", name="Return to Prolific").click()
    page2.wait_for_url("**/prolific-done?cc=CWTEST01")

    df = read_responses(export_study(study, tmp_path / "r.csv")["responses"])
    assert sorted(df["trial_index"]) == list(range(6))
    assert {r.stimulus_id: response_label(r.response) for r in df.itertuples()} == {
        sid: c for sid, (c, _) in clicks.items()
    }

    # After completion, a new session with the same PROLIFIC_PID is refused.
    again = new_page()
    again.goto(f"{server.url}/?PROLIFIC_PID=pidB2&STUDY_ID=studyX&SESSION_ID=sessB3")
    expect(again.locator("#cw-message")).to_contain_text("already completed")
    expect(again.locator("#jspsych-target")).to_be_hidden()
    assert len(read_responses(export_study(study, tmp_path / "r2.csv")["responses"])) == 6


_STYLE = "e => { const s = getComputedStyle(e); return [s.fontFamily, s.fontSize, s.textAlign, s.lineHeight]; }"


def test_browser_no_prolific_id_and_declined_consent(tmp_path, tower_set, server_factory, new_page):
    port = free_port()
    study = _study(tmp_path, tower_set, port)
    server = server_factory(study, port)
    page = new_page()
    page.goto(server.url + "/")
    expect(page.locator("#cw-message")).to_contain_text("PROLIFIC_PID")
    refused_style = page.locator("#cw-message p").evaluate(_STYLE)

    page = new_page()
    page.goto(f"{server.url}/?PROLIFIC_PID=pidNo&SESSION_ID=sessNo")
    consent_style = page.locator(".cw-consent p").first.evaluate(_STYLE)
    page.get_by_role("button", name="I do not agree").click()
    expect(page.locator("#jspsych-target")).to_contain_text("did not agree")
    declined_style = page.locator(".cw-message p").evaluate(_STYLE)
    # Every message looks like the rest of the app: same font, size, alignment, spacing.
    assert refused_style == consent_style == declined_style, (refused_style, consent_style, declined_style)
    con = sqlite3.connect(study / "study.sqlite")
    assert con.execute("SELECT status FROM participants").fetchall() == [("declined",)]
    assert con.execute("SELECT COUNT(*) FROM responses").fetchone() == (0,)
    con.close()
