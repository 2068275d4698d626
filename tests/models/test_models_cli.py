"""The command line: build-tiny, evaluate and finetune, and one-line errors (exit code 2)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from cubeworld.cli import app
from cubeworld.formats.predictions import read_predictions

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_build_tiny_evaluate_finetune(tmp_path, colour_set):
    model = tmp_path / "tiny"
    r = _run("models", "build-tiny", "--out", model, "--seed", "3")
    assert r.exit_code == 0, r.output
    assert json.loads((model / "cubeworld_tiny.json").read_text())["seed"] == 3
    s = colour_set("set-c", n=4)
    r = _run(
        "evaluate",
        "--model",
        model,
        "--set",
        s,
        "--out",
        tmp_path / "p.csv",
        "--batch-size",
        "2",
        "--image-size",
        "112",
        "--no-progress",
    )
    assert r.exit_code == 0, r.output
    df = read_predictions(tmp_path / "p.csv")
    assert len(df) == 4 and set(df["max_pixels"]) == {112 * 112}
    p = colour_set("set-p", n=4, domain="pyramid", prefix="pyr")
    r = _run(
        "finetune",
        "--model",
        model,
        "--train",
        s,
        "--mix",
        f"{p}:0.5",
        "--method",
        "lora",
        "--epochs",
        "1",
        "--max-items",
        "4",
        "--batch-size",
        "2",
        "--eval-set",
        s,
        "--image-size",
        "112",
        "--out",
        tmp_path / "run",
        "--no-progress",
    )
    assert r.exit_code == 0, r.output
    state = json.loads((tmp_path / "run/state.json").read_text())
    assert state["finished"] and state["method"] == "lora" and state["max_pixels"] == 112 * 112
    assert [x["drawn"] for x in state["data"]["sources"]] == [2, 2]
    assert (tmp_path / "run/checkpoints/epoch-1/adapter_config.json").is_file()
    assert len(read_predictions(tmp_path / "run/predictions/epoch-1/set-c.csv")) == 4
    r = _run("models", "info", "--model", model, "--adapter", tmp_path / "run/checkpoints/epoch-1")
    assert r.exit_code == 0 and '"Yes"' in r.output
    adapter = tmp_path / "run/checkpoints/epoch-1"
    r = _run(
        "evaluate", "--model", model, "--adapter", adapter, "--set", s, "--out", tmp_path / "a.csv", "--no-progress"
    )
    assert r.exit_code == 0, r.output
    assert set(read_predictions(tmp_path / "a.csv")["adapter"]) == {str(adapter)}


@pytest.mark.parametrize("case", ["no-model", "no-set", "bad-out", "bad-mix", "bad-labels", "bad-method"])
def test_bad_input_is_one_line_and_exit_2(case, tmp_path, colour_set, tiny_model, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    s = colour_set("set-e", n=2)
    labels = tmp_path / "h.csv"
    pd.DataFrame([("unknown-1", "p", 1)], columns=["stimulus_id", "participant", "response"]).to_csv(
        labels, index=False
    )
    args = {
        "no-model": ("evaluate", "--model", tmp_path / "nope", "--set", s, "--out", tmp_path / "p.csv"),
        "no-set": ("evaluate", "--model", tiny_model, "--set", tmp_path / "nope", "--out", tmp_path / "p.csv"),
        "bad-out": ("evaluate", "--model", tiny_model, "--set", s, "--out", tmp_path / "p.txt"),
        "bad-mix": ("finetune", "--model", tiny_model, "--train", s, "--mix", "x:2", "--out", tmp_path / "r"),
        "bad-labels": ("finetune", "--model", tiny_model, "--train", s, "--labels", labels, "--out", tmp_path / "r"),
        "bad-method": ("finetune", "--model", tiny_model, "--train", s, "--method", "dora", "--out", tmp_path / "r"),
    }[case]
    r = _run(*args)
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in r.output


def test_finetune_from_a_yaml_config(tmp_path, colour_set, tiny_model):
    import yaml

    s = colour_set("set-y", n=4)
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {"method": "full", "epochs": 1, "max_items": 4, "batch_size": 4, "lr": 1e-3, "condition": "from-yaml"}
        )
    )
    r = _run(
        "finetune",
        "--model",
        tiny_model,
        "--train",
        s,
        "--config",
        cfg,
        "--eval-set",
        s,
        "--seed",
        "2",
        "--out",
        tmp_path / "run",
        "--no-progress",
    )
    assert r.exit_code == 0, r.output
    state = json.loads((tmp_path / "run/state.json").read_text())
    assert state["config"]["condition"] == "from-yaml" and state["config"]["seed"] == 2
    df = read_predictions(tmp_path / "run/predictions/epoch-1/set-y.csv")
    assert set(df["condition"]) == {"from-yaml"} and set(df["seed"]) == {2}
    (tmp_path / "bad.yaml").write_text("learning_rate: 0.1\n")
    r = _run(
        "finetune", "--model", tiny_model, "--train", s, "--config", tmp_path / "bad.yaml", "--out", tmp_path / "run2"
    )
    assert r.exit_code == 2 and "learning_rate" in r.output


def test_build_tiny_family_and_info_lists_lora_modules(tmp_path):
    model = tmp_path / "smol"
    r = _run("models", "build-tiny", "--out", model, "--family", "smolvlm")
    assert r.exit_code == 0, r.output
    assert json.loads((model / "cubeworld_tiny.json").read_text())["family"] == "smolvlm"
    r = _run("models", "info", "--model", model)
    assert r.exit_code == 0, r.output
    assert "LoRA modules (target_modules: auto): 26 (12 vision, 14 decoder)" in r.output
    info = json.loads(r.stdout[r.stdout.index("{") : r.stdout.rindex("}") + 1])
    assert info["family"] == "smolvlm" and info["lora_targets"]["count"] == 26
    assert len(info["lora_targets"]["modules"]) == 26 and info["yes"][1] == "ĠYes"


@pytest.mark.parametrize("case", ["family", "table-settings", "lora-extra", "image-size"])
def test_more_bad_input_is_one_line_exit_2_nothing_written(case, tmp_path, colour_set, tiny_model):
    s = colour_set("set-b", n=2)
    table = tmp_path / "p.csv"
    if case == "table-settings":
        assert _run("evaluate", "--model", tiny_model, "--set", s, "--out", table, "--no-progress").exit_code == 0
    before = table.read_bytes() if table.exists() else None
    args = {
        "family": ("models", "build-tiny", "--out", tmp_path / "m", "--family", "gemma9"),
        "table-settings": ("evaluate", "--model", tiny_model, "--set", s, "--out", table, "--image-size", "112"),
        "lora-extra": (
            "finetune",
            "--model",
            tiny_model,
            "--train",
            s,
            "--method",
            "lora",
            "--lora-extra",
            "projector",
            "--out",
            tmp_path / "r",
            "--no-progress",
        ),
        "image-size": (
            "evaluate",
            "--model",
            tiny_model,
            "--set",
            s,
            "--out",
            tmp_path / "q.csv",
            "--image-size",
            "112",
            "--max-pixels",
            "5000",
        ),
    }[case]
    r = _run(*args)
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in r.output or case == "image-size"
    expected = {
        "family": "qwen2-vl, qwen2.5-vl, qwen3-vl, smolvlm, llava-onevision, gemma3",
        "table-settings": "max_pixels",
        "lora-extra": "named extras here: merger",
        "image-size": "not both",
    }[case]
    assert expected in r.output
    assert not (tmp_path / "m").exists() and not (tmp_path / "q.csv").exists()
    if case == "lora-extra":
        assert not (tmp_path / "r").exists()
    assert (table.read_bytes() if table.exists() else None) == before


def test_every_count_or_size_option_has_an_upper_bound():
    """Issue 23, item 5: no numeric option of these commands goes unbounded (a typo cannot
    ask for 10**12 of anything)."""
    import typer

    root = typer.main.get_command(app)
    checked = []
    for path in (("evaluate",), ("finetune",), ("models", "build-tiny"), ("models", "info"), ("study", "run")):
        cmd = root
        for name in path:
            cmd = cmd.commands[name]
        for param in cmd.params:
            annotation = getattr(param.type_descriptor, "annotation", None)
            if annotation in (int, float):
                assert param.max is not None, f"{' '.join(path)} {param.opts[0]}: no upper bound"
                checked.append(param.opts[0])
    assert {"--batch-size", "--workers", "--epochs", "--max-items", "--lora-r", "--threads", "--lr"} <= set(checked)


def test_a_truncated_weights_file_is_one_line(tmp_path, tiny_model):
    """Issue 23, item 8: `models info` on a truncated safetensors file."""
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    r = _run("models", "info", "--model", broken)
    assert r.exit_code == 2 and "cannot load its weights" in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_a_bad_learning_rate_writes_nothing_and_the_corrected_rerun_runs(tmp_path, colour_set, tiny_model):
    """Issue 23, item 2: a refused value leaves no run folder, so the corrected command is
    not refused as 'another run'."""
    s = colour_set("set-lr", n=2)
    out = tmp_path / "run"
    args = ("finetune", "--model", tiny_model, "--train", s, "--out", out, "--epochs", "1", "--max-items", "2")
    for lr, says in (("-1", "--lr"), ("nan", "--lr")):
        r = _run(*args, "--lr", lr, "--no-progress")
        assert r.exit_code == 2 and says in r.output, r.output
        assert not out.exists()
    r = _run(*args, "--lr", "0.001", "--no-progress")
    assert r.exit_code == 0, r.output
    assert json.loads((out / "state.json").read_text())["config"]["lr"] == 0.001


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("evaluate", "--mode", "chain"), "mode: expected one of"),
        (("evaluate", "--max-new-tokens", "5"), "max_new_tokens: mode logprob generates nothing"),
        (("evaluate", "--mode", "free", "--free-text"), "free_text: mode free records the generated text"),
        (("finetune", "--method", "lora", "--num-generations", "4"), "num_generations: a GRPO setting"),
        (("finetune", "--method", "grpo", "--use-vllm"), "use_vllm: vLLM samples on a CUDA GPU only"),
    ],
)
def test_mode_and_grpo_options_are_checked_nothing_written(args, expected, tmp_path, colour_set, tiny_model):
    s = colour_set("set-m", n=2)
    where = (
        ("--set", s, "--out", tmp_path / "p.csv") if args[0] == "evaluate" else ("--train", s, "--out", tmp_path / "r")
    )
    r = _run(args[0], "--model", tiny_model, *where, *args[1:], "--no-progress", "--device", "cpu")
    assert r.exit_code == 2, r.output
    assert expected in r.output and "Traceback" not in r.output
    assert not (tmp_path / "p.csv").exists() and not (tmp_path / "r").exists()
