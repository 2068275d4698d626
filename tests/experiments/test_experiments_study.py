"""A real study end to end with the real stages: MuJoCo sets, the tiny Qwen2-VL, a CNN,
the analysis.

A tests-only study of the shape of the paper's grid, smaller: zero-shot, one ground-truth
condition, one joint condition, one human-label condition; the tiny VLM and a small CNN;
one seed; two epochs with evaluation after each. Run once locally (module fixture); then:
a second run does nothing, an evaluation set added later is scored from the checkpoints
without training again, a killed run resumes to identical predictions (after its study
folder was moved), and the Slurm executor gives the same predictions as the local one.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from cubeworld.experiments.config import load_config
from cubeworld.experiments.prepare import prepare_sets
from cubeworld.experiments.store import DONE
from cubeworld.experiments.study import run_study, study_status
from cubeworld.formats.sets import load_set

pytestmark = pytest.mark.slow

STUDY = """\
name: tiny-study
runs_dir: runs
models:
  tiny: {{source: tiny}}
  cnn: {{kind: cnn, training: {{image_size: 32, channels: [4, 8]}}}}
  physics: {{kind: physics, scoring: {{n_simulations: 3, workers: 1}}}}
sets:
  towers-train: {{domain: tower, sizes: [2, 3], per_size: 4, seed: 11, resolution: 56}}
  pyramids-train: {{domain: pyramid, sizes: [3], per_size: 4, seed: 12, resolution: 56}}
  towers-eval: {{domain: tower, sizes: [2, 4], per_size: 2, seed: 21, resolution: 56}}
  pyramids-eval: {{domain: pyramid, sizes: [3], per_size: 2, seed: 22, resolution: 56}}
conditions:
  zero-shot: {{zero_shot: true}}
  towers: {{train: [{{set: towers-train, n: 8}}]}}
  joint: {{size: 8, train: [{{set: towers-train, proportion: 0.5}}, {{set: pyramids-train, proportion: 0.5}}]}}
  human-towers: {{train: [{{set: towers-train, n: 8, labels: {{humans: humans.csv}}}}]}}
evaluation: [towers-eval, pyramids-eval]
seeds: [0]
training: {{epochs: 2, batch_size: 4, max_pixels: 3136}}
executor:
  kind: {executor}
  slurm: {{gpus_per_node: 0, cpus_per_task: 1, mem_gb: 4, timeout_min: 20, poll_s: 1}}
"""


def write_study(root: Path, executor: str = "local") -> Path:
    """The study config plus a human table for its training towers (two 'participants':
    one answers the truth, one always Yes), so the human-label condition can run."""
    root.mkdir(parents=True, exist_ok=True)
    cfg = root / "study.yaml"
    cfg.write_text(STUDY.format(executor=executor))
    prepare_sets(load_config(cfg), ["towers-train"], progress=False)
    rows = load_set(root / "runs/tiny-study/sets/towers-train").rows
    humans = [
        {"stimulus_id": r.stimulus_id, "participant": p, "response": v}
        for r in rows
        for p, v in (("p1", int(r.falls)), ("p2", 1))
    ]
    pd.DataFrame(humans).to_csv(root / "humans.csv", index=False)
    return cfg


def predictions(study_dir: Path) -> dict[str, pd.DataFrame]:
    """Each run's tables, minus the `model` column (it holds the study's own model path)."""
    out = {}
    for p in sorted(study_dir.glob("*/*/seed-*/predictions/epoch-*/*.csv")):
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
        out[str(p.relative_to(study_dir))] = (
            df.drop(columns=["model"]).sort_values(["stimulus_id"]).reset_index(drop=True)
        )
    return out


FLOATS = ("p_yes", "logp_yes", "logp_no", "p_other")


def assert_same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    """Equal tables: every column exactly, except the probabilities, equal to 1e-6. (Runs in
    another process can differ in the 8th digit: CPU kernels may pick another code path for
    differently aligned buffers; a resume or executor error moves them far more.)"""
    assert sorted(a) == sorted(b)
    for k in a:
        floats = [c for c in FLOATS if c in a[k].columns]
        pd.testing.assert_frame_equal(a[k].drop(columns=floats), b[k].drop(columns=floats), obj=k)
        for c in floats:
            x = pd.to_numeric(a[k][c], errors="coerce")
            y = pd.to_numeric(b[k][c], errors="coerce")
            assert ((x - y).abs().fillna(0) < 1e-6).all() and (x.isna() == y.isna()).all(), (k, c)


@pytest.fixture(scope="module")
def local_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("local")
    cfg = write_study(root)
    result = run_study(cfg, progress=False, threads=1)
    return cfg, result


def test_local_study_runs_and_reports(local_study):
    cfg, result = local_study
    assert result.ok, result.states
    assert sorted(result.states) == [
        "cnn/human-towers/seed-0",
        "cnn/joint/seed-0",
        "cnn/towers/seed-0",
        "physics/zero-shot/seed-none",
        "tiny/human-towers/seed-0",
        "tiny/joint/seed-0",
        "tiny/towers/seed-0",
        "tiny/zero-shot/seed-none",
    ]
    study = cfg.parent / "runs/tiny-study"
    tables = predictions(study)
    # per-epoch evaluation on both sets; zero-shot only at epoch 0
    for epoch in (0, 1, 2):
        assert f"tiny/joint/seed-0/predictions/epoch-{epoch}/towers-eval.csv" in tables
        assert f"cnn/joint/seed-0/predictions/epoch-{epoch}/pyramids-eval.csv" in tables
    assert set(tables["cnn/towers/seed-0/predictions/epoch-2/towers-eval.csv"]["kind"]) == {"cnn"}
    phys = tables["physics/zero-shot/seed-none/predictions/epoch-0/pyramids-eval.csv"]
    assert set(phys["kind"]) == {"physics"} and len(phys) == 2
    assert "tiny/zero-shot/seed-none/predictions/epoch-0/pyramids-eval.csv" in tables
    assert not (study / "tiny/zero-shot/seed-none/predictions/epoch-1").exists()
    zs = tables["tiny/zero-shot/seed-none/predictions/epoch-0/towers-eval.csv"]
    assert set(zs["condition"]) == {"zero-shot"} and set(zs["seed"]) == {""}
    assert len(zs) == 4  # 2 sizes x 2
    # checkpoints per epoch
    assert (study / "tiny/towers/seed-0/checkpoints/epoch-2").is_dir()
    # the report with its figures
    assert result.report is not None and result.report.is_file()
    for kind in ("accuracy_by_blocks", "accuracy_heatmap", "accuracy_over_epochs", "kappa"):
        assert (result.report.parent / f"fig_{kind}.png").is_file(), kind
    # the human condition trained on the human table's majority
    import json

    state = json.loads((study / "tiny/human-towers/seed-0/state.json").read_text())
    assert state["config"]["labels"].endswith("humans.csv")


def test_second_run_does_nothing(local_study):
    cfg, _ = local_study
    study = cfg.parent / "runs/tiny-study"
    before = {p: p.stat().st_mtime_ns for p in study.rglob("*") if p.is_file()}
    again = run_study(cfg, progress=False, threads=1)
    assert again.ok and again.skipped == 8 and again.report is not None
    after = {p: p.stat().st_mtime_ns for p in study.rglob("*") if p.is_file()}
    assert before == after  # not a byte written: not even the report
    assert {r.state for r in study_status(cfg)} == {DONE}


def test_killed_and_moved_study_resumes_to_identical_predictions(local_study, tmp_path):
    cfg_ref, _ = local_study
    expected = predictions(cfg_ref.parent / "runs/tiny-study")
    cfg = write_study(tmp_path / "killed")
    study = cfg.parent / "runs/tiny-study"
    script = (
        "import torch; torch.set_num_threads(1)\n"
        "from cubeworld.experiments.study import run_study\n"
        f"run_study({str(cfg)!r}, progress=False, report=False)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 240
    # kill during the training of the second fine-tuning run of the VLM (after its epoch 1)
    target = study / "tiny/joint/seed-0/checkpoints/epoch-1"
    while time.monotonic() < deadline and not target.exists() and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the study ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # the study folder is moved whole (to a bigger disk, say) before it is resumed
    shutil.move(tmp_path / "killed", tmp_path / "moved")
    cfg = tmp_path / "moved" / cfg.relative_to(tmp_path / "killed")
    study = cfg.parent / "runs/tiny-study"
    done = {r.run_id for r in study_status(cfg) if r.state == DONE}
    assert "tiny/towers/seed-0" in done and "tiny/joint/seed-0" not in done
    before = {k: v for k, v in predictions(study).items() if any(k.startswith(r + "/") for r in done)}
    result = run_study(cfg, progress=False, report=False, threads=1)
    assert result.ok
    after = predictions(study)
    assert_same(after, expected)
    assert_same({k: after[k] for k in before}, before)


@pytest.mark.slurm
def test_slurm_executor_gives_the_same_predictions(local_study, tmp_path, slurm_cluster):
    cfg_ref, _ = local_study
    cfg = write_study(tmp_path / "slurm", executor="slurm")
    result = run_study(cfg, progress=False, report=False, threads=1)
    assert result.ok, result.states
    assert_same(predictions(cfg.parent / "runs/tiny-study"), predictions(cfg_ref.parent / "runs/tiny-study"))


def test_an_added_evaluation_set_is_scored_from_the_checkpoints(local_study):
    """Lerer100's held-out half added to the finished study (last test of this module: it
    changes the module's study): every run scores it for every epoch from its saved
    checkpoints; nothing is trained again, nothing else rewritten."""
    cfg, _ = local_study
    study = cfg.parent / "runs/tiny-study"
    kept = {
        p: p.stat().st_mtime_ns
        for p in study.rglob("*")
        if p.is_file() and ("checkpoints" in p.parts or p.suffix == ".csv" or p.name == "state.json")
    }
    text = cfg.read_text()
    text = text.replace(
        "sets:\n",
        "sets:\n  lerer100: {dataset: lerer100}\n"
        "  lerer-heldout: {split: lerer100, part: test, fraction: 0.5, seed: 7}\n",
    )
    text = text.replace(
        "evaluation: [towers-eval, pyramids-eval]", "evaluation: [towers-eval, pyramids-eval, lerer-heldout]"
    )
    cfg.write_text(text)
    missing = {r.run_id: r.detail for r in study_status(cfg)}
    assert all("evaluation missing: lerer-heldout" in d for d in missing.values()), missing
    result = run_study(cfg, progress=False, report=False, threads=1)
    assert result.ok, result.states
    now = {p: p.stat().st_mtime_ns for p in kept}
    assert now == kept  # no checkpoint, state or earlier table rewritten
    tables = predictions(study)
    n = len(load_set(study / "sets/lerer-heldout"))
    assert 45 <= n <= 55
    for run, epochs in (
        ("tiny/towers/seed-0", (0, 1, 2)),
        ("cnn/joint/seed-0", (0, 1, 2)),
        ("tiny/zero-shot/seed-none", (0,)),
    ):
        for k in epochs:
            t = tables[f"{run}/predictions/epoch-{k}/lerer-heldout.csv"]
            assert len(t) == n and set(t["set"]) == {"lerer-heldout"}
    # the physics observer skips the photos, with the reason in the status
    assert "physics/zero-shot/seed-none/predictions/epoch-0/lerer-heldout.csv" not in tables
    row = {r.run_id: r for r in study_status(cfg)}["physics/zero-shot/seed-none"]
    assert row.state == DONE and "lerer-heldout (photos without a recorded scene" in row.detail
