"""Prompting modes (logprob, free, step) and the one answer extraction they and GRPO share."""

from __future__ import annotations

import pytest

from cubeworld.formats.predictions import read_predictions


@pytest.mark.parametrize(
    ("text", "answer", "rule"),
    [
        ("Yes", "Yes", "first word"),
        ("**No**, it stands.", "No", "first word"),
        ("no", "No", "first word"),
        ("It will fall, yes.", "Yes", "only word"),
        ("Yes and no... Both blocks move. Answer: No", "No", "marker"),
        ("The answer is yes", "Yes", "marker"),
        ("Answer: Yes\nAnswer: No", "No", "marker"),
        ("", None, "failed"),
        ("   ", None, "failed"),
        ("...", None, "failed"),
        ("It is unstable", None, "failed"),
        ("Yesterday it fell", None, "failed"),
        ("The tower: no block holds it, so yes", None, "failed"),
    ],
)
def test_extract_answer_reads_or_fails_never_guesses(text, answer, rule):
    from cubeworld.models.modes import extract_answer

    found = extract_answer(text)
    assert (found.answer, found.rule) == (answer, rule)
    assert found.status == "ok" if answer else found.status.startswith("failed: ")


def test_mode_settings_are_checked():
    from cubeworld.models import ModelsError, VlmScoring

    assert VlmScoring.parse({}, "s").mode == "logprob"
    with pytest.raises(ModelsError, match="mode: expected one of"):
        VlmScoring.parse({"mode": "chain"}, "s")
    with pytest.raises(ModelsError, match="free_text: mode free records the generated text already"):
        VlmScoring.parse({"mode": "free", "free_text": True}, "s")
    with pytest.raises(ModelsError, match="max_new_tokens: mode logprob generates nothing"):
        VlmScoring.parse({"max_new_tokens": 8}, "s")
    from cubeworld.models.modes import STEP_SUFFIX, prompt_for

    assert prompt_for("Will it fall?", "free") == "Will it fall?"
    assert prompt_for("Will it fall?", "step") == f"Will it fall? {STEP_SUFFIX}"


@pytest.mark.parametrize("mode", ["free", "step"])
def test_generating_modes_keep_every_row_and_count_failures(mode, tiny_model, colour_set, tmp_path):
    """A random tiny model rarely writes Yes or No: its failed rows are kept (answer and
    P(Yes) empty, the text and the reason recorded) and the table still reads."""
    from cubeworld.models import evaluate

    s = colour_set("items", n=4, seed=3)
    out = evaluate(tiny_model, s, tmp_path / "p.csv", mode=mode, max_new_tokens=3, progress=False, model_label="tiny")
    df = read_predictions(out)
    assert len(df) == 4 and set(df["model"]) == {f"tiny@{mode}"} and set(df["mode"]) == {mode}
    failed = df["extraction"].str.startswith("failed")
    assert set(df.loc[~failed, "extraction"]) <= {"ok"}
    assert (df.loc[failed, "answer"] == "").all() and not df.loc[failed, "correct"].any()
    assert df["free_text"].notna().all()
    # Asking again resumes: nothing is rescored, nothing is duplicated.
    again = read_predictions(
        evaluate(tiny_model, s, tmp_path / "p.csv", mode=mode, max_new_tokens=3, progress=False, model_label="tiny")
    )
    assert len(again) == 4
