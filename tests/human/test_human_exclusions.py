"""Exclusion rules declared in study.yaml, applied at export: flags, counts, refusals."""

from __future__ import annotations

import json
import re

import httpx
import pandas as pd
import pytest
import yaml
from human_helpers import ServerProcess, make_set
from typer.testing import CliRunner

from cubeworld.formats.responses import read_responses
from cubeworld.human.cli import human_app
from cubeworld.human.config import load_human_config
from cubeworld.human.errors import ApiError, HumanStudyError
from cubeworld.human.exclusions import ExclusionRules, longest_run
from cubeworld.human.store import Store
from cubeworld.human.study import create_human_study, load_human_study

runner = CliRunner()
RULES = {
    "attention_failed": 2,
    "same_answer_run": 8,
    "median_rt_below_ms": 250,
    "median_rt_beyond_sd": 2,
    "duplicates": True,
}


def _flip(response: int) -> int:
    return 1 - response


def _take_part(
    store: Store,
    pid: str,
    *,
    session: str | None = None,
    rt: float = 800.0,
    fail_checks: int = 0,
    always: int | None = None,
    rts=None,
) -> None:
    """One participant through the whole study: right answers unless told otherwise."""
    s = store.start_session(pid, session_id=session if session is not None else f"s-{pid}")
    store.consent(s.token, True)
    failed = 0
    for n, t in enumerate(s.remaining):
        if t.kind == "attention":
            answer = t.correct_response if failed >= fail_checks else _flip(t.correct_response)
            failed += answer != t.correct_response
        else:
            answer = always if always is not None else (t.correct_response if n % 3 else _flip(t.correct_response))
        store.record(
            s.token,
            f"req-{pid}-{t.trial_index:04d}",
            t.stimulus_id,
            t.trial_index,
            answer,
            rt_ms=rts(n) if rts else rt + 7 * (n % 5),
            shown_at_ms=1.7e12 + n,
        )
    store.complete(s.token)


def _study(tmp_path, rules=RULES, n=12):
    return create_human_study(
        make_set(tmp_path / "set", n),
        tmp_path / "study",
        "same",
        attention_checks=True,
        attention_check_every=4,
        exclusions=rules,
    )


def test_every_rule_flags_the_right_participants_and_keeps_their_rows(tmp_path):
    study = _study(tmp_path)
    store = Store(load_human_study(study))
    for i in range(6):
        _take_part(store, f"good{i}", rt=700 + 40 * i)
    _take_part(store, "inattentive", fail_checks=2)
    _take_part(store, "straight", always=1)
    _take_part(store, "speeder", rt=120)
    _take_part(store, "slowpoke", rt=30_000)
    _take_part(store, "DUPX")
    with pytest.raises(ApiError, match="already completed"):  # the same Prolific ID in other case
        _take_part(store, "dupx")
    _take_part(store, "sharer1", session="SESSION-1")
    _take_part(store, "sharer2", session="SESSION-1")  # another ID, the same session
    store.close()
    out = tmp_path / "out" / "responses.csv"
    r = runner.invoke(human_app, ["export", str(study), "--out", str(out)])
    assert r.exit_code == 0, r.output
    expected = {
        "inattentive": "attention_failed",
        "straight": "same_answer_run",
        "speeder": "median_rt_below_ms",
        "slowpoke": "median_rt_beyond_sd",
        "sharer2": "duplicates",
    }
    parts = pd.read_csv(out.with_name("participants.csv"), keep_default_na=False)
    flagged = {p: rules for p, rules in zip(parts.participant, parts.exclusion_rules) if rules}
    assert flagged == expected
    assert parts.set_index("participant")["excluded"].to_dict() == {p: int(p in expected) for p in parts.participant}
    assert parts.set_index("participant").loc["inattentive", "attention_failed"] == 2
    assert parts.set_index("participant").loc["straight", "longest_same_answer_run"] == 12
    # Excluded participants stay in the raw responses, flagged; nobody is deleted.
    df = read_responses(out)
    assert set(df.participant) == set(parts.participant) and len(df) == 12 * len(parts)
    by = df.groupby("participant")[["excluded", "exclusion_rules"]].first()
    assert by.loc["speeder", "excluded"] == 1 and by.loc["speeder", "exclusion_rules"] == "median_rt_below_ms"
    assert by.loc["good0", "excluded"] == 0 and pd.isna(by.loc["good0", "exclusion_rules"])
    summary = json.loads(out.with_name("exclusions.json").read_text())
    assert summary["counts"] == {
        "attention_failed": 1,
        "same_answer_run": 1,
        "median_rt_below_ms": 1,
        "median_rt_beyond_sd": 1,
        "duplicates": 1,
    }
    assert summary["n_excluded"] == 5 and summary["n_participants"] == 13
    assert summary["declared_before_data"] is True
    assert (
        "exclusions: 5 of 13 participant(s) excluded (attention_failed 1, same_answer_run 1, "
        "median_rt_below_ms 1, median_rt_beyond_sd 1, duplicates 1)"
    ) in r.output
    # The bonus is pay for work done and does not depend on exclusions.
    assert "speeder," in out.with_name("bonus.csv").read_text()


def test_rules_changed_after_the_first_participant_are_reported(tmp_path):
    study = _study(tmp_path, rules={"same_answer_run": 20})
    store = Store(load_human_study(study))
    _take_part(store, "early", always=0)
    store.close()
    path = study / "study.yaml"
    data = yaml.safe_load(path.read_text())
    data["exclusions"]["same_answer_run"] = 5  # tightened after seeing the data
    path.write_text(yaml.safe_dump(data))
    r = runner.invoke(human_app, ["export", str(study), "--out", str(tmp_path / "r.csv")])
    assert r.exit_code == 0, r.output
    assert (
        "warning: the exclusion rules in study.yaml differ from those recorded when the "
        "first participant started" in r.output
    )
    summary = json.loads((tmp_path / "exclusions.json").read_text())
    assert summary["declared_before_data"] is False
    assert summary["declared"]["rules"]["same_answer_run"] == 20
    assert summary["excluded"] == {"early": ["same_answer_run"]}


def test_reaction_time_rules_without_reaction_times_are_refused(tmp_path):
    study = _study(tmp_path, rules={"median_rt_beyond_sd": 3})
    store = Store(load_human_study(study))
    s = store.start_session("nort", session_id="x")
    store.consent(s.token, True)
    for t in s.remaining:  # a client that sends no reaction times
        store.record(s.token, f"req-{t.trial_index:06d}", t.stimulus_id, t.trial_index, 1)
    store.close()
    out = tmp_path / "out" / "responses.csv"
    r = runner.invoke(human_app, ["export", str(study), "--out", str(out)])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "median_rt_beyond_sd" in lines[0] and "reaction time" in lines[0]
    assert not (tmp_path / "out").exists()
    # The admin API says the same to the researcher (not a 5xx, not a vague message).
    server = ServerProcess(study).start()
    try:
        admin = {"Authorization": f"Bearer {load_human_config(study).admin_token}"}
        r = httpx.get(f"{server.url}/admin/export/responses.csv", headers=admin, timeout=10)
        assert r.status_code == 409 and "median_rt_beyond_sd" in r.json()["error"], r.text
    finally:
        server.stop()


def test_participants_of_earlier_studies_are_duplicates(tmp_path):
    earlier = tmp_path / "earlier-participants.csv"
    earlier.write_text("participant,status\nveteran,completed\n")
    study = _study(tmp_path, rules={"duplicates_of": [str(earlier)]})
    store = Store(load_human_study(study))
    _take_part(store, "newcomer")
    _take_part(store, "VETERAN")
    store.close()
    r = runner.invoke(human_app, ["export", str(study), "--out", str(tmp_path / "r.csv")])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "exclusions.json").read_text())["excluded"] == {"VETERAN": ["duplicates"]}
    earlier.unlink()
    r = runner.invoke(human_app, ["export", str(study), "--out", str(tmp_path / "r2.csv")])
    assert r.exit_code == 2 and "duplicates_of" in r.output and "no such file" in r.output
    assert not (tmp_path / "r2.csv").exists()


@pytest.mark.parametrize(
    "rules, words",
    [
        ({"same_answer_run": 1}, "exclusions.same_answer_run: must be at least 2, got 1"),
        ({"attention_failed": "two"}, "exclusions.attention_failed: expected an integer, got 'two'"),
        ({"median_rt_below_ms": -5}, "exclusions.median_rt_below_ms: must be at least 0, got -5.0"),
        ({"median_rt_below_ms": 0}, "exclusions.median_rt_below_ms: must be a positive number"),
        ({"median_rt_sd": 3}, "exclusions.median_rt_sd: unknown setting"),
        ({"duplicates": "yes"}, "exclusions.duplicates: expected true or false, got 'yes'"),
        ({"duplicates_of": ["a.csv", " "]}, "exclusions.duplicates_of: must be a list of CSV file paths"),
        ("strict", "exclusions: expected a mapping of settings, got 'strict'"),
    ],
)
def test_malformed_rules_in_study_yaml_are_one_line_errors(tmp_path, rules, words):
    study = _study(tmp_path, rules=None)
    path = study / "study.yaml"
    data = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**data, "exclusions": rules}))
    with pytest.raises(HumanStudyError, match=re.escape(words)) as e:
        load_human_config(study)
    assert re.match(rf"{re.escape(str(path))}:\d+: ", str(e.value)), str(e.value)  # the file and the key's line
    r = runner.invoke(human_app, ["export", str(study), "--out", str(tmp_path / "r.csv")])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output


def test_rules_round_trip_through_study_yaml(tmp_path):
    study = _study(tmp_path, rules={**RULES, "duplicates_of": ["a.csv"]})
    cfg = load_human_config(study)
    assert cfg.exclusions == ExclusionRules(**{**RULES, "duplicates_of": ("a.csv",)})
    assert yaml.safe_load((study / "study.yaml").read_text())["exclusions"]["duplicates_of"] == ["a.csv"]
    # A study created without rules still declares the default (duplicates on, rest off).
    plain = create_human_study(make_set(tmp_path / "set2", 2), tmp_path / "plain", "same")
    assert load_human_config(plain).exclusions.active == ("duplicates",)


def test_longest_run():
    assert longest_run([]) == 0
    assert longest_run([1]) == 1
    assert longest_run([1, 1, 0, 0, 0, 1]) == 3


def test_readers_drop_excluded_rows_by_default(tmp_path):
    """The format's one reader-side rule (contract D): flagged rows out unless asked."""
    from cubeworld.formats.responses import ResponsesFormatError, drop_excluded

    df = pd.DataFrame(
        {
            "stimulus_id": ["a", "b", "a", "b", "a"],
            "participant": ["p", "p", "q", "q", "r"],
            "response": [1, 0, 1, 1, 0],
            "excluded": [0, 0, 1, 1, 1],
            "exclusion_rules": ["", "", "attention_failed;duplicates", "attention_failed;duplicates", "duplicates"],
        }
    )
    path = tmp_path / "r.csv"
    df.to_csv(path, index=False)
    table = read_responses(path)
    kept, summary = drop_excluded(table)
    assert set(kept["participant"]) == {"p"}
    assert summary == {"participants": 2, "by_rule": {"attention_failed": 1, "duplicates": 2}}
    everyone, _ = drop_excluded(table, include=True)
    assert len(everyone) == 5
    plain, summary = drop_excluded(table.drop(columns=["excluded", "exclusion_rules"]))
    assert len(plain) == 5 and summary["participants"] == 0
    # Empty cells are "not flagged" (tables with and without flags can be stacked), as the
    # analysis reads them; anything but 0/1/true/false is an error naming the row.
    df["excluded"] = ["", "0", "true", "1", ""]
    df.to_csv(path, index=False)
    kept, summary = drop_excluded(read_responses(path))
    assert set(kept["participant"]) == {"p", "r"} and summary["participants"] == 1
    df.loc[1, "excluded"] = "2"
    df.to_csv(path, index=False)
    with pytest.raises(ResponsesFormatError, match="row 3: excluded must be 0 or 1, got '2'"):
        read_responses(path)
