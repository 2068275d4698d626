"""docs/EXTENDING.md's worked stimulus family runs exactly as printed: the section's code
blocks are the files of a toy fourth family (written where their first line says), the
registry line (added to `FAMILIES` as printed) and a block that generates a tiny set and
checks it. If the page drifts from the protocol, this fails."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

import cubeworld.stimuli.families as families_package
from cubeworld.stimuli.catalog import FAMILIES

DOC = Path(__file__).resolve().parents[2] / "docs" / "EXTENDING.md"
BLOCK = re.compile(r"```(python|yaml)\n(.*?)```", re.DOTALL)


def family_section() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("## A stimulus family")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def code_blocks() -> list[tuple[str, str, str]]:
    """(language, first line, code) of every fenced block of the family section."""
    return [(lang, code.splitlines()[0], code) for lang, code in BLOCK.findall(family_section())]


@pytest.fixture
def overlay(tmp_path, monkeypatch):
    """The family's package goes where the page says, under a folder added to the
    `cubeworld.stimuli.families` package path; the registry and modules are restored after."""
    root = tmp_path / "overlay"
    monkeypatch.setattr(
        families_package, "__path__", [*families_package.__path__, str(root / "cubeworld/stimuli/families")]
    )
    monkeypatch.setattr(FAMILIES, "_entries", dict(FAMILIES._entries))
    yield root
    for name in [m for m in sys.modules if m.startswith("cubeworld.stimuli.families.lean")]:
        del sys.modules[name]


def test_the_family_example_runs_as_printed(overlay, tmp_path, monkeypatch, capsys):
    blocks = code_blocks()
    files = [
        (first, code) for _, first, code in blocks if re.match(r"# cubeworld/stimuli/families/\S+\.(py|yaml)$", first)
    ]
    assert [Path(first[2:]).name for first, _ in files] == ["__init__.py", "defaults.yaml"]
    for first, code in files:
        path = overlay / first[2:]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code)
    (registry,) = [code for _, first, code in blocks if first.startswith("# cubeworld/stimuli/catalog.py")]
    entries = ast.literal_eval("{" + "".join(registry.splitlines()[1:]) + "}")  # the dict line as printed
    assert entries == {"lean": "cubeworld.stimuli.families.lean:FAMILY"}
    for name, ref in entries.items():
        FAMILIES.register(name, ref)
    (usage,) = [code for _, first, code in blocks if first == "# try it"]
    monkeypatch.chdir(tmp_path)
    exec(compile(usage, f"{DOC}:try it", "exec"), {"__name__": "extending_example"})
    assert "largest_lean_deg alone decides" in capsys.readouterr().out
    assert (tmp_path / "sets/leans/dataset.json").is_file()


def test_the_example_keeps_the_rules_of_a_family(overlay):
    """Light to read (no numpy or MuJoCo on import), its own random stream, and the
    registry line is the only line outside its package."""
    for _, first, code in code_blocks():
        if first.startswith("# cubeworld/stimuli/families/"):
            path = overlay / first[2:]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(code)
    import importlib

    module = importlib.import_module("cubeworld.stimuli.families.lean")
    family = module.FAMILY
    assert family.stream_code not in {f.stream_code for _, f in FAMILIES.items()}
    assert family.domain not in FAMILIES and family.command not in {f.command for _, f in FAMILIES.items()}
    top_level_imports = [
        node
        for node in ast.parse(Path(module.__file__).read_text()).body
        if isinstance(node, (ast.Import, ast.ImportFrom))
    ]
    names = {getattr(n, "module", None) or n.names[0].name for n in top_level_imports}
    assert not names & {"numpy", "mujoco"} and not any(str(n).startswith("cubeworld.stimuli.families.") for n in names)
    assert isinstance(family.default_settings(), family.settings_type)
