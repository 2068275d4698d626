"""Every command fails the same way on bad input: one line, exit code 2, nothing written.

Here: an output that cannot be written is refused before any work starts (issue 13, item
9), and a YAML syntax error is one line with file, line and column (item 12).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cubeworld.errors import OutputNotWritable, check_writable
from cubeworld.formats.yamlfile import YamlFileError, read_yaml

CLI = [sys.executable, "-m", "cubeworld.cli"]


def _unwritable_dir(tmp_path: Path) -> Path:
    """A folder this process cannot write into, whoever runs the tests."""
    if os.geteuid() != 0:
        d = tmp_path / "read-only"
        d.mkdir()
        d.chmod(0o555)
        return d
    # root ignores permission bits; /sys is mounted read-only in containers and VMs alike.
    d = Path("/sys")
    with pytest.raises(OSError):
        (d / "cubeworld-write-probe").write_text("x")
    return d


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def _assert_one_line_refusal(r: subprocess.CompletedProcess, names: str) -> None:
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert names in lines[0], lines[0]
    assert "Traceback" not in r.stderr


COMMANDS = {
    "models build-tiny": lambda o: ["models", "build-tiny", "--out", str(o / "tiny")],
    "evaluate": lambda o: ["evaluate", "--model", "no/such-model", "--set", "no-set", "--out", str(o / "p.csv")],
    "finetune": lambda o: ["finetune", "--model", "no/such-model", "--train", "no-set", "--out", str(o / "run")],
    "analyze": lambda o: ["analyze", "no-preds.csv", "--out", str(o / "report")],
    "human create": lambda o: ["human", "create", "--set", "no-set", "--design", "same", "--out", str(o / "study")],
    "human export": lambda o: ["human", "export", "no-study", "--out", str(o / "responses.csv")],
    "data lerer100-models": lambda o: ["data", "lerer100-models", "--from", "no-src", "--out", str(o / "m.csv")],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_unwritable_output_is_one_line_before_any_work(command, tmp_path):
    ro = _unwritable_dir(tmp_path)
    r = _run(*COMMANDS[command](ro), cwd=tmp_path)
    _assert_one_line_refusal(r, str(ro))


def test_study_run_into_unwritable_runs_dir(tmp_path):
    ro = _unwritable_dir(tmp_path)
    cfg = tmp_path / "study.yaml"
    cfg.write_text(
        f"name: s\nruns_dir: {ro}\nmodels: {{tiny: {{source: tiny}}}}\n"
        "sets: {t: {domain: tower, sizes: [2], per_size: 2, seed: 1, resolution: 32}}\n"
        "conditions: {zero-shot: {zero_shot: true}}\nevaluation: [t]\n"
    )
    r = _run("study", "run", str(cfg), "--quiet", cwd=tmp_path)
    _assert_one_line_refusal(r, str(ro))
    assert not (tmp_path / "sets").exists()


def test_check_writable_creates_nothing(tmp_path):
    target = tmp_path / "a" / "b"
    assert check_writable(target) == target
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputNotWritable, match="is not a folder"):
        check_writable(tmp_path / "f")
    with pytest.raises(OutputNotWritable):
        check_writable(tmp_path / "f" / "below")


def test_yaml_syntax_error_is_one_line_with_line_and_column(tmp_path):
    bad = tmp_path / "study.yaml"
    bad.write_text("name: x\nmodels:\n  tiny: {source: tiny\nsets: {}\n")
    with pytest.raises(YamlFileError) as e:
        read_yaml(bad)
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"{bad}:") and "YAML syntax error" in message
    line = int(message.split(":")[1])
    assert line in (3, 4)
    r = _run("study", "status", str(bad), cwd=tmp_path)
    _assert_one_line_refusal(r, f"{bad}:")


def test_analyze_with_a_missing_input_leaves_no_output_folder(tmp_path):
    r = _run("analyze", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "report"), cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("error: ")
    assert not (tmp_path / "report").exists()


def test_the_command_line_loads_no_heavy_library_before_a_command_runs():
    """`cubeworld --help` and a typo'd command answer in well under a second: the command
    tree is built without pandas, torch, transformers, mujoco or matplotlib."""
    code = (
        "import sys\n"
        "import cubeworld.cli\n"
        "heavy = ('pandas', 'torch', 'transformers', 'mujoco', 'matplotlib', 'sklearn', 'scipy')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
