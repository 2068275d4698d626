"""The `cubeworld data` and `cubeworld analyze` commands, and their error messages."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from cubeworld.cli import app

runner = CliRunner()


def test_data_and_analyze_commands(lerer100_src, tmp_path):
    r = runner.invoke(app, ["data", "lerer100", "--from", str(lerer100_src), "--out", str(tmp_path / "set")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "set" / "human_responses.csv").is_file()
    r = runner.invoke(
        app, ["data", "lerer100-models", "--from", str(lerer100_src), "--out", str(tmp_path / "models.csv")]
    )
    assert r.exit_code == 0, r.output
    assert "FUYU on image 509" in r.output
    r = runner.invoke(
        app,
        [
            "analyze",
            str(tmp_path / "models.csv"),
            "--truth",
            str(tmp_path / "set"),
            "--humans",
            str(tmp_path / "set" / "human_responses.csv"),
            "--out",
            str(tmp_path / "rep"),
            "--n-boot",
            "200",
            "--quiet",
            "--analysis",
            "kappa",
        ],
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "rep" / "report.html").is_file()
    assert len(pd.read_csv(tmp_path / "rep" / "kappa.csv")) == 6
    assert "warning:" not in r.output  # (alignment, which warns about ADAPTER, did not run)


def test_cli_errors_are_one_line(tiny, tmp_path):
    r = runner.invoke(app, ["data", "lerer100", "--from", str(tmp_path / "nope"), "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "nope: no such folder" in r.output
    assert "Traceback" not in r.output
    r = runner.invoke(app, ["analyze", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "missing.csv: no such file" in r.output
    a = tiny.make_set(tmp_path / "a", "seta")
    p = tmp_path / "p.csv"
    tiny.make_predictions(a, condition="ft").to_csv(p, index=False)
    h = tmp_path / "h.csv"
    h.write_text("stimulus_id,participant,response\nseta-n2-000,1,perhaps\nseta-n2-001,2,1\n")
    r = runner.invoke(app, ["analyze", str(p), "--humans", str(h), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "h.csv" in r.output and "'perhaps'" in r.output
    r = runner.invoke(app, ["analyze", str(p), "--epoch", "late", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "--epoch" in r.output
    r = runner.invoke(app, ["analyze", str(p), "--epoch", "7", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "no predictions at epoch 7" in r.output


def test_trained_option(tmp_path):
    from cubeworld.analysis.cli import parse_trained

    t = parse_trained(["ft=sets/train", "human=sets/half@sets/half/human_responses.csv"])
    assert (t[0].condition, str(t[0].set_dir), t[0].humans) == ("ft", "sets/train", None)
    assert str(t[1].humans) == "sets/half/human_responses.csv"
    r = runner.invoke(app, ["analyze", "x.csv", "--trained", "no-equals-sign", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "CONDITION=SET_DIR" in r.output and not (tmp_path / "o").exists()
