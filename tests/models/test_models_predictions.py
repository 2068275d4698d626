"""What every VLM prediction row records, and resuming a table only under its own settings."""

from __future__ import annotations

import hashlib
import math
from importlib.metadata import version

import pandas as pd
import pytest

from cubeworld.formats.predictions import (
    OBSERVER_COLUMNS,
    PREDICTION_COLUMNS,
    PredictionsSettingsError,
    read_predictions,
)


def test_rows_record_log_probs_and_provenance(tiny_model, colour_set, tmp_path):
    import torch

    from cubeworld.formats.sets import load_set
    from cubeworld.models import evaluate, load_model
    from cubeworld.models.inputs import encode_prompts, example_of

    s = colour_set("set-v", n=5, domain="pyramid")
    out = evaluate(tiny_model, s, tmp_path / "p.csv", batch_size=3, progress=False)
    header = out.read_text().splitlines()[0].split(",")
    assert header == list(PREDICTION_COLUMNS) + list(OBSERVER_COLUMNS) + ["quantize", "mode"]
    df = read_predictions(out)
    assert set(df["kind"]) == {"vlm"} and set(df["quantize"].astype(str)) == {"none"}
    ly, ln = df["logp_yes"], df["logp_no"]
    assert ((ly < 0) & (ln < 0)).all()
    # p_yes is still the softmax over the two answer logits; p_other the rest of the vocabulary.
    assert (df["p_yes"] - ly.map(math.exp) / (ly.map(math.exp) + ln.map(math.exp))).abs().max() < 1e-6
    assert (df["p_other"] - (1 - ly.map(math.exp) - ln.map(math.exp))).abs().max() < 1e-6
    assert df["p_other"].between(0, 1).all()
    # The log-probabilities are the model's, over its full vocabulary, at the answer position.
    b = load_model(tiny_model)
    st = load_set(s)
    first = st.rows[0]
    with torch.no_grad():
        logits = b.model(**encode_prompts(b.processor, [example_of(st.root, first)])).logits[0, -1]
    logp = torch.log_softmax(logits.float(), -1)
    row = df.set_index("stimulus_id").loc[first.stimulus_id]
    assert row["logp_yes"] == pytest.approx(float(logp[b.yes_id]), abs=1e-5)
    assert row["logp_no"] == pytest.approx(float(logp[b.no_id]), abs=1e-5)
    # Provenance.
    assert set(df["prompt_sha256"]) == {hashlib.sha256(first.prompt.encode()).hexdigest()}
    assert set(df["template_sha256"]) == {hashlib.sha256(b.processor.chat_template.encode()).hexdigest()}
    assert set(df["image_size"]) == {"112x112"}  # 112 px images within the 224 x 224 budget
    assert set(df["max_pixels"]) == {224 * 224} and set(df["dtype"]) == {"float32"}
    assert set(df["batch_size"]) == {3}
    for package in ("torch", "transformers", "peft"):
        assert set(df[f"{package}_version"].astype(str)) == {version(package)}


def test_resuming_under_other_settings_is_refused(tiny_model, colour_set, tmp_path, monkeypatch):
    from cubeworld.models import evaluate, scoring

    s = colour_set("set-s", n=4)
    out = tmp_path / "p.csv"
    evaluate(tiny_model, s, out, image_size=224, progress=False)
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:3]) + "\n")  # a killed run: 2 of 4 rows written
    before = out.read_bytes()
    monkeypatch.setattr(scoring, "load_model", lambda *a, **k: pytest.fail("loaded the weights"))
    with pytest.raises(
        PredictionsSettingsError, match=r"max_pixels='50176'.*max_pixels='12544'.*Differing setting\(s\): max_pixels\. "
    ):
        evaluate(tiny_model, s, out, image_size=112, progress=False)
    with pytest.raises(PredictionsSettingsError, match=r"Differing setting\(s\): dtype"):
        evaluate(tiny_model, s, out, dtype="bfloat16", progress=False)
    assert out.read_bytes() == before  # refused before any weights were loaded or row written
    monkeypatch.undo()
    # The same settings resume; another observer (adapter label) in the same table may differ.
    evaluate(tiny_model, s, out, image_size=224, progress=False)
    evaluate(tiny_model, s, out, image_size=112, adapter_label="other", progress=False)
    df = read_predictions(out)
    assert len(df) == 8
    assert dict(df.groupby("adapter")["max_pixels"].first()) == {"": 50176, "other": 12544}
    # A complete table is checked too (before: silently kept its 224 px rows).
    with pytest.raises(PredictionsSettingsError, match="max_pixels"):
        evaluate(tiny_model, s, out, image_size=168, progress=False)


def test_old_tables_without_the_new_columns_read_and_resume(tiny_model, colour_set, tmp_path):
    from cubeworld.models import evaluate

    s = colour_set("set-o", n=5)
    full = read_predictions(evaluate(tiny_model, s, tmp_path / "ref.csv", progress=False))
    old_columns = list(PREDICTION_COLUMNS) + ["max_pixels"]
    old = pd.read_csv(tmp_path / "ref.csv", dtype=str, keep_default_na=False)[old_columns]
    out = tmp_path / "old.csv"
    old.iloc[:2].to_csv(out, index=False)
    df = read_predictions(out)  # read as it is, with the new columns added
    assert set(df["kind"]) == {"vlm"} and df["logp_yes"].isna().all()
    assert set(df["template_sha256"]) == {""}
    with pytest.raises(PredictionsSettingsError, match="max_pixels"):
        evaluate(tiny_model, s, out, image_size=112, progress=False)
    evaluate(tiny_model, s, out, progress=False)  # resumes; the header gains the new columns
    df = read_predictions(out)
    assert len(df) == 5 and list(df.columns[: len(old_columns)]) == old_columns
    assert df["logp_yes"].isna().sum() == 2 and df["logp_yes"].notna().sum() == 3
    merged = df.merge(full, on="stimulus_id")
    assert (merged["p_yes_x"] - merged["p_yes_y"]).abs().max() < 1e-6


@pytest.mark.timeout(120)
def test_prefetch_survives_a_dead_worker_and_names_items_it_cannot_encode(tmp_path):
    """A worker killed mid-run (the out-of-memory killer, a native crash) never hangs the
    scoring loop: its chunks are encoded again in a fresh pool, or a few items are named
    with their count, never the sets they come from printed out (issue 23, item 10)."""
    from prefetch_helpers import DieOnce, Item

    from cubeworld.formats.sets import StimulusRow, StimulusSet
    from cubeworld.models import ModelsError
    from cubeworld.models.inputs import prefetch

    marker = tmp_path / "died-once"
    chunks = [[Item(f"s{i}-{j}") for j in range(2)] for i in range(6)]
    got = list(prefetch(chunks, DieOnce(str(marker), "s3-0"), num_workers=2))
    assert marker.exists()  # a worker did die
    assert [c for c, _ in got] == chunks
    assert [r for _, r in got] == [[it.stimulus_id.upper() for it in c] for c in chunks]
    # scoring hands over (set, row) pairs: a set with a large card, rows with long prompts
    rows = [StimulusRow(f"s{i}", f"images/{i}.png", "tower", 2, False, "No", "x" * 1000) for i in range(40)]
    stim_set = StimulusSet(tmp_path, {"name": "big", "blob": "y" * 100_000}, rows)
    pairs = [[(stim_set, r) for r in rows[i : i + 4]] for i in range(0, 40, 4)]
    with pytest.raises(ModelsError, match=r"worker process encoding images died.*s0") as e:
        list(prefetch(pairs, DieOnce(None, "s0"), num_workers=2))
    assert len(str(e.value)) < 400 and "item(s)" in str(e.value), str(e.value)
