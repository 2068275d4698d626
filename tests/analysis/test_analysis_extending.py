"""docs/EXTENDING.md's worked analysis, run exactly as printed: its module and its one
registry line, through `analyze`, so the document cannot drift from the code."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pandas as pd

from cubeworld.analysis import ANALYSES, analyze

REPO = Path(__file__).resolve().parents[2]


def _printed() -> tuple[str, str, str]:
    """(module path, module source, registry line) of the doc's 'An analysis' section."""
    text = (REPO / "docs" / "EXTENDING.md").read_text()
    section = text[text.index("## An analysis") :]
    section = section[: section.index("\n## ", 3)]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    path = re.match(r"# (\S+)\n", code).group(1)
    line = re.search(r'`("[a-z_]+": "[a-z_.]+:ANALYSIS")`', section).group(1)
    return path, code, line


def test_the_printed_analysis_runs(tiny, tmp_path, monkeypatch):
    path, code, line = _printed()
    module_name = path.removesuffix(".py").replace("/", ".")
    module = types.ModuleType(module_name)
    exec(compile(code, path, "exec"), module.__dict__)  # the printed module, as printed
    monkeypatch.setitem(sys.modules, module_name, module)
    name, entry = (part.strip().strip('"') for part in line.split(": ", 1))
    assert entry == f"{module_name}:ANALYSIS"
    monkeypatch.setitem(ANALYSES._entries, name, entry)  # the printed registry line
    a = tiny.make_set(tmp_path / "a", "seta", sizes=(2, 3), per_size=5)
    pred = tiny.make_predictions(a, condition="ft")
    report = analyze([pred], tmp_path / "o", truth=[a], n_boot=100, progress=False, analyses=[name])
    table = pd.read_csv(tmp_path / "o" / f"{name}.csv")
    assert table["n_items"].tolist() == [5, 5]
    html = report.read_text()
    assert "10 items in 1 sets." in html and "Items counted from the set folders" in html
