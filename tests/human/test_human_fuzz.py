"""Property-based fuzzing of every participant endpoint of a real server (Hypothesis).

Random JSON bodies (any shape, NaN and Infinity included), random ids (control characters,
trailing newlines, unicode, near-valid ids), random numbers (huge, negative, non-finite),
random tokens and raw bytes go to /api/session, /api/consent, /api/responses,
/api/complete and /images/...; valid values are mixed in so that the deep paths (a real
token, a real stimulus) are reached too. Properties:

- the server answers every request, and never with a 5xx;
- every refusal is the app's JSON error (`error`, `code`);
- afterwards, everything in the database is valid (ids, numbers, trial bookkeeping), and the
  export runs and reports no problem row.

Bounded: a fixed number of examples per endpoint, derandomized (the same examples on every
run), no example database written into the repository.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import warnings
from pathlib import Path
from urllib.parse import quote

import httpx
import pandas as pd
import pytest
from human_helpers import ServerProcess, answer_body, make_set, start_participant
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from cubeworld.formats.responses import read_responses
from cubeworld.human.export import ExportWarning, export_study
from cubeworld.human.limits import (
    OPTIONAL_ID_RE,
    PROLIFIC_ID_RE,
    REQUEST_ID_RE,
    RT_MAX_MS,
    SHOWN_AT_MAX_MS,
    SHOWN_AT_MIN_MS,
)
from cubeworld.human.study import create_human_study, load_human_study

# Hypothesis keeps caches in .hypothesis/ of the working directory: not in the repository.
set_hypothesis_home_dir(str(Path(tempfile.gettempdir()) / "cubeworld-hypothesis"))
EXAMPLES = 80
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """A same-design study with attention checks, served; two consented participants whose
    tokens and trials the fuzzer mixes into its requests."""
    root = tmp_path_factory.mktemp("fuzz")
    study = create_human_study(
        make_set(root / "set", 6), root / "study", "same", attention_checks=True, attention_check_every=3
    )
    server = ServerProcess(study).start()
    with httpx.Client(base_url=server.url, timeout=20) as c:
        people = [start_participant(c, f"fuzzer{i}") for i in range(6)]
        fresh = start_participant(c, "fuzzer-new", consent=False)
    client = httpx.Client(base_url=server.url, timeout=20)
    yield {
        "study": study,
        "server": server,
        "client": client,
        "tokens": [p["token"] for p in people + [fresh]],
        "trials": [t for p in people for t in p["trials"]],
        "answers": [(p["token"], t) for p in people + [fresh] for t in p["trials"]],
        "stimuli": [it.stimulus_id for it in load_human_study(study).items],
    }
    client.close()
    server.stop()


# -- strategies ------------------------------------------------------------------------------
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 1e20, 1.7e12, 1e300, 2**63, 2**64, 10**30]),
)
texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=80)
near_ids = st.one_of(
    st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True).map(lambda s: s + "\n"),
    st.sampled_from(
        ["", " ", "\n", "DUP1\n", "a" * 65, "a b", "../../etc", "<script>", "' OR 1=1 --", "\x00", "é", "\u202e"]
    ),
)
ids = st.one_of(near_ids, texts)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, ids),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=12,
)


def bodies(fields: dict[str, st.SearchStrategy], valid: st.SearchStrategy | None = None) -> st.SearchStrategy:
    """Any JSON; the endpoint's own fields with random values (some missing); or, given
    `valid` bodies, a valid body with one or two fields replaced (or an unknown one added),
    which reaches the checks behind the first one."""
    shaped = st.fixed_dictionaries({}, optional=fields)
    options = [json_values, shaped]
    if valid is not None:
        keys = st.sampled_from(sorted(fields))

        @st.composite
        def mutated(draw):
            body = dict(draw(valid))
            for key in draw(st.lists(keys, min_size=1, max_size=2, unique=True)):
                body[key] = draw(st.one_of(fields[key], fields[key], json_values))
            if draw(st.integers(0, 9)) == 0:
                body[draw(texts)] = draw(json_values)
            return body

        options += [mutated(), mutated()]
    return st.one_of(*options)


def tokens(target) -> st.SearchStrategy:
    printable = st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60
    )
    return st.one_of(st.none(), st.sampled_from(target["tokens"]), printable)


def post(target, path: str, body, token, raw: bytes | None = None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if token is not None:  # header bytes as a browser would send them
        headers["X-Participant-Token"] = token.encode("latin-1")
    content = raw if raw is not None else json.dumps(body, allow_nan=True).encode()
    return target["client"].post(path, content=content, headers=headers)


def check_answer(r: httpx.Response) -> None:
    assert r.status_code < 500, (r.status_code, r.text[:500])
    if r.status_code >= 400:
        body = r.json()
        assert isinstance(body.get("error"), str) and isinstance(body.get("code"), str), body


def check_database_and_export(target, tmp_path) -> None:
    """Everything stored is valid, and the export runs without a single problem row."""
    con = sqlite3.connect(target["study"] / "study.sqlite")
    con.row_factory = sqlite3.Row
    try:
        for p in con.execute("SELECT * FROM participants"):
            assert PROLIFIC_ID_RE.fullmatch(p["prolific_pid"]), p["prolific_pid"]
            assert OPTIONAL_ID_RE.fullmatch(p["study_id"])
            assert OPTIONAL_ID_RE.fullmatch(p["session_id"])
            positions = [
                r[0]
                for r in con.execute(
                    "SELECT trial_index FROM trials WHERE participant_id=? ORDER BY trial_index", (p["id"],)
                )
            ]
            assert positions == list(range(len(positions)))
        for r in con.execute(
            "SELECT r.*, t.stimulus_id AS t_stimulus, t.kind AS t_kind, p.consented_at "
            "FROM responses r JOIN participants p ON p.id = r.participant_id "
            "LEFT JOIN trials t ON t.participant_id = r.participant_id "
            "AND t.trial_index = r.trial_index"
        ):
            assert r["t_stimulus"] == r["stimulus_id"] and r["t_kind"] == r["kind"]
            assert r["response"] in (0, 1)
            assert r["consented_at"] is not None
            assert REQUEST_ID_RE.fullmatch(r["request_id"])
            assert r["rt_ms"] is None or 0 <= r["rt_ms"] <= RT_MAX_MS
            assert r["shown_at"] is None or (SHOWN_AT_MIN_MS / 1000 <= r["shown_at"] <= SHOWN_AT_MAX_MS / 1000)
    finally:
        con.close()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ExportWarning)
        paths = export_study(target["study"], tmp_path / "export" / "responses.csv")
    problems = [str(w.message) for w in caught if issubclass(w.category, ExportWarning)]
    assert not problems, problems
    if pd.read_csv(paths["responses"]).shape[0]:
        read_responses(paths["responses"])  # the contract's checks
    parts = pd.read_csv(paths["participants"])
    assert (parts["n_answered"] <= parts["n_trials"]).all()
    assert (parts["attention_answered"] <= parts["attention_checks"]).all()


# -- the endpoints ---------------------------------------------------------------------------
def test_fuzz_session(target, tmp_path):
    fields = {
        "prolific_pid": ids,
        "study_id": ids,
        "session_id": ids,
        "token": st.one_of(st.none(), ids, st.sampled_from(target["tokens"])),
    }
    valid = st.fixed_dictionaries(
        {
            "prolific_pid": st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
            "session_id": st.from_regex(r"[A-Za-z0-9_-]{0,64}", fullmatch=True),
        }
    )

    @FUZZ
    @given(body=bodies(fields, valid), raw=st.one_of(st.none(), st.none(), st.none(), st.binary(max_size=200)))
    def run(body, raw):
        check_answer(post(target, "/api/session", body, None, raw))

    run()
    check_database_and_export(target, tmp_path)


def test_fuzz_consent(target, tmp_path):
    @FUZZ
    @given(body=bodies({"agree": json_values}, st.just({"agree": True})), token=tokens(target))
    def run(body, token):
        check_answer(post(target, "/api/consent", body, token))

    run()
    check_database_and_export(target, tmp_path)


def test_fuzz_responses(target, tmp_path):
    trials = target["trials"]
    stimulus = st.one_of(ids, st.sampled_from(target["stimuli"]), st.sampled_from([t["stimulus_id"] for t in trials]))
    fields = {
        "request_id": st.one_of(ids, st.uuids().map(lambda u: u.hex)),
        "stimulus_id": stimulus,
        "trial_index": st.one_of(numbers, st.integers(0, 12), ids),
        "response": st.one_of(st.sampled_from([1, 0, 1.0, True, "1", "Yes", "No", "", 2, -1]), json_values),
        "rt_ms": st.one_of(numbers, st.none(), ids),
        "shown_at": st.one_of(numbers, st.none(), st.floats(1.6e12, 1.8e12)),
    }

    @FUZZ
    @given(data=st.data())
    def run(data):
        if data.draw(st.integers(0, 3), label="random body") == 0:
            body, token = data.draw(bodies(fields)), data.draw(tokens(target))
        else:  # a real participant's valid answer, mutated (or not: it may be stored)
            token, trial = data.draw(st.sampled_from(target["answers"]))
            valid = st.builds(lambda u: answer_body(trial, u.hex), st.uuids())
            body = data.draw(st.one_of(valid, bodies(fields, valid).filter(lambda b: isinstance(b, dict))))
        check_answer(post(target, "/api/responses", body, token))

    run()
    check_database_and_export(target, tmp_path)


def test_fuzz_complete_and_images(target, tmp_path):
    @FUZZ
    @given(body=json_values, token=tokens(target), image=st.one_of(ids, st.sampled_from(target["stimuli"])))
    def run(body, token, image):
        check_answer(post(target, "/api/complete", body, token))
        r = target["client"].get("/images/" + quote(image, safe=""))
        assert r.status_code in (200, 404), (image, r.status_code)

    run()
    check_database_and_export(target, tmp_path)
