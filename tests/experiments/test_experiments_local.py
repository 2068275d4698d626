"""Run store + local executor on the plain body: idempotence, resume, changed config."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from experiments_helpers import SLEEP_ENV, plain_body, plain_config, read_all_predictions

from cubeworld.experiments.config import load_config
from cubeworld.experiments.runner import execute_run
from cubeworld.experiments.store import DONE, FAILED, TODO, RunConfigChanged
from cubeworld.experiments.study import run_study, status_table, study_status

WORK = functools.partial(execute_run, body=plain_body)


def test_plain_study_runs_every_run_then_does_nothing(tmp_path):
    cfg = plain_config(tmp_path)
    result = run_study(cfg, work=WORK, progress=False, report=False)
    # zero-shot once, two conditions x two seeds
    assert sorted(result.states) == [
        "base/joint/seed-0",
        "base/joint/seed-1",
        "base/towers/seed-0",
        "base/towers/seed-1",
        "base/zero-shot/seed-none",
    ]
    assert result.ok and result.skipped == 0
    study = tmp_path / "runs" / "plain"
    tables = read_all_predictions(study)
    assert "base/towers/seed-1/predictions/epoch-2/towers-eval.csv" in tables
    assert "base/zero-shot/seed-none/predictions/epoch-0/pyramids-eval.csv" in tables
    resolved = json.loads((study / "base/joint/seed-0/run.json").read_text())
    assert [p["n"] for p in resolved["condition"]["train"]] == [4, 4]
    mtimes = {p: p.stat().st_mtime_ns for p in study.rglob("*") if p.is_file()}

    again = run_study(cfg, work=WORK, progress=False, report=False)
    assert again.skipped == 5 and again.ok
    # nothing was rewritten
    changed = [p for p in study.rglob("*") if p.is_file() and p.stat().st_mtime_ns != mtimes.get(p)]
    assert changed == []
    assert {r.state for r in study_status(cfg)} == {DONE}


def test_more_epochs_resume_a_finished_run(tmp_path):
    cfg = plain_config(tmp_path, seeds=(0,))
    run_study(cfg, work=WORK, progress=False, report=False)
    run_dir = tmp_path / "runs/plain/base/towers/seed-0"
    epoch1 = (run_dir / "predictions/epoch-1/towers-eval.csv").stat().st_mtime_ns
    plain_config(tmp_path, seeds=(0,), epochs=3)
    result = run_study(cfg, work=WORK, progress=False, report=False)
    assert result.ok and result.skipped == 1  # zero-shot; the others go on to epoch 3
    assert (run_dir / "predictions/epoch-3/towers-eval.csv").is_file()
    assert (run_dir / "predictions/epoch-1/towers-eval.csv").stat().st_mtime_ns == epoch1


def test_changed_config_is_an_error_unless_restart(tmp_path):
    cfg = plain_config(tmp_path, seeds=(0,))
    run_study(cfg, work=WORK, progress=False, report=False)
    plain_config(tmp_path, seeds=(0,), epochs=1)
    with pytest.raises(RunConfigChanged, match=r"(?s)base/towers/seed-0: training.*--restart"):
        run_study(cfg, work=WORK, progress=False, report=False)
    states = {r.run_id: r for r in study_status(cfg)}
    assert states["base/towers/seed-0"].state == FAILED
    assert "config changed" in states["base/towers/seed-0"].detail
    assert states["base/zero-shot/seed-none"].state == DONE  # zero-shot has no epochs
    result = run_study(cfg, work=WORK, progress=False, report=False, restart=True)
    assert result.ok
    assert not (tmp_path / "runs/plain/base/towers/seed-0/predictions/epoch-2").exists()


def test_failed_run_is_reported_and_resumes(tmp_path):
    cfg = plain_config(tmp_path, seeds=(0,))

    def broken(task):
        if task.spec.condition == "joint":
            raise RuntimeError("boom")
        plain_body(task)

    result = run_study(cfg, work=functools.partial(execute_run, body=broken), progress=False, report=False)
    assert result.states["base/joint/seed-0"] == FAILED
    row = {r.run_id: r for r in study_status(cfg)}["base/joint/seed-0"]
    assert row.state == FAILED and "boom" in row.detail
    assert "1 failed" in status_table(study_status(cfg))
    result = run_study(cfg, work=WORK, progress=False, report=False)
    assert result.ok and result.skipped == 2


def test_kill_mid_run_then_rerun_gives_identical_predictions(tmp_path):
    """Kill the study process during an epoch; the rerun finishes the same tables."""
    cfg = plain_config(tmp_path, seeds=(0, 1), epochs=3)
    reference = tmp_path / "reference"
    reference.mkdir()
    plain_config(reference, seeds=(0, 1), epochs=3)
    run_study(reference / "plain.yaml", work=WORK, progress=False, report=False)
    expected = read_all_predictions(reference / "runs" / "plain")

    script = (
        f"import functools, sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from experiments_helpers import plain_body\n"
        "from cubeworld.experiments.runner import execute_run\n"
        "from cubeworld.experiments.study import run_study\n"
        f"run_study({str(cfg)!r}, work=functools.partial(execute_run, body=plain_body), progress=False,"
        " report=False)\n"
    )
    env = {**os.environ, SLEEP_ENV: "0.4"}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    study = tmp_path / "runs" / "plain"
    deadline = time.monotonic() + 60
    # kill once the first fine-tuning run has finished and the second is under way
    while time.monotonic() < deadline:
        if (study / "base/towers/seed-0/done.json").exists() and (study / "base/towers/seed-1/state.json").exists():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = {r.run_id for r in study_status(cfg) if r.state == DONE}
    assert "base/towers/seed-0" in done_before
    tables_before = {
        k: v for k, v in read_all_predictions(study).items() if any(k.startswith(r + "/") for r in done_before)
    }
    states = {r.run_id: r.state for r in study_status(cfg)}
    assert states["base/towers/seed-1"] == FAILED  # interrupted: resumable
    assert states["base/joint/seed-1"] == TODO

    result = run_study(cfg, work=WORK, progress=False, report=False)
    assert result.ok
    after = read_all_predictions(study)
    assert after == expected
    for k, v in tables_before.items():
        assert after[k] == v


def test_status_before_anything_ran(tmp_path):
    cfg = plain_config(tmp_path)
    rows = study_status(cfg)
    assert len(rows) == 5 and {r.state for r in rows} == {TODO}
    assert load_config(cfg).study_dir == tmp_path / "runs" / "plain"


def test_slurm_without_sbatch_is_one_clear_error(tmp_path, monkeypatch):
    from cubeworld.experiments.executors import SlurmSubmitError

    cfg = plain_config(tmp_path, seeds=(0,), executor="slurm")
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(SlurmSubmitError, match=r"submitting 3 run\(s\) to Slurm failed"):
        run_study(cfg, work=WORK, progress=False, report=False)
    assert {r.state for r in study_status(cfg)} == {TODO}


# -- evaluation is additive --------------------------------------------------------------


def _add_eval_set(root: Path) -> None:
    """A third evaluation set, added to the study after it ran."""
    from experiments_helpers import make_set

    make_set(root / "sets", "towers-extra", "tower", sizes=(4,), per_cell=1)
    text = (root / "plain.yaml").read_text()
    text = text.replace(
        "evaluation: [towers-eval, pyramids-eval]", "evaluation: [towers-eval, pyramids-eval, towers-extra]"
    )
    text = text.replace(
        "  pyramids-eval: {path: sets/pyramids-eval}",
        "  pyramids-eval: {path: sets/pyramids-eval}\n  towers-extra: {path: sets/towers-extra}",
    )
    (root / "plain.yaml").write_text(text)


def test_an_added_evaluation_set_scores_only_what_is_missing(tmp_path):
    cfg = plain_config(tmp_path, seeds=(0,))
    run_study(cfg, work=WORK, progress=False, report=False)
    study = tmp_path / "runs" / "plain"
    before = {p: p.stat().st_mtime_ns for p in study.rglob("predictions/*/*.csv")}
    _add_eval_set(tmp_path)
    rows = {r.run_id: r for r in study_status(cfg)}
    assert {r.state for r in rows.values()} == {TODO}
    assert "evaluation missing: towers-extra (not scored yet)" in rows["base/towers/seed-0"].detail
    assert "evaluation missing: towers-extra" in status_table(list(rows.values()))
    result = run_study(cfg, work=WORK, progress=False, report=False)  # no --restart needed
    assert result.ok and result.skipped == 0
    after = {p: p.stat().st_mtime_ns for p in study.rglob("predictions/*/*.csv")}
    assert {p: after[p] for p in before} == before  # nothing scored before was touched
    new = sorted(str(p.relative_to(study)) for p in set(after) - set(before))
    assert new == [
        f"base/{c}/predictions/epoch-{k}/towers-extra.csv"
        for c, ks in (("joint/seed-0", (0, 1, 2)), ("towers/seed-0", (0, 1, 2)), ("zero-shot/seed-none", (0,)))
        for k in ks
    ]
    assert {r.state for r in study_status(cfg)} == {DONE}


def test_more_seeds_add_runs_and_touch_none(tmp_path):
    cfg = plain_config(tmp_path, seeds=(0,))
    run_study(cfg, work=WORK, progress=False, report=False)
    plain_config(tmp_path, seeds=(0, 1))
    rows = {r.run_id: r for r in study_status(cfg)}
    assert rows["base/towers/seed-1"].state == TODO and rows["base/towers/seed-1"].detail == "not started"
    assert rows["base/towers/seed-0"].state == DONE
    result = run_study(cfg, work=WORK, progress=False, report=False)
    assert result.ok and result.skipped == 3


def test_a_changed_hyperparameter_still_refuses(tmp_path):
    cfg = plain_config(tmp_path, seeds=(0,))
    run_study(cfg, work=WORK, progress=False, report=False)
    text = cfg.read_text().replace("training: {epochs: 2}", "training: {epochs: 2, lr: 0.001}")
    cfg.write_text(text)
    with pytest.raises(RunConfigChanged, match=r"base/towers/seed-0: training"):
        run_study(cfg, work=WORK, progress=False, report=False)
    rows = {r.run_id: r for r in study_status(cfg)}
    assert rows["base/zero-shot/seed-none"].state == DONE  # zero-shot learned nothing


def test_a_run_is_never_scored_on_the_stimuli_it_trained_on(tmp_path):
    """Training on one part of a split: the run skips the parent and the same part, and is
    scored on the other part; other conditions are scored on all three."""
    from experiments_helpers import make_set

    cfg = plain_config(tmp_path, seeds=(0,))
    make_set(tmp_path / "sets", "photos", "tower", per_cell=2)
    text = cfg.read_text()
    text = text.replace(
        "  towers-eval: {path: sets/towers-eval}",
        "  towers-eval: {path: sets/towers-eval}\n"
        "  photos: {path: sets/photos}\n"
        "  half-a: {split: photos, part: train, fraction: 0.5, seed: 3}\n"
        "  half-b: {split: photos, part: test, fraction: 0.5, seed: 3}",
    )
    text = text.replace(
        "evaluation: [towers-eval, pyramids-eval]", "evaluation: [photos, pyramids-eval, half-a, half-b]"
    )
    text = text.replace("  towers: {train: [towers]}", "  towers: {train: [half-a]}")
    cfg.write_text(text)
    result = run_study(cfg, work=WORK, progress=False, report=False)
    assert result.ok
    study = tmp_path / "runs" / "plain"
    scored = sorted(p.stem for p in (study / "base/towers/seed-0/predictions/epoch-2").glob("*.csv"))
    assert scored == ["half-b", "pyramids-eval"]
    scored = sorted(p.stem for p in (study / "base/joint/seed-0/predictions/epoch-2").glob("*.csv"))
    assert scored == ["half-a", "half-b", "photos", "pyramids-eval"]
    row = {r.run_id: r for r in study_status(cfg)}["base/towers/seed-0"]
    assert row.state == DONE and "photos (shares stimuli with training set 'half-a'" in row.detail


def test_a_run_waiting_for_human_labels_holds_back_nothing(tmp_path):
    cfg = plain_config(tmp_path, seeds=(0,))
    text = cfg.read_text().replace(
        "  towers: {train: [towers]}",
        "  towers: {train: [towers]}\n  human: {train: [{set: towers, labels: {humans: later.csv}}]}",
    )
    cfg.write_text(text)
    with pytest.warns(UserWarning, match="later.csv not found; the run waits"):
        result = run_study(cfg, work=WORK, progress=False, report=False)
    assert result.ok and result.states["base/human/seed-0"] == "waiting"
    assert sum(s == DONE for s in result.states.values()) == 3
    row = {r.run_id: r for r in study_status(cfg)}["base/human/seed-0"]
    assert row.state == "waiting" and "later.csv" in row.detail
    assert "1 waiting" in status_table(study_status(cfg))


def test_a_refused_study_run_rewrites_nothing_not_even_study_json(tmp_path):
    """Issue 23, item 12: a run refused for a changed config leaves study.json as it was."""
    cfg = plain_config(tmp_path, seeds=(0,))
    run_study(cfg, work=WORK, progress=False, report=False)
    summary = tmp_path / "runs/plain/study.json"
    before = (summary.read_bytes(), summary.stat().st_mtime_ns)
    plain_config(tmp_path, seeds=(0,), epochs=1)
    with pytest.raises(RunConfigChanged):
        run_study(cfg, work=WORK, progress=False, report=False)
    assert (summary.read_bytes(), summary.stat().st_mtime_ns) == before
