"""`cubeworld human create | export | serve | progress`: outputs and clear refusals."""

from __future__ import annotations

import json

import pytest
import yaml
from human_helpers import free_port, make_set
from typer.testing import CliRunner

from cubeworld.formats.responses import read_responses
from cubeworld.human import server as server_mod
from cubeworld.human.cli import human_app
from cubeworld.human.config import HumanStudyError, load_human_config
from cubeworld.human.store import Store
from cubeworld.human.study import create_human_study, load_human_study
from cubeworld.stimuli.families import get_family

runner = CliRunner()


def run(*args: str):
    return runner.invoke(human_app, [str(a) for a in args])


def test_cli_create_same_and_spread(tmp_path):
    set_dir = make_set(tmp_path / "set", 5, domain="pyramid")
    r = run(
        "create",
        "--set",
        set_dir,
        "--design",
        "same",
        "--out",
        tmp_path / "eval",
        "--attention-checks",
        "--bonus",
        "0.02",
    )
    assert r.exit_code == 0, r.output
    cfg = load_human_config(tmp_path / "eval")
    assert cfg.design == "same" and cfg.n_items == 5 and cfg.attention_checks
    assert cfg.prompt == get_family("pyramid").prompt and cfg.domain == "pyramid"
    assert cfg.bonus_per_correct == 0.02 and len(cfg.admin_token) >= 32
    assert cfg.completion_code in r.output and "{code}" in cfg.completion_url
    assert len(list((tmp_path / "eval" / "images").glob("*.png"))) == 5
    r = run(
        "create",
        "--set",
        set_dir,
        "--design",
        "spread",
        "--items",
        "2",
        "--out",
        tmp_path / "ft",
        "--images",
        "reference",
        "--completion-code",
        "ABC123",
    )
    assert r.exit_code == 0, r.output
    cfg = load_human_config(tmp_path / "ft")
    assert (cfg.items_per_participant, cfg.completion_code, cfg.images) == (2, "ABC123", "reference")
    assert not (tmp_path / "ft" / "images").exists()
    items = [json.loads(x) for x in (tmp_path / "ft" / "items.jsonl").read_text().splitlines()]
    assert all(it["image"].startswith(str(set_dir.resolve())) for it in items)


@pytest.mark.parametrize(
    "args, words",
    [
        (["--design", "both"], "--design: expected one of ['same', 'spread'], got 'both'"),
        (["--design", "spread"], "--items: the spread design needs it"),
        (["--design", "same", "--items", "3"], "--items: applies to the spread design only"),
        (["--design", "spread", "--items", "0"], "Invalid value for '--items'"),
        # Issue 23, item 13: more items per participant than the study has.
        (["--design", "spread", "--items", "1000"], "--items: 1000 items per participant, but the study has 3 items"),
        # Issue 23, item 3: money is a finite, bounded number.
        (["--design", "same", "--bonus", "nan"], "Invalid value for '--bonus'"),
        (["--design", "same", "--bonus", "inf"], "Invalid value for '--bonus'"),
        (["--design", "same", "--bonus", "-0.5"], "Invalid value for '--bonus'"),
        # Issue 23, item 5: every count and size bounded.
        (["--design", "same", "--attention-every", "1000000"], "Invalid value for '--attention-every'"),
        (["--design", "spread", "--items", "2", "--timeout", "1e9"], "Invalid value for '--timeout'"),
        (["--design", "same", "--seed", "-1"], "Invalid value for '--seed'"),
    ],
)
def test_cli_create_refuses_bad_options(tmp_path, args, words):
    set_dir = make_set(tmp_path / "set", 3)
    r = run("create", "--set", set_dir, "--out", tmp_path / "s", *args)
    assert r.exit_code == 2 and words in r.output, r.output
    assert "Traceback" not in r.output
    assert not (tmp_path / "s" / "study.yaml").exists()


def test_cli_refuses_bad_sets_and_folders(tmp_path):
    r = run("create", "--set", tmp_path / "nope", "--design", "same", "--out", tmp_path / "s")
    assert r.exit_code == 2 and "no such set folder" in r.output
    mixed = make_set(tmp_path / "mixed", 2)
    rows = (mixed / "metadata.jsonl").read_text().splitlines()
    other = make_set(tmp_path / "pyr", 2, domain="pyramid")
    (other / "images").rename(tmp_path / "pyr-images")
    rec = json.loads((other / "metadata.jsonl").read_text().splitlines()[0])
    rec["file_name"] = rows and json.loads(rows[0])["file_name"]
    rec["stimulus_id"] = "pyramid-x"
    (mixed / "metadata.jsonl").write_text("\n".join(rows + [json.dumps(rec)]) + "\n")
    r = run("create", "--set", mixed, "--design", "same", "--out", tmp_path / "s")
    assert r.exit_code == 2 and "mixes domains" in r.output
    ok = make_set(tmp_path / "ok", 2)
    assert run("create", "--set", ok, "--design", "same", "--out", tmp_path / "s").exit_code == 0
    r = run("create", "--set", ok, "--design", "same", "--out", tmp_path / "s")
    assert r.exit_code == 2 and "not empty" in r.output
    r = run("export", tmp_path / "ok", "--out", tmp_path / "r.csv")
    assert r.exit_code == 2 and "not a study folder" in r.output
    r = run("serve", tmp_path / "missing")
    assert r.exit_code == 2 and "no such study folder" in r.output


def test_cli_serve_without_built_front_end_says_install(tmp_path, monkeypatch):
    study = create_human_study(make_set(tmp_path / "set", 2), tmp_path / "s", "same")
    monkeypatch.setattr(server_mod, "VENDOR_DIR", tmp_path / "no-vendor")
    r = run("serve", study, "--port", "8123")
    assert r.exit_code == 2 and "run scripts/install.sh" in r.output, r.output
    r = run("serve", study, "--port", "99999")
    assert r.exit_code == 2 and "65535" in r.output


def test_config_edits_are_checked(tmp_path):
    """study.yaml is read through the typed config: one line with the file, the key's line
    and the key, for a wrong type, a value out of bounds, an unknown key or a misfit."""
    study = create_human_study(make_set(tmp_path / "set", 2), tmp_path / "s", "same")
    path = study / "study.yaml"
    data = yaml.safe_load(path.read_text())
    for key, value, words in [
        ("design", "mixed", "design: expected one of ['same', 'spread'], got 'mixed'"),
        ("bonus_per_correct", -1, "bonus_per_correct: must be at least 0"),
        ("bonus_per_correct", float("nan"), "bonus_per_correct: expected a finite number"),
        ("bonus_per_correct", 1e6, "bonus_per_correct: must be at most 10"),
        ("attention_checks", "yes", "attention_checks: expected true or false"),
        ("admin_token", "short", "admin_token: must be at least 16 characters long"),
        ("colour", "red", "colour: unknown setting"),
        ("image_height_px", 10, "image_height_px: must be at least 64"),
        ("items_per_participant", 1, "items_per_participant: applies to the spread design only"),
        ("block_timeout_minutes", 1e9, "block_timeout_minutes: must be at most 10080"),
    ]:
        text = yaml.safe_dump({**data, key: value})
        path.write_text(text)
        line = next(i for i, x in enumerate(text.splitlines(), start=1) if x.startswith(f"{key}:"))
        with pytest.raises(HumanStudyError) as e:
            load_human_config(study)
        assert str(e.value) == f"{path}:{line}: {words}" or str(e.value).startswith(f"{path}:{line}: {words}"), str(
            e.value
        )
    path.write_text("design: [unclosed")
    with pytest.raises(HumanStudyError, match="YAML syntax error"):
        load_human_config(study)


def test_cli_export_and_progress_of_empty_study(tmp_path):
    study = create_human_study(make_set(tmp_path / "set", 2), tmp_path / "s", "same")
    r = run("export", study, "--out", tmp_path / "x" / "responses.csv")
    assert r.exit_code == 0, r.output
    assert (
        (tmp_path / "x" / "responses.csv")
        .read_text()
        .startswith("stimulus_id,participant,response,rt_ms,trial_index,started_at,answered_at")
    )
    assert (tmp_path / "x" / "bonus.csv").read_text() == ""
    r = run("progress", study)
    assert r.exit_code == 0 and json.loads(r.output)["participants"]["active"] == 0
    with pytest.raises(ValueError):
        read_responses(tmp_path / "x" / "responses.csv")  # empty: the analysis refuses it


def test_changing_the_design_after_data_is_refused(tmp_path):
    """Issue 23, item 6: `design: same` -> `spread` after two people answered the same item
    made `human serve` crash with IntegrityError (the spread index cannot be built over
    such data). The change is refused in one line, by every command; before anyone
    started, the design may still change."""
    study = create_human_study(make_set(tmp_path / "set", 2), tmp_path / "s", "same")
    store = Store(load_human_study(study))
    for pid in ("p1", "p2"):
        s = store.start_session(pid, session_id=pid)
        store.consent(s.token, True)
        t = s.remaining[0]
        store.record(s.token, f"req-{pid}-000", t.stimulus_id, t.trial_index, 1)
    store.close()
    path = study / "study.yaml"
    data = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**data, "design": "spread", "items_per_participant": 1}))
    for args in (
        ["serve", study, "--port", str(free_port())],
        ["progress", study],
        ["export", study, "--out", tmp_path / "r.csv"],
    ):
        r = run(*args)
        assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
        assert "data were collected with design 'same', but study.yaml now says 'spread'" in r.output

    fresh = create_human_study(make_set(tmp_path / "set2", 2), tmp_path / "fresh", "same")
    Store(load_human_study(fresh)).close()  # the database exists, nobody started
    path = fresh / "study.yaml"
    data = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**data, "design": "spread", "items_per_participant": 1}))
    store = Store(load_human_study(fresh))
    assert store.start_session("p1", session_id="p1").total == 1  # a block of one
    store.close()


def test_every_count_and_size_option_of_the_human_commands_is_bounded():
    """Issue 23, item 5: a typo cannot ask for 10**12 of anything (`human plan`, the
    planner's, has its own bounds)."""
    import typer.main

    group = typer.main.get_command(human_app)
    checked = []
    for name, command in group.commands.items():
        if name == "plan":
            continue
        for param in command.params:
            if str(param.bare_type()) in ("int", "float"):
                assert param.max is not None, f"human {name} {param.opts[0]} has no upper bound"
                checked.append(param.opts[0])
    assert {"--items", "--attention-every", "--timeout", "--bonus", "--seed", "--port"} <= set(checked)
