"""The designs and the store's rules, without a server: orders, pool, timeouts, export."""

from __future__ import annotations

import sqlite3

import pytest
from human_helpers import make_set

from cubeworld.formats.responses import read_responses
from cubeworld.human.assign import build_sequence, order_seed
from cubeworld.human.config import DB_FILE
from cubeworld.human.errors import ApiError
from cubeworld.human.export import export_study
from cubeworld.human.store import Store
from cubeworld.human.study import create_human_study, load_human_study


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


def _answer_all(store: Store, pid: str, choose=lambda sid: 1, upto=None) -> list[str]:
    s = store.start_session(pid, session_id=f"s-{pid}")
    store.consent(s.token, True)
    done = []
    for n, t in enumerate(s.remaining):
        if upto is not None and n >= upto:
            break
        store.record(
            s.token, f"req-{pid}-{t.trial_index:04d}", t.stimulus_id, t.trial_index, choose(t.stimulus_id), rt_ms=500.0
        )
        done.append(t.stimulus_id)
    return done


def test_same_design_everyone_all_items_own_stored_order(tmp_path):
    study = load_human_study(create_human_study(make_set(tmp_path / "set", 12), tmp_path / "st", "same", seed=5))
    store = Store(study)
    orders = {}
    for pid in ("p1", "p2", "p3"):
        s = store.start_session(pid, session_id="x" + pid)
        orders[pid] = [t.stimulus_id for t in s.remaining]
        assert sorted(orders[pid]) == sorted(it.stimulus_id for it in study.items)
    assert len({tuple(o) for o in orders.values()}) == 3  # each their own order
    # The order is stored: a resume returns it unchanged, and it follows the seeded recipe.
    again = store.start_session("p2", session_id="xp2")
    assert [t.stimulus_id for t in again.remaining] == orders["p2"]
    expected = build_sequence([(it.stimulus_id, it.correct_response) for it in study.items], order_seed(5, "p2"))
    assert [t.stimulus_id for t in expected] == orders["p2"]


def test_attention_checks_are_placed_and_scored(tmp_path):
    study = load_human_study(
        create_human_study(
            make_set(tmp_path / "set", 6), tmp_path / "st", "same", attention_checks=True, attention_check_every=2
        )
    )
    store = Store(study)
    s = store.start_session("p1", session_id="a")
    kinds = [t.kind for t in s.remaining]
    assert kinds == ["stimulus", "stimulus", "attention"] * 3
    store.consent(s.token, True)
    for t in s.remaining:  # obey every check but the first
        first_check = t.stimulus_id == "attention-1"
        resp = (
            t.correct_response
            if t.kind == "attention" and not first_check
            else 1 - t.correct_response
            if first_check
            else t.correct_response
        )
        store.record(s.token, f"req-{t.trial_index:05d}", t.stimulus_id, t.trial_index, resp)
    store.complete(s.token)
    paths = export_study(study.root, tmp_path / "out" / "responses.csv")
    import pandas as pd

    parts = pd.read_csv(paths["participants"])
    assert parts.loc[0, "attention_checks"] == 3 and parts.loc[0, "attention_passed"] == 2
    df = read_responses(paths["responses"])
    assert len(df) == 6 and df["correct"].eq(1).all()  # attention trials are not exported
    assert paths["bonus"].read_text() == "p1,0.06\n"


def test_spread_blocks_pool_timeout_and_exactly_once(tmp_path):
    clock = Clock()
    study = load_human_study(
        create_human_study(
            make_set(tmp_path / "set", 10), tmp_path / "st", "spread", items=4, seed=1, block_timeout_minutes=30
        )
    )
    store = Store(study, clock=clock)
    a = store.start_session("pa", session_id="s-pa")
    b = store.start_session("pb", session_id="s-pb")
    c = store.start_session("pc", session_id="s-pc")
    blocks = [{t.stimulus_id for t in s.remaining} for s in (a, b, c)]
    assert [len(x) for x in blocks] == [4, 4, 2]
    assert len(set().union(*blocks)) == 10  # disjoint blocks cover the set
    with pytest.raises(ApiError) as e:
        store.start_session("pd", session_id="s-pd")
    assert e.value.code == "study_full" and e.value.status == 409

    # pa answers 2 of 4 and goes quiet; pb finishes; pc answers 1.
    store.consent(a.token, True)
    for t in a.remaining[:2]:
        store.record(a.token, f"ra-{t.trial_index:06d}", t.stimulus_id, t.trial_index, 1)
    _answer_all(store, "pb")
    store.complete(b.token)
    store.consent(c.token, True)
    t = c.remaining[0]
    store.record(c.token, f"rc-{t.trial_index:06d}", t.stimulus_id, t.trial_index, 0)

    clock.t += 31 * 60  # past the timeout: pa's and pc's unanswered items go back
    d = store.start_session("pd", session_id="s-pd")
    back = {t.stimulus_id for t in a.remaining[2:]} | {t.stimulus_id for t in c.remaining[1:]}
    assert {t.stimulus_id for t in d.remaining} == back
    late = a.remaining[2]
    with pytest.raises(ApiError) as e:
        store.record(a.token, "ra-late-0001", late.stimulus_id, late.trial_index, 1)
    assert e.value.status == 410 and "time limit" in e.value.message
    with pytest.raises(ApiError) as e:
        store.start_session("pa", session_id="s-pa")
    assert e.value.code == "timed_out"
    _answer_all(store, "pd")
    store.complete(d.token)

    df = read_responses(export_study(study.root, tmp_path / "r.csv")["responses"])
    assert df["stimulus_id"].is_unique and len(df) == 10  # every item exactly once
    assert set(df.loc[df.participant_status == "expired", "participant"]) == {"pa", "pc"}
    # Bonus only for those who completed.
    bonus = (tmp_path / "bonus.csv").read_text().splitlines()
    assert {line.split(",")[0] for line in bonus} <= {"pb", "pd"}
    # The database itself refuses a second response to an item in the spread design.
    con = sqlite3.connect(study.db_path)
    with pytest.raises(sqlite3.IntegrityError):
        row = con.execute("SELECT participant_id, stimulus_id FROM responses LIMIT 1").fetchone()
        con.execute(
            "INSERT INTO responses(participant_id, trial_index, kind, stimulus_id, response, "
            "answered_at, request_id) VALUES (?, 99, 'stimulus', ?, 1, 0, 'zzzzzzzzz')",
            row,
        )
    con.close()


def test_same_design_participant_cannot_complete_twice_or_return(tmp_path):
    study = load_human_study(create_human_study(make_set(tmp_path / "set", 3), tmp_path / "st", "same"))
    store = Store(study)
    _answer_all(store, "p1")
    s = store.start_session("p1", session_id="s-p1")
    assert s.remaining == [] and s.answered == 3
    url = store.complete(s.token)
    assert url.endswith("cc=" + study.config.completion_code)
    # The same Prolific session (a reload of the end page) sees the end page again...
    assert store.start_session("p1", session_id="s-p1").completion_url == url
    # ...any other session with that ID is refused.
    with pytest.raises(ApiError) as e:
        store.start_session("p1", session_id="another")
    assert e.value.code == "already_completed"
    with pytest.raises(ApiError) as e:
        store.record(s.token, "late-request-1", "any-item", 0, 1)
    assert e.value.code == "already_completed"


def test_sessions_from_another_prolific_study_are_refused(tmp_path):
    study = load_human_study(
        create_human_study(make_set(tmp_path / "set", 3), tmp_path / "st", "same", prolific_study_id="STUDY42")
    )
    store = Store(study)
    for study_id in ("OTHER7", ""):
        with pytest.raises(ApiError) as e:
            store.start_session("p1", study_id=study_id, session_id="s1")
        assert e.value.status == 403 and e.value.code == "wrong_study"
    con = sqlite3.connect(tmp_path / "st" / DB_FILE)
    assert con.execute("SELECT COUNT(*) FROM participants").fetchone()[0] == 0
    con.close()
    s = store.start_session("p1", study_id="STUDY42", session_id="s1")
    assert len(s.remaining) == 3
    # Without a configured ID, any STUDY_ID is let in (and recorded).
    open_study = load_human_study(create_human_study(make_set(tmp_path / "set2", 3), tmp_path / "st2", "same"))
    assert Store(open_study).start_session("p2", study_id="ANY", session_id="s2").remaining
