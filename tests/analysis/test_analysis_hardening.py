"""Issue 23 in the analysis: unreadable tables, a bootstrap too large for memory and Ctrl-C
each end in one line and leave no partial report behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tracemalloc
import warnings
from functools import partial

import numpy as np
import pytest
from typer.testing import CliRunner

from cubeworld.cli import app

runner = CliRunner()


def _one_error_line(r) -> str:
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and len(lines) == 1 and lines[0].startswith("error: "), r.output
    return lines[0]


def test_binary_csv_and_corrupt_parquet_are_one_line_errors(tiny, tmp_path):
    a = tiny.make_set(tmp_path / "a", "seta")
    good = tiny.make_predictions(a, condition="ft")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(np.random.default_rng(0).integers(128, 256, 3000, dtype=np.uint8)))
    parquet = tmp_path / "p.parquet"
    good.to_parquet(parquet)
    torn = tmp_path / "torn.parquet"
    torn.write_bytes(parquet.read_bytes()[: parquet.stat().st_size // 2])
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"PAR1" + b"x" * 100 + b"PAR1")
    out = tmp_path / "out"
    for bad, says in ((binary, "not a UTF-8 CSV table"), (torn, "not a readable Parquet"), (garbage, "Parquet")):
        line = _one_error_line(runner.invoke(app, ["analyze", str(bad), "--out", str(out), "--quiet"]))
        assert bad.name in line and says in line
    csv = tmp_path / "p.csv"
    good.to_csv(csv, index=False)
    line = _one_error_line(runner.invoke(app, ["analyze", str(csv), "--humans", str(binary), "--out", str(out)]))
    assert "binary.csv" in line and "not a readable UTF-8 CSV table" in line
    assert not out.exists()


def test_the_memory_estimate_bounds_the_measured_peak():
    """`bootstrap_bytes` is an upper estimate of what the crossed bootstraps take."""
    from cubeworld.analysis.metrics import bootstrap_bytes, human_human_kappa, kappa_to_humans, kappa_to_truth

    rng = np.random.default_rng(0)
    for n, people, seeds in ((60, 40, 1), (40, 25, 3), (300, 5, 1)):
        humans = (rng.random((n, people)) < 0.6).astype(float)
        model = (rng.random((seeds, n)) < 0.6).astype(float)
        truth = (rng.random(n) < 0.5).astype(int)
        for run in (
            partial(kappa_to_humans, model, humans, n_boot=1000),
            partial(kappa_to_truth, model, truth, n_boot=1000),
            partial(human_human_kappa, humans, n_boot=1000),
        ):
            tracemalloc.start()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run()
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert peak < bootstrap_bytes(1000, n, people, seeds), (n, people, seeds, peak)


def test_a_bootstrap_too_large_for_memory_is_refused_before_work(lerer100_set, lerer100_models, tmp_path):
    out = tmp_path / "rep"
    args = ["analyze", str(lerer100_models), "--truth", str(lerer100_set), "--out", str(out), "--quiet"]
    args += ["--humans", str(lerer100_set / "human_responses.csv"), "--n-boot", "1000000"]
    t0 = time.perf_counter()
    line = _one_error_line(runner.invoke(app, args))
    assert "--n-boot 1,000,000" in line and "100 items, 107 participants" in line and "GiB" in line
    assert "use at most 461,885 resamples" in line
    assert time.perf_counter() - t0 < 60 and not out.exists()  # refused after loading, before the bootstrap


def test_an_interrupt_while_writing_leaves_the_previous_report(tiny, tmp_path, monkeypatch):
    """Ctrl-C after some tables and figures are written: none of them reach the folder, the
    previous report stays whole, the CLI says so in one line and exits 130."""
    import cubeworld.analysis.pipeline as pipeline

    a = tiny.make_set(tmp_path / "a", "seta")
    csv = tmp_path / "p.csv"
    tiny.make_predictions(a, condition="ft").to_csv(csv, index=False)
    out = tmp_path / "rep"
    out.mkdir()
    (out / "report.html").write_text("previous report")

    def interrupt(stage, *args, **kwargs):
        assert any(stage.glob("*.csv")) and any(stage.glob("*.png"))  # the work was written, then
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "write_report", interrupt)
    args = ["analyze", str(csv), "--out", str(out), "--quiet", "--n-boot", "200", "--analysis", "accuracy"]
    r = runner.invoke(app, args)
    assert r.exit_code == 130, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("interrupted: ") and "Traceback" not in r.output
    assert sorted(p.name for p in out.iterdir()) == ["report.html"]
    assert (out / "report.html").read_text() == "previous report"
    fresh = tmp_path / "fresh"
    with pytest.raises(KeyboardInterrupt):
        pipeline.analyze(csv, fresh, n_boot=200, progress=False, analyses=["accuracy"])
    assert not fresh.exists()


def test_sigint_during_analyze_exits_130_in_one_line(lerer100_set, lerer100_models, tmp_path):
    """A real SIGINT to the `cubeworld analyze` process while it bootstraps."""
    out = tmp_path / "rep"
    # SIGINT as a terminal delivers it: a shell starts background jobs with SIGINT ignored, and a
    # child inherits that, so the suite run in the background would test nothing.
    code = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); from cubeworld.cli import main; main()"
    cmd = [sys.executable, "-c", code, "analyze", str(lerer100_models)]
    cmd += ["--truth", str(lerer100_set), "--humans", str(lerer100_set / "human_responses.csv")]
    cmd += ["--out", str(out), "--n-boot", "50000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
    seen, deadline = b"", time.monotonic() + 120
    while b"analyze:" not in seen and time.monotonic() < deadline:  # the progress bar: the work has begun
        chunk = os.read(proc.stderr.fileno(), 256)
        if not chunk:
            break
        seen += chunk
    assert b"analyze:" in seen, seen
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    text = (seen + err).decode()
    assert proc.returncode == 130, text
    lines = [line for line in text.replace("\r", "\n").splitlines() if line.strip() and "analyze:" not in line]
    assert "Traceback" not in text and len(lines) == 1 and lines[0].startswith("interrupted: "), text
    assert not out.exists() or not any(out.iterdir())


def test_a_huge_boot_in_the_planner_is_refused_before_simulating(tmp_path):
    out = tmp_path / "plan"
    r = runner.invoke(app, ["human", "plan", "--assurance", "0.8", "--boot", "1000000", "--out", str(out)])
    line = _one_error_line(r)
    assert "--boot 1,000,000" in line and "400 items, 320 participants" in line and "use at most" in line
    assert not out.exists()
