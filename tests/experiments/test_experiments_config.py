"""Study config validation: every error names the file and the key; shipped configs load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cubeworld import hyperparameters
from cubeworld.cli import app
from cubeworld.experiments.config import DEFAULT_EPOCHS, DEFAULT_SEEDS, STUDY_OWNED, ConfigError, load_config
from cubeworld.experiments.plan import plan_runs

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


@pytest.mark.parametrize(
    "path, value, message",
    [
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
        (
            ["conditions", "towers"],
            {"train": [{"set": "tw", "n": 4}, {"set": "py"}]},
            r"train\[1\]: a recipe of several sets",
        ),
        (
            ["conditions", "towers"],
            {"train": [{"set": "tw", "n": 4}, {"set": "py", "n": 4, "labels": "humans"}]},
            r"train\[1\].labels: human labels are supported on the first set",
        ),
        (
            ["conditions", "towers"],
            {"train": [{"set": "tw", "labels": "crowd"}]},
            r"train\[0\].labels: expected 'ground_truth'",
        ),
        (["conditions", "towers"], {}, "conditions.towers.train: missing"),
        (["training"], {"epochs": 0}, "training.epochs: must be at least 1"),
        (["training"], {"lr": 1e-4, "learning_rate": 1}, "training.learning_rate: unknown fine-tuning setting"),
        (["training"], {"seed": 3}, "training.seed: is set by the study itself"),
        (["executor"], {"kind": "cloud"}, "executor.kind: expected local or slurm"),
        (["executor"], {"slurm": {"gpus": 1}}, "executor.slurm.gpus: unknown setting"),
        (["executor"], {"slurm": {"mem_gb": "lots"}}, "executor.slurm.mem_gb: expected an integer"),
        (["models", "tiny"], {"source": ""}, "models.tiny.source: expected a non-empty string"),
    ],
)
def test_config_errors_name_file_and_key(tmp_path, path, value, message):
    p = write(tmp_path, with_(path, value))
    with pytest.raises(ConfigError, match=message) as e:
        load_config(p)
    assert re.match(rf"{re.escape(str(p))}(:\d+)?: ", str(e.value))


def test_not_yaml_and_missing_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: [unclosed")
    with pytest.raises(ConfigError, match="YAML syntax error"):
        load_config(p)
    with pytest.raises(ConfigError, match="no such study config"):
        load_config(tmp_path / "nope.yaml")


def test_defaults_are_the_models_stage_values(tmp_path):
    cfg = load_config(write(tmp_path, BASE))
    assert cfg.seeds == DEFAULT_SEEDS == hyperparameters.SEEDS
    assert cfg.epochs == DEFAULT_EPOCHS == hyperparameters.EPOCHS
    assert cfg.runs_dir == tmp_path / "runs"
    runs = plan_runs(cfg)
    assert [r.run_id for r in runs][:2] == ["tiny/zero-shot/seed-none", "tiny/towers/seed-0"]
    assert len(runs) == 1 + len(DEFAULT_SEEDS)


def test_shipped_configs_load_with_the_study_grid():
    paper = load_config(REPO / "studies/paper.yaml")
    assert [m.source for m in paper.models] == ["Qwen/Qwen2-VL-2B-Instruct", "Qwen/Qwen2-VL-7B-Instruct"]
    assert len(paper.conditions) == 10 and paper.seeds == (0, 1, 2) and paper.epochs == 10
    assert paper.evaluation == ("towers-eval", "pyramids-eval", "lerer100")
    assert paper.sets["lerer100"].origin == "dataset"
    joint = paper.condition("joint-5-7_3-6")
    assert [(p.set, p.n) for p in joint.train] == [("towers-5-7", 5000), ("pyramids-3-6", 5000)]
    assert paper.condition("human-towers-2-4").train[0].labels.is_human
    assert len(plan_runs(paper)) == 2 * (1 + 9 * 3)


def test_the_quick_study_has_every_kind_and_a_leak_free_human_condition():
    quick = load_config(REPO / "studies/quick.yaml")
    assert {m.kind for m in quick.models} == {"vlm", "cnn", "physics"}
    runs = {r.run_id: r for r in plan_runs(quick)}
    human = next(r for r in runs.values() if r.condition.startswith("human"))
    (part,) = quick.condition(human.condition).train
    assert part.labels.from_set and quick.sets[part.set].origin == "split"
    heldout = [e for e in quick.evaluation if quick.sets[e].origin == "split" and quick.sets[e].part == "test"]
    assert heldout and all(e in human.evaluation for e in heldout)
    for r in runs.values():
        if r.condition == human.condition:
            assert "lerer100" in r.skipped and "lerer100" not in r.evaluation
        else:
            assert not r.skipped
    assert "physics/zero-shot/seed-none" in runs
    assert not any(r.model == "physics" and r.condition != "zero-shot" for r in runs.values())


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


# -- models: observer kinds and per-model settings (contract E) ---------------------------


def with_model(name: str, entry) -> dict:
    import copy

    data = copy.deepcopy(BASE)
    data["models"][name] = entry
    return data


@pytest.mark.parametrize(
    "name, entry, message",
    [
        (
            "x",
            {"source": "tiny", "kind": "quantum"},
            "models.x.kind: unknown observer kind 'quantum': expected one of vlm, physics, cnn",
        ),
        (
            "physics",
            {"kind": "physics", "training": {"epochs": 2}},
            "models.physics.training: a physics observer needs no training",
        ),
        (
            "physics",
            {"kind": "physics", "conditions": ["zero-shot", "towers"]},
            r"models.physics.conditions\[1\]: a physics observer needs no training and cannot be "
            "trained; condition 'towers' trains",
        ),
        (
            "physics",
            {"kind": "physics", "scoring": {"position_noise": 0}},
            "models.physics.scoring.position_noise: must be above 0, got 0.0",
        ),
        (
            "physics",
            {"kind": "physics", "scoring": {"position_noise": -0.1}},
            "models.physics.scoring.position_noise: must be above 0, got -0.1",
        ),
        (
            "physics",
            {"kind": "physics", "scoring": {"size_noise": -1}},
            "models.physics.scoring.size_noise: must be at least 0, got -1.0",
        ),
        (
            "physics",
            {"kind": "physics", "scoring": {"push_noise": "strong"}},
            "models.physics.scoring.push_noise: expected a number, got 'strong'",
        ),
        (
            "physics",
            {"kind": "physics", "scoring": {"n_simulations": 0}},
            "models.physics.scoring.n_simulations: must be at least 1, got 0",
        ),
        (
            "physics",
            {"kind": "physics", "scoring": {"noise": 0.1}},
            r"models.physics.scoring.noise: unknown setting; expected one of \['lapse', 'max_redraws'",
        ),
        ("physics", {"kind": "physics", "source": "bullet"}, "models.physics.source: a physics observer"),
        (
            "tiny",
            {"source": "tiny", "scoring": {"temperature": 1.0}},
            r"models.tiny.scoring.temperature: unknown setting; expected one of \['batch_size'",
        ),
        (
            "tiny",
            {"source": "tiny", "training": {"lora_rank": 4}},
            "models.tiny.training.lora_rank: unknown setting",
        ),
        ("tiny", {"source": "tiny", "training": {"seed": 4}}, "models.tiny.training.seed: is set by the study itself"),
        ("tiny", {"source": "tiny", "training": {"lora_r": "big"}}, "models.tiny.training.lora_r: expected an integer"),
        (
            "tiny",
            {"source": "tiny", "scoring": {"batch_size": "many"}},
            "models.tiny.scoring.batch_size: expected an integer",
        ),
        ("tiny", {"source": "tiny", "training": {"method": "magic"}}, "models.tiny.training.method: expected one of"),
        ("hub", {"source": "org/model", "family": "qwen2-vl"}, "models.hub.family: applies to source: tiny only"),
        ("cnn", {"kind": "cnn", "training": {"image_size": 8}}, "models.cnn.training.image_size: must be at least 16"),
        ("cnn", {"kind": "cnn", "training": {"lora_r": 8}}, "models.cnn.training.lora_r: unknown setting"),
        (
            "cnn",
            {"kind": "cnn", "conditions": ["zero-shot"]},
            r"models.cnn.conditions\[0\]: a cnn observer cannot answer zero-shot",
        ),
        ("cnn", {"kind": "cnn", "conditions": ["nope"]}, r"models.cnn.conditions\[0\]: unknown condition"),
        ("cnn", {"kind": "cnn", "source": "imagenet"}, "models.cnn.source: a cnn observer starts from"),
    ],
)
def test_model_entry_errors_name_file_and_key(tmp_path, name, entry, message):
    p = write(tmp_path, with_model(name, entry))
    with pytest.raises(ConfigError, match=message) as e:
        load_config(p)
    assert re.match(rf"{re.escape(str(p))}(:\d+)?: ", str(e.value))


@pytest.mark.parametrize(
    "sets, message",
    [
        ({"l": {"lerer100": "default"}}, r"sets.l.lerer100: unknown key.*now `dataset: lerer100`"),
        ({"l": {"dataset": "lerer200"}}, "sets.l.dataset: unknown external data set 'lerer200'"),
        ({"s": {"split": "nope", "part": "train", "fraction": 0.5, "seed": 1}}, "sets.s.split: unknown set 'nope'"),
        ({"s": {"split": "tw", "part": "dev", "fraction": 0.5, "seed": 1}}, "sets.s.part: expected one of"),
        (
            {"s": {"split": "tw", "part": "train", "fraction": 1, "seed": 1}},
            "sets.s.fraction: expected a number between 0 and 1",
        ),
        ({"s": {"split": "tw", "part": "train", "fraction": 0.5}}, "sets.s.seed: missing"),
        (
            {
                "a": {"split": "b", "part": "train", "fraction": 0.5, "seed": 1},
                "b": {"split": "a", "part": "train", "fraction": 0.5, "seed": 1},
            },
            "splits form a cycle",
        ),
    ],
)
def test_set_source_errors(tmp_path, sets, message):
    import copy

    data = copy.deepcopy(BASE)
    data["sets"].update(sets)
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, data))


def test_every_setting_of_a_kinds_typed_config_is_a_valid_override():
    """A kind's `training:` / `scoring:` keys are its typed configs' fields, not listed by
    hand: a field the models team adds is accepted by studies with no change here."""
    import dataclasses

    from cubeworld.models.config import FinetuneConfig, VlmScoring, VlmTraining
    from cubeworld.observers import OBSERVERS

    vlm = OBSERVERS.get("vlm")
    assert vlm.training_keys() == {f.name for f in dataclasses.fields(VlmTraining)}
    finetune = {f.name for f in dataclasses.fields(FinetuneConfig)}
    assert vlm.training_keys() == finetune - set(STUDY_OWNED) - {"eval_batch_size", "epochs"}
    assert {"method", "target_modules", "batch_size", "lora_r"} <= vlm.training_keys()
    assert vlm.scoring_keys() == {f.name for f in dataclasses.fields(VlmScoring)}
    assert {"batch_size", "max_pixels", "quantize"} <= vlm.scoring_keys()


def test_per_model_settings_and_default_conditions(tmp_path):
    data = with_model("physics", {"kind": "physics", "scoring": {"n_simulations": 5}})
    data["models"]["cnn"] = {"kind": "cnn", "training": {"epochs": 3, "lr": 0.01}}
    data["models"]["tiny"] = {"source": "tiny", "training": {"lora_r": 4}, "scoring": {"batch_size": 2}}
    data["training"] = {"epochs": 2, "lr": 0.0005, "eval_batch_size": 4}
    data["seeds"] = [0]
    cfg = load_config(write(tmp_path, data))
    assert cfg.model("physics").conditions == ("zero-shot",)
    assert cfg.model("cnn").conditions == ("towers",)
    assert cfg.model("tiny").conditions == ("zero-shot", "towers")
    runs = {r.run_id: r for r in plan_runs(cfg)}
    assert sorted(runs) == [
        "cnn/towers/seed-0",
        "physics/zero-shot/seed-none",
        "tiny/towers/seed-0",
        "tiny/zero-shot/seed-none",
    ]
    tiny = runs["tiny/towers/seed-0"]
    assert tiny.resolved["training"] == {"epochs": 2, "evaluate_each_epoch": True, "lr": 0.0005, "lora_r": 4}
    assert tiny.effective["training"]["lora_r"] == 4 and tiny.effective["training"]["lr"] == 0.0005
    assert tiny.effective["training"]["lora_alpha"] == hyperparameters.LORA_ALPHA
    assert tiny.effective["scoring"]["batch_size"] == 2
    cnn = runs["cnn/towers/seed-0"]
    assert cnn.resolved["training"]["epochs"] == 3 and cnn.resolved["training"]["lr"] == 0.01
    assert cnn.epochs == (0, 1, 2, 3)
    assert cnn.effective["training"]["channels"] == [16, 32, 64, 96]
    physics = runs["physics/zero-shot/seed-none"]
    assert physics.effective["scoring"]["n_simulations"] == 5
    assert physics.evaluation["tw"]["scoring"]["n_simulations"] == 5
    assert physics.evaluation["tw"]["scoring"]["position_noise"] == 0.1  # the default, stated
    assert "training" not in physics.resolved
    # a setting added later is stated only when used: finished studies stay finished
    assert "push_noise" not in physics.evaluation["tw"]["scoring"]
    data["models"]["physics"]["scoring"]["push_noise"] = 0.05
    pushed = {r.run_id: r for r in plan_runs(load_config(write(tmp_path, data)))}
    assert pushed["physics/zero-shot/seed-none"].evaluation["tw"]["scoring"]["push_noise"] == 0.05


def test_a_study_wide_setting_no_trained_kind_has_is_refused(tmp_path):
    data = with_model("physics", {"kind": "physics"})
    del data["models"]["tiny"]
    data["conditions"] = {"zero-shot": {"zero_shot": True}}
    data["training"] = {"lr": 0.001}
    with pytest.raises(ConfigError, match="training.lr: no model of this study can be trained"):
        load_config(write(tmp_path, data))


def test_bad_model_entry_on_the_command_line_writes_nothing(tmp_path):
    p = write(tmp_path, with_model("physics", {"kind": "physics", "training": {"epochs": 2}}))
    r = CliRunner().invoke(app, ["study", "run", str(p)])
    assert r.exit_code == 2 and "models.physics.training" in r.output
    assert len(r.output.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()


def test_a_cnn_given_a_set_without_images_writes_nothing(tmp_path):
    from experiments_helpers import make_set

    folder = make_set(tmp_path / "sets", "bare", "tower")
    for png in (folder / "images").glob("*.png"):
        png.unlink()
    data = with_model("cnn", {"kind": "cnn"})
    data["sets"]["bare"] = {"path": str(folder)}
    data["conditions"]["on-bare"] = {"train": ["bare"]}
    p = write(tmp_path, data)
    r = CliRunner().invoke(app, ["study", "run", str(p)])
    assert r.exit_code == 2, r.output
    assert "sets.bare:" in r.output and "needs images" in r.output and "models.cnn" in r.output
    assert not (tmp_path / "runs").exists()


def test_only_an_unknown_run_is_refused_before_any_set_or_model_is_made(tmp_path):
    """Issue 23, item 13: `--only nosuchrun` generates no set and builds no model."""
    p = write(tmp_path, BASE)
    r = CliRunner().invoke(app, ["study", "run", str(p), "--only", "nosuchrun"])
    assert r.exit_code == 2 and "--only nosuchrun: no run of" in r.output, r.output
    assert not (tmp_path / "runs").exists()


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path):
    """Issue 23, item 4: two `models:` keys (the second would silently drop the first's)."""
    text = yaml.safe_dump(BASE, sort_keys=False) + "models:\n  other: {source: tiny}\n"
    p = tmp_path / "study.yaml"
    p.write_text(text)
    first = text.splitlines().index("models:") + 1
    last = len(text.splitlines()) - 1
    with pytest.raises(
        ConfigError, match=rf"study\.yaml:{last}:\d+: key 'models' given twice \(lines {first} and {last}\)"
    ):
        load_config(p)
    r = CliRunner().invoke(app, ["study", "run", str(p)])
    assert r.exit_code == 2 and "given twice" in r.output and not (tmp_path / "runs").exists()


def test_an_unknown_key_names_its_line(tmp_path):
    """The file's structure and every component's settings name the line of the bad key."""
    data = with_model("tiny", {"source": "tiny", "training": {"lora_r": 4, "lr_decay": 1}})
    p = write(tmp_path, data)
    line = p.read_text().splitlines().index("      lr_decay: 1") + 1
    with pytest.raises(ConfigError, match=rf"study\.yaml:{line}: models\.tiny\.training\.lr_decay: unknown setting"):
        load_config(p)
    p = write(tmp_path, {**BASE, "evalution": ["tw"]})
    line = p.read_text().splitlines().index("evalution:") + 1
    with pytest.raises(ConfigError, match=rf"study\.yaml:{line}: evalution: unknown key"):
        load_config(p)
