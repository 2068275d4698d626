"""A human study works for any stimulus family, and the app never branches on a domain name.

A family that the human stage has never heard of ("arch") is registered for the test, as a
newcomer would register one; a study over its set runs end to end on a real server with the
family's own words.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import httpx
import pandas as pd
import pytest
from human_helpers import ServerProcess, answer_body, make_set, start_participant
from typer.testing import CliRunner

import cubeworld.human
from cubeworld.human.cli import human_app
from cubeworld.human.config import load_human_config
from cubeworld.human.errors import HumanStudyError
from cubeworld.human.export import export_study
from cubeworld.human.study import create_human_study
from cubeworld.stimuli.families import FAMILIES
from cubeworld.stimuli.families.tower import TowerFamily

DOMINO_PROMPT = (
    "You are now viewing an arch of blocks. Will the arch fall? Answer Yes "
    "if you think the arch will fall. Answer No if you think it will not."
)
DOMINO_QUESTION = "Will the arch fall?"


class ArchFamily(TowerFamily):
    """A family the human stage has never heard of: its own domain, words and sizes."""

    domain = "arch"
    command = "arches"
    description = "Arches: will the arch fall?"
    prompt = DOMINO_PROMPT
    question = DOMINO_QUESTION
    sizes = (4, 6, 8)
    stream_code = 98


@pytest.fixture
def domino(monkeypatch):
    """Register the new family in the stimulus-family registry (restored after the test)."""
    monkeypatch.setattr(FAMILIES, "_entries", dict(FAMILIES._entries))
    FAMILIES.register(ArchFamily.domain, ArchFamily())
    return ArchFamily.domain


@pytest.mark.parametrize("design, kw", [("same", {}), ("spread", {"items": 3})])
def test_a_new_family_runs_end_to_end(tmp_path, domino, design, kw):
    set_dir = make_set(tmp_path / "set", 6, domain=domino)
    study = create_human_study(set_dir, tmp_path / "study", design, **kw)
    cfg = load_human_config(study)
    assert (cfg.domain, cfg.prompt, cfg.question) == (domino, DOMINO_PROMPT, DOMINO_QUESTION)
    server = ServerProcess(study).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            s = start_participant(c, "fam1")
            assert s["study"]["prompt"] == DOMINO_PROMPT
            assert s["study"]["question"] == DOMINO_QUESTION
            h = {"X-Participant-Token": s["token"]}
            for t in s["trials"]:
                r = c.post("/api/responses", json=answer_body(t, f"req-fam-{t['trial_index']:04d}"), headers=h)
                assert r.status_code == 200, r.text
            assert c.post("/api/complete", headers=h).status_code == 200
    finally:
        server.stop()
    df = pd.read_csv(export_study(study, tmp_path / "out" / "responses.csv")["responses"])
    assert set(df["domain"]) == {domino} and len(df) == (6 if design == "same" else 3)
    assert set(df["n_blocks"]) <= {4, 6, 8}


def test_a_set_asking_another_prompt_than_its_family_is_refused(tmp_path, domino):
    set_dir = make_set(tmp_path / "set", 2, domain=domino)
    meta = set_dir / "metadata.jsonl"
    rows = [json.loads(x) for x in meta.read_text().splitlines()]
    meta.write_text("".join(json.dumps({**r, "prompt": "Is this a domino?"}) + "\n" for r in rows))
    with pytest.raises(HumanStudyError, match="'arch' stimulus family asks"):
        create_human_study(set_dir, tmp_path / "study", "same")
    assert not (tmp_path / "study").exists()


def test_a_set_of_an_unknown_family_is_one_line_error(tmp_path, domino):
    set_dir = make_set(tmp_path / "set", 2, domain=domino)
    del FAMILIES._entries[domino]  # the family is gone (monkeypatch restores the registry after)
    r = CliRunner().invoke(
        human_app, ["create", "--set", str(set_dir), "--design", "same", "--out", str(tmp_path / "study")]
    )
    assert r.exit_code == 2 and "'arch'" in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1


def _string_literals(path: Path) -> list[str]:
    if path.suffix == ".py":  # every str constant, the parts of f-strings included
        return [
            n.value
            for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.Constant) and isinstance(n.value, str)
        ]
    return re.findall(r"""["']([^"'\n]*)["']""", path.read_text())


def test_the_human_app_never_names_a_domain():
    """No `domain == "tower"` anywhere in the human stage (Python, page, styles): every word
    a participant sees comes from the stimulus family."""
    root = Path(cubeworld.human.__file__).parent
    sources = [
        p
        for p in root.rglob("*")
        if p.suffix in (".py", ".js", ".html", ".css") and "node_modules" not in p.parts and "vendor" not in p.parts
    ]
    assert len(sources) > 10
    for path in sources:
        for literal in _string_literals(path):
            assert literal.strip().lower() not in FAMILIES, (path, literal)
