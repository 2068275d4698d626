"""The command line: the contract's commands and one-line errors with exit code 2."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cubeworld.cli import app
from cubeworld.formats.sets import load_set

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args))


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "set"
    res = invoke(
        "generate",
        "towers",
        "--sizes",
        "2,3",
        "--per-size",
        "2",
        "--seed",
        "9",
        "--out",
        str(out),
        "--workers",
        "1",
        "--resolution",
        "40",
        "--quiet",
    )
    assert res.exit_code == 0, res.output
    return out


def test_generate_towers_and_sheet(small_set, tmp_path):
    s = load_set(small_set)
    assert len(s) == 4 and s.card["arguments"]["resolution"] == 40
    res = invoke("sheet", str(small_set), "--out", str(tmp_path / "sheet.png"), "--thumb", "32")
    assert res.exit_code == 0, res.output
    from PIL import Image

    with Image.open(tmp_path / "sheet.png") as im:
        assert im.width >= 32 and im.height > 32


def test_generate_from_card(small_set, tmp_path):
    res = invoke(
        "generate", "from", str(small_set / "dataset.json"), "--out", str(tmp_path / "b"), "--quiet", "--workers", "1"
    )
    assert res.exit_code == 0, res.output
    for p in small_set.rglob("*"):
        if p.is_file():
            assert (tmp_path / "b" / p.relative_to(small_set)).read_bytes() == p.read_bytes()


def test_presets_listed():
    res = invoke("generate", "presets")
    assert res.exit_code == 0 and "towers-2-4" in res.output and "pyramids-human" in res.output
    res = invoke("generate", "presets", "--json")
    assert json.loads(res.output)["towers-human"]["total"] == 120


@pytest.mark.parametrize(
    "args, message",
    [
        (["generate", "towers", "--sizes", "2-9", "--per-size", "2", "--seed", "0"], "outside the tower domain"),
        (["generate", "pyramids", "--sizes", "4", "--per-size", "2", "--seed", "0"], "outside the pyramid domain"),
        (["generate", "towers", "--per-size", "0", "--seed", "0"], "--per-size"),
        (["generate", "towers", "--per-size", "-4", "--seed", "0"], "--per-size"),
        (["generate", "towers", "--per-size", "3", "--seed", "0"], "must be even"),
        (["generate", "towers", "--per-size", str(10**12), "--seed", "0"], "less than or equal to 100000"),
        (["generate", "towers", "--per-size", "2", "--seed", "0", "--workers", "0"], "--workers"),
        (["generate", "towers", "--per-size", "2", "--seed", "0", "--resolution", "8192"], "--resolution"),
        (["generate", "preset", "nope"], "unknown preset"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, message, tmp_path):
    out = tmp_path / "o"
    res = invoke(*args, "--out", str(out))
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output
    assert not out.exists()


def test_folder_with_another_set(small_set):
    res = invoke(
        "generate",
        "towers",
        "--sizes",
        "2,3",
        "--per-size",
        "2",
        "--seed",
        "10",
        "--out",
        str(small_set),
        "--workers",
        "1",
    )
    assert res.exit_code == 2 and "different set" in res.output


def test_unwritable_and_unparsable(tmp_path):
    blocker = tmp_path / "f"
    blocker.write_text("x")
    res = invoke("generate", "towers", "--sizes", "2", "--per-size", "2", "--seed", "0", "--out", str(blocker / "s"))
    assert res.exit_code == 2 and "cannot write" in res.output
    bad = tmp_path / "dataset.json"
    bad.write_text("[1, 2")
    res = invoke("generate", "from", str(bad), "--out", str(tmp_path / "o"))
    assert res.exit_code == 2 and "cannot parse" in res.output
    res = invoke("sheet", str(tmp_path / "nothing"), "--out", str(tmp_path / "s.png"))
    assert res.exit_code == 2 and "no such set folder" in res.output


def test_missing_gl_is_a_clear_error(tmp_path):
    """Without a working GL backend the CLI prints one line naming the Debian packages."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "MUJOCO_GL": "osmesa", "PYOPENGL_PLATFORM": "osmesa"}
    cmd = [
        sys.executable,
        "-m",
        "cubeworld.cli",
        "generate",
        "towers",
        "--sizes",
        "2",
        "--per-size",
        "2",
        "--seed",
        "0",
        "--out",
        str(tmp_path / "o"),
        "--workers",
        "1",
        "--quiet",
    ]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    if res.returncode == 0:
        pytest.skip("OSMesa works here, so it cannot stand in for a missing backend")
    assert res.returncode == 2, res.stderr
    assert "libegl1" in res.stderr and "apt-get install" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "o").exists()
