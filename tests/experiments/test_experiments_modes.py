"""`modes:` under a study's model (the prompting contrasts on the same items), and the
follow-up's SFT vs GRPO study file."""

from __future__ import annotations

from pathlib import Path

import pytest

from cubeworld.experiments.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]

STUDY = """\
name: modes-study
runs_dir: runs
models:
  tiny: {source: tiny, modes: [free, step]}
sets:
  towers-eval: {domain: tower, sizes: [2], per_size: 2, seed: 21, resolution: 56}
conditions:
  zero-shot: {zero_shot: true}
evaluation: [towers-eval]
seeds: [0]
training: {max_pixels: 3136}
"""


def test_modes_are_observers_of_the_zero_shot_items(tmp_path):
    """tiny@free and tiny@step are observers beside tiny; tiny@free is scored on the same
    items as tiny (the run; step mode generates 256 tokens, too slow for a test), every row
    kept, with its text and whether an answer could be read."""
    from cubeworld.experiments.study import run_study
    from cubeworld.formats.predictions import read_predictions

    cfg = tmp_path / "study.yaml"
    cfg.write_text(STUDY)
    config = load_config(cfg)
    assert [m.name for m in config.models] == ["tiny", "tiny@free", "tiny@step"]
    assert [m.scoring.values.mode for m in config.models] == ["logprob", "free", "step"]
    cfg.write_text(STUDY.replace("modes: [free, step]", "modes: [free]"))
    run_study(cfg, progress=False, report=False)
    root = tmp_path / "runs/modes-study"
    tables = {
        m: read_predictions(root / f"{m}/zero-shot/seed-none/predictions/epoch-0/towers-eval.csv")
        for m in ("tiny", "tiny@free")
    }
    ids = set(tables["tiny"]["stimulus_id"])
    assert len(ids) == 2
    for name, df in tables.items():
        assert set(df["stimulus_id"]) == ids and set(df["model"]) == {name}
    df = tables["tiny@free"]
    assert df["extraction"].str.match(r"^(ok|failed: .+)$").all()
    assert (df.loc[df["extraction"] != "ok", "answer"] == "").all()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{kind: physics, modes: [free]}", "models.m.modes: a physics observer has no prompting modes"),
        ("{source: tiny, modes: [chain]}", r"models.m.modes\[0\]: unknown mode 'chain'"),
        ("{source: tiny, modes: [free, free]}", r"models.m.modes\[1\]: mode 'free' given twice"),
        ("{source: tiny, modes: [logprob]}", r"models.m.modes\[0\]: mode 'logprob' given twice"),
        ("{source: tiny, conditions: [trained], modes: [free]}", "models.m.modes: modes apply to zero-shot"),
    ],
)
def test_bad_modes_are_refused(tmp_path, entry, message):
    text = STUDY.replace("  tiny: {source: tiny, modes: [free, step]}", f"  m: {entry}").replace(
        "  zero-shot: {zero_shot: true}", "  zero-shot: {zero_shot: true}\n  trained: {train: [towers-eval]}"
    )
    cfg = tmp_path / "study.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(cfg)


def test_the_followup_study_contrasts_sft_and_grpo_at_matched_data():
    """studies/followup-grpo.yaml: Qwen3-VL-8B by SFT and by GRPO on the same condition,
    with the same epochs, adapters and learning rate; zero-shot also in the free and step
    modes; scored on towers (2-7), pyramids, dominoes and Lerer100. It loads into its grid."""
    from cubeworld.experiments.plan import plan_runs

    cfg = load_config(REPO / "studies/followup-grpo.yaml")
    models = {m.name: m for m in cfg.models}
    assert set(models) == {"qwen3-vl-8b-sft", "qwen3-vl-8b-sft@free", "qwen3-vl-8b-sft@step", "qwen3-vl-8b-grpo"}
    assert {m.source for m in models.values()} == {"Qwen/Qwen3-VL-8B-Instruct"}
    sft, grpo = models["qwen3-vl-8b-sft"].training.values, models["qwen3-vl-8b-grpo"].training.values
    assert (sft.method, grpo.method, grpo.num_generations) == ("auto", "grpo", 16)
    same = ("lr", "lora_r", "lora_alpha", "batch_size", "grad_accum", "label_policy")
    assert [getattr(sft, k) for k in same] == [getattr(grpo, k) for k in same]
    assert models["qwen3-vl-8b-sft"].epochs == models["qwen3-vl-8b-grpo"].epochs
    assert cfg.evaluation == ("towers-eval", "pyramids-eval", "dominoes-eval", "lerer100")
    runs = plan_runs(cfg)
    trained = {(r.model, r.run_id.split("/", 1)[1]) for r in runs if "towers-2-4" in r.run_id}
    assert trained == {(m, f"towers-2-4/seed-{s}") for m in ("qwen3-vl-8b-sft", "qwen3-vl-8b-grpo") for s in (0, 1, 2)}
    assert len(runs) == 6 + 3  # the trained runs; zero-shot in three modes
