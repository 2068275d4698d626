"""The `modes` analysis: accuracy and extraction failures per prompting mode, agreement
between modes; rows without an answer never read as a "No" anywhere in the report."""

from __future__ import annotations

import pandas as pd
import pytest

from cubeworld.analysis import analyze


def _mode(df: pd.DataFrame, mode: str, fail_every: int = 0) -> pd.DataFrame:
    """`df` as the same model asked in `mode`: every `fail_every`-th row unanswered."""
    df = df.astype({"p_yes": object, "answer": object})
    if mode != "logprob":
        df["model"] = df["model"] + f"@{mode}"
    df["mode"] = mode
    df["extraction"] = "ok" if mode != "logprob" else ""
    if fail_every:
        failed = df.index % fail_every == 0
        df.loc[failed, ["answer", "p_yes"]] = ""
        df.loc[failed, "correct"] = False
        df.loc[failed, "extraction"] = "failed: neither yes nor no"
    return df


def test_modes_report_failures_accuracy_and_agreement(tiny, tmp_path):
    a = tiny.make_set(tmp_path / "a", "towers-eval", sizes=(2, 3), per_size=10)
    base = tiny.make_predictions(a, condition="", model="vlm", skill=0.8)
    other = tiny.make_predictions(a, condition="", model="vlm", skill=0.6, rng_seed=5)
    tables = pd.concat([_mode(base, "logprob"), _mode(base, "free", 4), _mode(other, "step", 5)], ignore_index=True)
    pred = tmp_path / "p.csv"
    tables.to_csv(pred, index=False)
    analyze([str(pred)], tmp_path / "o", truth=[a], n_boot=200, progress=False)
    modes = pd.read_csv(tmp_path / "o/modes.csv").set_index("mode")
    assert set(modes["model"]) == {"vlm"} and (modes["asked"] == 20).all()
    assert modes.loc["free", "answered"] == 15 and modes.loc["free", "failure_rate"] == pytest.approx(0.25)
    assert modes.loc["step", "answered"] == 16 and modes.loc["logprob", "failure_rate"] == 0
    answered = base.index % 4 != 0
    assert modes.loc["free", "accuracy"] == pytest.approx(base.loc[answered, "correct"].mean())
    agree = pd.read_csv(tmp_path / "o/mode_agreement.csv").set_index(["mode_a", "mode_b"])
    # free is the logprob answers minus its failures: they agree perfectly where both answered
    assert agree.loc[("free", "logprob"), "n_items"] == 15
    assert agree.loc[("free", "logprob"), "agreement"] == 1 and agree.loc[("free", "logprob"), "kappa"] == 1
    assert agree.loc[("logprob", "step"), "kappa"] < 1
    # No other analysis reads a failure as a "No": accuracy counts the answered rows only.
    acc = pd.read_csv(tmp_path / "o/accuracy.csv")
    assert "vlm@free" in " ".join(acc["observer"].astype(str))
    report = (tmp_path / "o/report.html").read_text()
    assert "Warning: vlm in free mode gave no readable Yes or No on 25%" in report


def test_no_modes_no_table(tiny, tmp_path):
    a = tiny.make_set(tmp_path / "a", "seta")
    pred = tmp_path / "p.csv"
    tiny.make_predictions(a, condition="ft").to_csv(pred, index=False)
    analyze([str(pred)], tmp_path / "o", truth=[a], n_boot=100, progress=False)
    assert not (tmp_path / "o/modes.csv").exists()
