"""`cubeworld probe` end to end on tiny models of two families and a generated tower set:
extraction, the model's own answers, probes, the table and the figure; a second probe
reuses the cache and the fits without loading the model; bad requests are one line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cubeworld.cli import app

FAST = ["--folds", "3", "--c", "1", "--alpha", "10", "--shuffles", "1", "--n-boot", "200", "--no-progress"]
POINTS = ["vision.0", "vision.1", "projector", "decoder.0", "decoder.1"]


def _keys() -> list[tuple[str, str]]:
    return [(p, pool) for p in POINTS for pool in (("image", "answer") if p.startswith("decoder") else ("image",))]


@pytest.mark.parametrize("family", ["qwen2-vl", "smolvlm"])
def test_probe_writes_the_table_beside_the_models_answers(family, tiny_of, towers, tmp_path, monkeypatch):
    from cubeworld.formats.predictions import read_predictions
    from cubeworld.formats.sets import load_set
    from cubeworld.probes import read_results_rows

    model, out = str(tiny_of(family)), tmp_path / "probe"
    result = CliRunner().invoke(app, ["probe", "--model", model, "--set", str(towers), "--out", str(out), *FAST])
    assert result.exit_code == 0, result.output
    assert "falls (12 items): decodable at" in result.output
    table = pd.read_csv(out / "probes.csv")
    assert list(zip(table["point"], table["pool"])) == _keys() * 2
    assert list(table["target"]) == ["falls"] * 7 + ["margin"] * 7 and set(table["domain"]) == {"all", "tower"}
    assert table["score"].notna().all() and (table["score_low"] <= table["score_high"]).all()
    assert set(table["reference_kind"]) == {"shuffled"}
    # The model's own answers, scored into OUT/predictions.csv, sit beside every probe.
    preds = read_predictions(out / "predictions.csv")
    rows = load_set(towers).rows
    assert len(preds) == 12 and set(preds["model"]) == {model}
    truth = {r.stimulus_id: r.falls for r in rows}
    accuracy = np.mean([(a == "Yes") == truth[s] for s, a in zip(preds["stimulus_id"], preds["answer"])])
    assert np.allclose(table["behaviour_accuracy"], accuracy)
    rows = read_results_rows(out / "probes.json")
    assert [r.score for r in rows] == pytest.approx(list(table["score"]))
    assert [r.decodable for r in rows] == list(table["decodable"])
    summary = json.loads((out / "probes.json").read_text())
    assert summary["cache"]["model"] == model and summary["observer"]["model"] == model
    assert summary["config"]["folds"] == 3 and summary["cache"]["settings"]["family"] == family
    assert (out / "probes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "activations" / "index.json").is_file()
    oof = pd.read_csv(out / "probe_predictions.csv")
    assert len(oof) == 24 and "decoder.1@answer" in oof.columns
    if family != "qwen2-vl":
        return

    # Again, on the decoder only (`--layers` is `--points`): the cache, the answers and the
    # fits are reused, the model is never loaded, and the numbers are the same.
    import cubeworld.models.loading as loading

    monkeypatch.setattr(loading, "load_model", lambda *a, **k: pytest.fail("the model was loaded again"))
    again = CliRunner().invoke(
        app, ["probe", "--model", model, "--set", str(towers), "--out", str(out), "--layers", "decoder", *FAST]
    )
    assert again.exit_code == 0, again.output
    sub = pd.read_csv(out / "probes.csv")
    first = table[table["stage"] == "decoder"].reset_index(drop=True)
    assert sub[["target", "point", "pool", "score", "reference", "behaviour_kappa"]].equals(
        first[["target", "point", "pool", "score", "reference", "behaviour_kappa"]]
    )

    # Bad requests: one line, exit 2, nothing written.
    cases = [
        (["--c-grid", "-1"], "error: --c-grid: every value must be a positive finite number"),
        (["--target", "mass"], "error: --target: unknown probe target 'mass'"),
        (["--points", "decoder.9"], "error: points: 'decoder.9' is not a point of"),
    ]
    for extra, message in cases:
        bad = tmp_path / "bad"
        args = ["probe", "--model", model, "--set", str(towers), "--out", str(bad), "--activations"]
        r = CliRunner().invoke(app, [*args, str(out / "activations"), *FAST, *extra])
        assert r.exit_code == 2, r.output
        assert message in r.output and "Traceback" not in r.output
        assert not bad.exists()
    r = CliRunner().invoke(
        app,
        ["probe", "--model", "other", "--set", str(towers), "--out", str(tmp_path / "x"), "--activations"]
        + [str(out / "activations"), *FAST],
    )
    assert r.exit_code == 2 and "holds activations of model=" in r.output
