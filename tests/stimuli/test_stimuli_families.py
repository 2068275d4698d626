"""The stimulus-family protocol and registry: light to read, one identity per family, the
outcome rule re-run on recorded scenes, difficulty and shortcut cues, a family's commands."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from collections import Counter

import pytest

from cubeworld.formats.sets import StimulusRow, load_set
from cubeworld.stimuli import StimuliError, generate_set, identity_for
from cubeworld.stimuli.families import FAMILIES, PYRAMID, TOWER, get_family
from cubeworld.stimuli.families.tower import TowerFamily
from cubeworld.stimuli.family import StimulusFamily


def test_registry_holds_towers_and_pyramids():
    assert FAMILIES.names()[:2] == (TOWER, PYRAMID)
    tower, pyramid = get_family(TOWER), get_family(PYRAMID)
    assert tower.sizes == (2, 3, 4, 5, 6, 7) and pyramid.sizes == (3, 6, 10, 15)
    assert tower.prompt.startswith("You are now viewing a tower of blocks. Will the tower fall?")
    assert pyramid.question == "If the red block was not there, would any other blocks fall?"
    with pytest.raises(ValueError, match="unknown stimulus family 'cube': expected one of tower, pyramid"):
        get_family("cube")


def test_every_family_keeps_the_protocol():
    """Unique domains, commands and random streams; defaults that parse; a difficulty measure."""
    families = [f for _, f in FAMILIES.items()]
    assert len({f.domain for f in families}) == len({f.command for f in families}) == len(families)
    assert len({f.stream_code for f in families}) == len(families)
    for name, f in FAMILIES.items():
        assert isinstance(f, StimulusFamily) and f.domain == name
        assert f.settings_file.is_file() and f.settings_file.name == "defaults.yaml"
        assert f.settings_file.parent.name == name  # one package per family: families/<domain>/
        assert isinstance(f.default_settings(), f.settings_type)
        assert f.capacity >= max(f.sizes)
        assert f.difficulty.name and f.difficulty.unit and f.difficulty.description
        assert f.label_rule and f.question in f.prompt


def test_reading_the_families_imports_no_numpy_or_mujoco():
    code = (
        "import sys\n"
        "from cubeworld.stimuli.families import FAMILIES, get_family\n"
        "for name, f in FAMILIES.items():\n"
        "    (f.domain, f.prompt, f.question, f.sizes, f.command, f.difficulty, f.default_settings())\n"
        "import cubeworld.formats.sets, cubeworld.stimuli.cli\n"
        "print(sorted(m for m in ('numpy', 'mujoco', 'torch', 'PIL') if m in sys.modules))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


# -- a family added in a test: identities of the others do not move --------------------
class StackFamily(TowerFamily):
    """Towers under another name: enough to prove that a family is one class, one YAML file
    and one registry entry."""

    domain = "stack"
    command = "stacks"
    description = "Short stacks: will the stack fall?"
    sizes = (2, 3)
    stream_code = 99


@pytest.fixture
def stack_family(tmp_path, monkeypatch):
    yaml_file = tmp_path / "stack.yaml"
    text = get_family(TOWER).settings_file.read_text().replace("tip_margin: 0.003", "tip_margin: 0.004")
    yaml_file.write_text(text + "\npresets:\n  stacks-mini: {domain: stack, sizes: [2], per_size: 2, seed: 77}\n")
    family = StackFamily()
    family.settings_file = yaml_file
    monkeypatch.setattr(FAMILIES, "_entries", dict(FAMILIES._entries))  # restored after the test
    FAMILIES.register("stack", family)
    return family


def _builtin_identities() -> dict[str, dict]:
    return {d: identity_for(d, get_family(d).sizes, 2, 1) for d in (TOWER, PYRAMID)}


def test_adding_a_family_changes_no_identity(tmp_path, monkeypatch):
    before = _builtin_identities()
    family = StackFamily()
    family.settings_file = get_family(TOWER).settings_file
    monkeypatch.setattr(FAMILIES, "_entries", dict(FAMILIES._entries))
    FAMILIES.register("stack", family)
    assert "stack" in FAMILIES
    after = _builtin_identities()
    assert after == before
    assert "stack" not in json.dumps(after)
    assert set(after[TOWER]["settings"]) == {"physics", "render", "tower"}
    assert set(after[PYRAMID]["settings"]) == {"physics", "render", "pyramid"}
    assert set(identity_for("stack", "2", 2, 1)["settings"]) == {"physics", "render", "stack"}


def test_an_added_family_generates_through_the_protocol(stack_family, tmp_path):
    out = generate_set("stack", "2,3", 2, 3, tmp_path / "s", resolution=32, workers=1, progress=False)
    s = load_set(out)
    assert Counter((r.n_blocks, r.answer) for r in s.rows) == {(n, a): 1 for n in (2, 3) for a in ("Yes", "No")}
    assert {r.domain for r in s.rows} == {"stack"} and s.rows[0].stimulus_id.startswith("stack-s3-n2-")
    assert s.card["settings"]["stack"]["tip_margin"] == 0.004 and s.card["prompt"] == stack_family.prompt
    assert all(abs(r.extra["margin_mm"]) >= 4.0 for r in s.rows)
    # its own random stream: not the towers of the same seed
    towers = generate_set(TOWER, "2,3", 2, 3, tmp_path / "t", resolution=32, workers=1, progress=False)
    assert [r.extra["scene"] for r in load_set(towers).rows] != [r.extra["scene"] for r in s.rows]
    from cubeworld.stimuli.pipeline.presets import _load, list_presets

    _load.cache_clear()
    try:
        assert list_presets()["stacks-mini"]["total"] == 2
    finally:
        _load.cache_clear()


def test_rows_of_unregistered_domains_are_refused_by_the_stimuli_stage(tmp_path):
    """The set format checks that a domain is a name; whoever needs the family looks it up
    and refuses a domain no family registers, with one line naming the ones that exist."""
    from typer.testing import CliRunner

    from cubeworld.cli import app

    root = tmp_path / "set"
    (root / "images").mkdir(parents=True)
    (root / "images" / "a.png").write_bytes(b"")
    row = {
        "file_name": "images/a.png",
        "stimulus_id": "a",
        "domain": "dominoes",
        "n_blocks": 3,
        "falls": True,
        "answer": "Yes",
        "prompt": "?",
    }
    (root / "metadata.jsonl").write_text(json.dumps(row) + "\n")
    assert load_set(root).rows[0].domain == "dominoes"
    res = CliRunner().invoke(app, ["audit", str(root)])
    assert res.exit_code == 2
    assert res.output.strip() == "error: unknown stimulus family 'dominoes': expected one of tower, pyramid, domino"


# -- the outcome rule on recorded scenes (contract A) ------------------------------------
@pytest.mark.parametrize("name", ["towers-64", "pyramids-64"])
def test_answer_by_simulation_gives_the_recorded_labels(reference_sets, name):
    s = load_set(reference_sets[name])
    family = get_family(s.rows[0].domain)
    answers = [family.answer_by_simulation(r.extra["scene"]) for r in s.rows]
    assert answers == [r.falls for r in s.rows]
    assert set(answers) == {True, False}
    again = [family.answer_by_simulation(r.extra["scene"]) for r in reversed(s.rows)]
    assert again[::-1] == answers  # deterministic, whatever was simulated before


def test_answer_by_simulation_reuses_one_world_and_takes_physics_overrides(reference_sets):
    from cubeworld.stimuli.engine.worlds import simulation_world

    rows = load_set(reference_sets["towers-64"]).rows
    tower = get_family(TOWER)
    falling = next(r for r in rows if r.falls)
    tower.answer_by_simulation(falling.extra["scene"])
    world = simulation_world(falling.n_blocks)  # one world per scene size, as in generation
    assert tower.answer_by_simulation(falling.extra["scene"]) is True
    assert simulation_world(falling.n_blocks) is world
    # 2 ms of simulated time: nothing has moved yet, so nothing falls
    assert tower.answer_by_simulation(falling.extra["scene"], physics={"duration": 0.002}) is False
    with pytest.raises(StimuliError, match=r"unknown physics setting\(s\) \['gravity'\]"):
        tower.answer_by_simulation(falling.extra["scene"], physics={"gravity": 0})
    with pytest.raises(StimuliError, match="non-empty list of 'blocks'"):
        tower.answer_by_simulation({"blocks": []})
    # pyramids: removing the red block is part of the rule; without a red block there is no question
    pyramid_rows = load_set(reference_sets["pyramids-64"]).rows
    scene = dict(pyramid_rows[0].extra["scene"])
    del scene["red_block"]
    with pytest.raises(StimuliError, match="names its red block by index"):
        get_family(PYRAMID).answer_by_simulation(scene)


# -- difficulty (contract B) and shortcut cues ------------------------------------------
def test_difficulty_measures(reference_sets):
    """Rows of generator 2.0.0 store the `difficulty` column (contract B)."""
    towers = load_set(reference_sets["towers-64"]).rows
    for r in towers:
        assert r.extra["difficulty"] == r.difficulty == r.extra["margin_mm"]
        assert (r.difficulty > 0) == (not r.falls)  # larger = more clearly "No"
    pyramids = load_set(reference_sets["pyramids-64"]).rows
    family = get_family(PYRAMID)
    for r in pyramids:
        assert isinstance(r.extra["difficulty"], float)
        assert r.extra["difficulty"] == r.difficulty == family.difficulty_of(r.to_record())


def test_difficulty_of_rows_made_before_the_column(reference_sets):
    """The set format reads only the `difficulty` column; for rows without it (generator
    1.0.0) the stimuli stage computes the family's measure, and photos have none."""
    from cubeworld.stimuli import difficulty_of

    for name in ("towers-64", "pyramids-64"):
        for r in load_set(reference_sets[name]).rows:
            old = {k: v for k, v in r.to_record().items() if k != "difficulty"}
            assert StimulusRow.from_record(old).difficulty is None
            assert difficulty_of(old) == r.difficulty == difficulty_of(r.to_record())
    photo = {"domain": "tower", "n_blocks": 2, "falls": True, "image_id": 7}
    assert difficulty_of(photo) is None and difficulty_of({**photo, "domain": "marble-run"}) is None


def test_support_margin_by_hand():
    from cubeworld.stimuli.families.pyramid.geometry import support_margin_mm

    def cube(x, z):
        return {"size": [0.1, 0.1, 0.1], "pos": [x, 0.0, z]}

    # bottom cubes over [-0.1175, -0.0175] and [0.0175, 0.1175]; the top cube over [-0.02, 0.08]
    # touches both: 2.5 mm of the left one, 62.5 mm of the right one
    left, right, top = cube(-0.0675, 0.05), cube(0.0675, 0.05), cube(0.03, 0.15)
    assert support_margin_mm([left, right, top], red=0) == pytest.approx(12.5)  # centre 12.5 mm inside the right cube
    assert support_margin_mm([left, right, top], red=1) == pytest.approx(-47.5)  # centre 47.5 mm beyond the left cube
    assert support_margin_mm([left, right, top], red=2) is None  # nothing rests on the top cube


def test_shortcut_cues_read_rows(reference_sets):
    for name in ("towers-64", "pyramids-64"):
        rows = load_set(reference_sets[name]).rows
        family = get_family(rows[0].domain)
        cues = family.shortcut_cues()
        assert len(cues) == 6 and len({c.name for c in cues}) == 6  # issue 19: the cues a reviewer would try
        for cue in cues:
            values = [cue.value(r.to_record()) for r in rows]
            assert all(isinstance(v, float) for v in values)
    pyr = load_set(reference_sets["pyramids-64"]).rows
    cues = {c.name: c for c in get_family(PYRAMID).shortcut_cues()}
    assert cues["red_row"].rule == "category" and cues["centre_over_red"].rule == "threshold"
    assert [cues["red_row"].value(r.to_record()) for r in pyr] == [float(r.extra["red_row"]) for r in pyr]
    assert all(cues["resting_on_red"].value(r.to_record()) >= 1 for r in pyr)


# -- commands ----------------------------------------------------------------------------
def test_one_generate_command_per_family():
    import typer

    import cubeworld.cli  # noqa: F401  (the root app adds `generate demo`)
    from cubeworld.stimuli.cli import FIXED_COMMANDS, add_family_commands, generate_app

    names = {c.name for c in generate_app.registered_commands}
    assert {f.command for _, f in FAMILIES.items()} <= names and set(FIXED_COMMANDS) <= names
    clash = StackFamily()
    clash.command = "preset"
    app = typer.Typer()
    original = dict(FAMILIES._entries)
    try:
        FAMILIES._entries["stack"] = clash
        with pytest.raises(ValueError, match="command 'preset' is taken"):
            add_family_commands(app)
    finally:
        FAMILIES._entries.clear()
        FAMILIES._entries.update(original)


def test_family_settings_files_are_checked(tmp_path):
    family = StackFamily()
    family.settings_file = tmp_path / "bad.yaml"
    shutil.copy(get_family(TOWER).settings_file, family.settings_file)
    text = family.settings_file.read_text().replace("max_yaw: 90.0", "max_yaw: ninety")
    family.settings_file.write_text(text)
    with pytest.raises(StimuliError, match=r"bad.yaml:\d+: max_yaw: expected a number, got 'ninety'"):
        family.default_settings()


def test_blocks_can_start_tipped_without_changing_upright_bytes():
    """A family such as dominoes starts a block tipped (`pitch`); upright blocks keep the
    exact quaternion and record they always had."""
    import math

    import numpy as np

    from cubeworld.stimuli.core.scene import Block, Scene, tilt_degrees

    upright = Block((0.1, 0.1, 0.1), (0.0, 0.0, 0.05), 30.0, "blue", (0.1, 0.3, 0.8))
    h = math.radians(30.0) / 2
    assert upright.quat == (math.cos(h), 0.0, 0.0, math.sin(h))
    assert "pitch" not in upright.to_record()
    tipped = Block((0.02, 0.1, 0.2), (0.0, 0.0, 0.1), 30.0, "blue", (0.1, 0.3, 0.8), pitch=20.0)
    assert np.linalg.norm(tipped.quat) == pytest.approx(1.0)
    assert tilt_degrees(np.array([tipped.quat]))[0] == pytest.approx(20.0)
    scene = Scene([upright, tipped], {"kind": "test"})
    back = Scene.from_record(scene.record({"azimuth": 90.0}))
    assert back.blocks == [upright, tipped] and back.keys == {"kind": "test"}


@pytest.mark.parametrize("domain", ["tower", "pyramid", "domino"])
def test_settings_refuse_a_perturbation_that_is_not_a_physics_setting(domain):
    """Every family's robustness perturbations are checked when its settings are read."""
    family = get_family(domain)
    data = dataclasses.asdict(family.default_settings())
    data["perturbations"] = [{"timestep": 0.001}, {"gravity": 0}]
    with pytest.raises(StimuliError, match=r"perturbations\[1\]: unknown physics setting\(s\) \['gravity'\]"):
        family.settings_from_dict(data, "test")
    data["perturbations"] = [{"timestep": 0.001}]
    assert family.settings_from_dict(data, "test").perturbations[0] == {"timestep": 0.001}


def test_a_pushed_block_moves_and_its_push_is_recorded(reference_sets):
    """A block's `velocity` is its start velocity in the simulation (a push): a standing
    tower pushed hard falls; the record carries the push only when there is one."""
    from cubeworld.stimuli.core.scene import Scene

    tower = get_family(TOWER)
    standing = next(r for r in load_set(reference_sets["towers-64"]).rows if not r.falls)
    scene = standing.extra["scene"]
    assert tower.answer_by_simulation(scene) is False
    pushed = {**scene, "blocks": [{**b, "velocity": [2.0, 0.0, 0.0]} for b in scene["blocks"]]}
    assert tower.answer_by_simulation(pushed) is True
    spec = Scene.from_record(pushed)
    assert spec.blocks[0].velocity == (2.0, 0.0, 0.0)
    assert spec.record({})["blocks"][0]["velocity"] == [2.0, 0.0, 0.0]
    assert "velocity" not in Scene.from_record(scene).record({})["blocks"][0]
    with pytest.raises(StimuliError, match="velocity take three numbers"):
        Scene.from_record({"blocks": [{**scene["blocks"][0], "velocity": [1.0]}]})
