"""One self-contained HTML report: every figure (embedded as base64 PNG) and table.

The page needs no other file: a reader can mail it or open it offline. Each figure and
table has a short caption that says what is shown and how the intervals were made.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from cubeworld.analysis.plotting import Figure
from cubeworld.formats.atomic import atomic_write_text

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
figure{margin:1.5em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption,.caption{font-size:.92em;color:#444;margin:.4em 0 .8em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0 1.5em}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right}th{background:#f5f5f5}
td:first-child,th:first-child{text-align:left}.meta{color:#666;font-size:.9em}
"""


@dataclass(frozen=True)
class Table:
    """A table of the report: its CSV on disk, the frame shown and its caption."""

    name: str
    title: str
    csv: Path
    frame: pd.DataFrame
    caption: str


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


def _table_html(df: pd.DataFrame) -> str:
    df = df.copy()
    for col in df.columns:  # counts stored as floats (means over equal seeds) shown as integers
        v = df[col]
        if v.dtype.kind == "f" and v.notna().all() and (v == v.round()).all() and not any(
                k in col for k in ("accuracy", "kappa", "ci_", "p_value", "difference", "sd")):
            df[col] = v.astype("int64")
    return df.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="",
                      border=0, escape=True)


def write_report(
    out: Path,
    figures: list[Figure],
    tables: list[Table],
    *,
    summary: list[str],
    inputs: list[str],
    methods: list[str] = (),
) -> Path:
    """Write `out/report.html` and return its path."""
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>cubeworld analysis report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>cubeworld analysis report</h1>",
        f"<p class='meta'>Written {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}. Inputs: "
        + ", ".join(f"<code>{html.escape(i)}</code>" for i in inputs) + "</p>",
    ]
    if summary:
        parts.append("<h2>Summary</h2><ul>")
        parts += [f"<li>{html.escape(s)}</li>" for s in summary]
        parts.append("</ul>")
    if methods:
        parts.append("<h2>Methods</h2><ul>")
        parts += [f"<li>{html.escape(m)}</li>" for m in methods]
        parts.append("</ul>")
    if figures:
        parts.append("<h2>Figures</h2>")
    for f in figures:
        parts.append(
            f"<figure id='{f.name}'><h3>{html.escape(f.title)}</h3>"
            f"<img src='{_img(f.png)}' alt='{html.escape(f.title)}'>"
            f"<figcaption>{html.escape(f.caption)} (Files: {f.png.name}, {f.pdf.name}.)"
            "</figcaption></figure>"
        )
    parts.append("<h2>Tables</h2>")
    for t in tables:
        parts.append(
            f"<section id='{t.name}'><h3>{html.escape(t.title)}</h3>"
            f"<p class='caption'>{html.escape(t.caption)} (File: {t.csv.name}.)</p>"
            + _table_html(t.frame) + "</section>"
        )
    parts.append("</body></html>")
    path = out / "report.html"
    atomic_write_text(path, "\n".join(parts))
    return path
