"""Study config validation: every error names the file and the key; shipped configs load."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cubeworld.cli import app
from cubeworld.experiments.config import DEFAULT_EPOCHS, DEFAULT_SEEDS, ConfigError, load_config
from cubeworld.experiments.plan import plan_runs
from cubeworld.models import DEFAULTS

REPO = Path(__file__).resolve().parents[2]

BASE = {
    "name": "t",
    "models": {"tiny": {"source": "tiny"}},
    "sets": {
        "tw": {"domain": "tower", "sizes": [2, 3], "per_size": 4, "seed": 1},
        "py": {"domain": "pyramid", "sizes": [3], "per_size": 4, "seed": 2},
    },
    "conditions": {"zero-shot": {"zero_shot": True}, "towers": {"train": ["tw"]}},
    "evaluation": ["tw", "py"],
}


def write(tmp_path: Path, data: dict) -> Path:
    p = tmp_path / "study.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def with_(path: list, value) -> dict:
    import copy

    data = copy.deepcopy(BASE)
    d = data
    for k in path[:-1]:
        d = d[k]
    if value is KeyError:
        del d[path[-1]]
    else:
        d[path[-1]] = value
    return data


@pytest.mark.parametrize("path, value, message", [
    (["name"], KeyError, "name: missing"),
    (["name"], "bad name!", "name: expected a name"),
    (["seeds"], [0, 0], "seeds: a seed is listed twice"),
    (["seeds"], ["a"], r"seeds\[0\]: expected an integer"),
    (["evaluation"], ["tw", "nope"], r"evaluation\[1\]: unknown set 'nope'"),
    (["sets", "tw", "domain"], "cube", "sets.tw.domain: unknown domain 'cube'"),
    (["sets", "tw", "sizes"], [2, 9], "sets.tw.sizes: 9 blocks is not a tower size"),
    (["sets", "tw", "per_size"], KeyError, "sets.tw.per_size: missing"),
    (["sets", "tw", "colour"], 1, "sets.tw.colour: unknown key"),
    (["sets", "py"], {"preset": "x", "path": "y"}, "sets.py: give exactly one of"),
    (["conditions", "towers"], {"train": ["zz"]}, r"conditions.towers.train\[0\].set: unknown set 'zz'"),
    (["conditions", "towers"], {"train": [{"set": "tw", "n": 0}]}, r"train\[0\].n: must be at least 1"),
    (["conditions", "towers"], {"train": [{"set": "tw", "proportion": 0.5}]}, "conditions.towers.size: required"),
    (["conditions", "towers"], {"train": [{"set": "tw", "n": 4}, {"set": "py"}]}, r"train\[1\]: a recipe of several sets"),
    (["conditions", "towers"], {"train": [{"set": "tw", "n": 4}, {"set": "py", "n": 4, "labels": "humans"}]}, r"train\[1\].labels: human labels are supported on the first set"),
    (["conditions", "towers"], {"train": [{"set": "tw", "labels": "crowd"}]}, r"train\[0\].labels: expected 'ground_truth'"),
    (["conditions", "towers"], {}, "conditions.towers.train: missing"),
    (["training"], {"epochs": 0}, "training.epochs: must be at least 1"),
    (["training"], {"lr": 1e-4, "learning_rate": 1}, "training.learning_rate: unknown fine-tuning setting"),
    (["training"], {"seed": 3}, "training.seed: is set by the study itself"),
    (["executor"], {"kind": "cloud"}, "executor.kind: expected local or slurm"),
    (["executor"], {"slurm": {"gpus": 1}}, "executor.slurm.gpus: unknown key"),
    (["executor"], {"slurm": {"mem_gb": "lots"}}, "executor.slurm.mem_gb: expected an integer"),
    (["models", "tiny"], {"source": ""}, "models.tiny.source: expected a non-empty string"),
])
def test_config_errors_name_file_and_key(tmp_path, path, value, message):
    p = write(tmp_path, with_(path, value))
    with pytest.raises(ConfigError, match=message) as e:
        load_config(p)
    assert str(e.value).startswith(f"{p}: ")


def test_not_yaml_and_missing_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: [unclosed")
    with pytest.raises(ConfigError, match="YAML syntax error"):
        load_config(p)
    with pytest.raises(ConfigError, match="no such study config"):
        load_config(tmp_path / "nope.yaml")


def test_defaults_are_the_models_stage_values(tmp_path):
    cfg = load_config(write(tmp_path, BASE))
    assert cfg.seeds == DEFAULT_SEEDS == tuple(DEFAULTS["seeds"])
    assert cfg.epochs == DEFAULT_EPOCHS == DEFAULTS["finetune"]["epochs"]
    assert cfg.runs_dir == tmp_path / "runs"
    runs = plan_runs(cfg)
    assert [r.run_id for r in runs][:2] == ["tiny/zero-shot/seed-none", "tiny/towers/seed-0"]
    assert len(runs) == 1 + len(DEFAULT_SEEDS)


def test_shipped_configs_load_with_the_study_grid():
    paper = load_config(REPO / "studies/paper.yaml")
    assert [m.source for m in paper.models] == ["Qwen/Qwen2-VL-2B-Instruct", "Qwen/Qwen2-VL-7B-Instruct"]
    assert len(paper.conditions) == 10 and paper.seeds == (0, 1, 2) and paper.epochs == 10
    assert paper.evaluation == ("towers-eval", "pyramids-eval", "lerer100")
    joint = paper.condition("joint-5-7_3-6")
    assert [(p.set, p.n) for p in joint.train] == [("towers-5-7", 5000), ("pyramids-3-6", 5000)]
    assert paper.condition("human-towers-2-4").train[0].labels.is_human
    assert len(plan_runs(paper)) == 2 * (1 + 9 * 3)
    quick = load_config(REPO / "studies/quick.yaml")
    assert [c.name for c in quick.conditions] == [c.name for c in paper.conditions]
    assert quick.evaluation == paper.evaluation and quick.models[0].is_tiny


def test_cli_reports_config_errors_without_traceback(tmp_path):
    p = write(tmp_path, with_(["seeds"], [1, 1]))
    runner = CliRunner()
    for cmd in ("run", "status", "report"):
        r = runner.invoke(app, ["study", cmd, str(p)])
        assert r.exit_code == 2, (cmd, r.output)
        assert "seeds: a seed is listed twice" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["study", "run", str(p), "--executor", "cloud"])
    assert r.exit_code == 2 and "local or slurm" in r.output
    r = runner.invoke(app, ["study", "status", str(write(tmp_path, BASE))])
    assert r.exit_code == 0 and "0 done, 0 running, 0 failed, 4 to do" in r.output


def test_a_set_names_its_human_table_for_the_report(tmp_path):
    from cubeworld.experiments.study import human_tables

    table = tmp_path / "humans.csv"
    table.write_text("stimulus_id,participant,response\ntower-s1-n2-00000,p1,1\n")
    cfg = load_config(write(tmp_path, with_(["sets", "tw"], {**BASE["sets"]["tw"], "humans": "humans.csv"})))
    assert cfg.sets["tw"].humans == table
    assert cfg.sets["tw"].identity() == load_config(write(tmp_path, BASE)).sets["tw"].identity()
    cfg = load_config(write(tmp_path, with_(["sets", "tw"], {**BASE["sets"]["tw"], "humans": "humans.csv"})))
    assert human_tables(cfg, ["tw", "py"]) == [table]
    table.unlink()
    with pytest.warns(UserWarning, match=r"sets\.tw\.humans"):
        assert human_tables(cfg, ["tw"]) == []
