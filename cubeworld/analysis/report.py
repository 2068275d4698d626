"""One self-contained HTML report that leads with its findings.

The first screen says what was run and what came out of it: the key findings (sentences
the analyses generate from their own tables), then the figures; the tables, what could
not be shown and why, and the methods follow. Inputs, library versions and the
prediction tables' provenance come last, folded (`<details>`). Figures are embedded as
base64 PNG, so the page needs no other file: a reader can mail it or open it offline.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from cubeworld.analysis.plotting import Figure
from cubeworld.formats.atomic import atomic_write_text

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;
margin:1em auto;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.45em;margin:.3em 0}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
h3{font-size:1.05em;margin:.4em 0}
.run{color:#444;font-size:.92em;margin:.2em 0 .6em}
#findings{background:#f6f8fa;border:1px solid #e1e4e8;border-radius:6px;padding:.2em 1em .4em}
#findings h2{margin:.4em 0;border:0;font-size:1.1em}#findings ul{margin:.2em 0;padding-left:1.2em}
#findings li{margin:.15em 0;font-size:.93em}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption,.caption{font-size:.9em;color:#444;margin:.3em 0 .8em}
table{border-collapse:collapse;font-size:.82em;margin:.5em 0 1.5em}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:right}th{background:#f5f5f5}
td:first-child,th:first-child{text-align:left}.meta{color:#666;font-size:.88em}
.scroll{overflow-x:auto}details{margin:.6em 0}summary{cursor:pointer;color:#333}
"""


@dataclass(frozen=True)
class Table:
    """A table of the report: its CSV on disk, the frame and its caption; `show=False`
    lists it (caption, file, size) without printing its rows."""

    name: str
    title: str
    csv: Path
    frame: pd.DataFrame
    caption: str
    show: bool = True


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


def _table_html(df: pd.DataFrame) -> str:
    df = df.copy()
    for col in df.columns:  # counts stored as floats (means over equal seeds) shown as integers
        v = df[col]
        if (
            v.dtype.kind == "f"
            and v.notna().all()
            and (v == v.round()).all()
            and not any(
                k in col
                for k in (
                    "accuracy",
                    "kappa",
                    "ci_",
                    "p_value",
                    "difference",
                    "sd",
                    "pearson",
                    "spearman",
                    "brier",
                    "loss",
                    "slope",
                    "threshold",
                    "intercept",
                    "mass",
                    "p_other",
                    "share",
                    "_p",
                )
            )
        ):
            df[col] = v.astype("int64")
    return (
        "<div class='scroll'>"
        + df.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="", border=0, escape=True)
        + "</div>"
    )


def _li(items) -> str:
    return "".join(f"<li>{html.escape(s)}</li>" for s in items)


def write_report(
    out: Path,
    figures: list[Figure],
    tables: list[Table],
    *,
    run: str,
    findings: tuple[list[str], list[str]],
    inputs: list[str],
    methods: list[str] = (),
    skipped: list[tuple[str, str]] = (),
    versions: list[tuple[str, str]] = (),
    provenance: pd.DataFrame | None = None,
) -> Path:
    """Write `out/report.html` and return its path. findings: (first screen, folded)."""
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<title>cubeworld analysis report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>cubeworld analysis report</h1>",
        f"<p class='run' id='run'><b>What was run:</b> {html.escape(run)}</p>",
        "<section id='findings'><h2>Key findings</h2>",
    ]
    first, rest = findings
    parts.append(f"<ul>{_li(first)}</ul>" if first else "<p>No findings.</p>")
    if rest:
        parts.append(
            f"<details><summary>{len(rest)} more finding{'s' * (len(rest) != 1)}"
            f"</summary><ul>{_li(rest)}</ul></details>"
        )
    parts.append("</section>")
    if figures:
        parts.append("<section id='figures'>")
    for f in figures:
        parts.append(
            f"<figure id='{f.name}'><h3>{html.escape(f.title)}</h3>"
            f"<img src='{_img(f.png)}' alt='{html.escape(f.title)}'>"
            f"<figcaption>{html.escape(f.caption)} (Files: {f.png.name}, {f.pdf.name}.)"
            "</figcaption></figure>"
        )
    if figures:
        parts.append("</section>")
    parts.append("<h2 id='tables'>Tables</h2>")
    for t in tables:
        body = (
            _table_html(t.frame)
            if t.show
            else f"<p class='meta'>{len(t.frame):,} rows: see {html.escape(t.csv.name)}.</p>"
        )
        parts.append(
            f"<section id='{t.name}'><h3>{html.escape(t.title)}</h3>"
            f"<p class='caption'>{html.escape(t.caption)} (File: {t.csv.name}.)</p>" + body + "</section>"
        )
    if skipped:
        grouped: dict[str, list[str]] = {}
        for title, reason in skipped:
            grouped.setdefault(reason, []).append(title)
        parts.append("<h2 id='skipped'>Not shown</h2><ul>")
        parts += [
            f"<li>{html.escape(', '.join(dict.fromkeys(titles)))}: {html.escape(r)}</li>"
            for r, titles in grouped.items()
        ]
        parts.append("</ul>")
    if methods:
        parts.append(f"<h2 id='methods'>Methods</h2><ul>{_li(methods)}</ul>")
    parts.append("<details id='inputs'><summary>Inputs and versions</summary>")
    parts.append(f"<p class='meta'>Written {datetime.now(UTC):%Y-%m-%d %H:%M UTC}.</p>")
    parts.append("<h3>Inputs</h3><ul>" + "".join(f"<li><code>{html.escape(i)}</code></li>" for i in inputs) + "</ul>")
    if versions:
        parts.append(
            "<h3>Versions</h3><p class='meta'>"
            + ", ".join(f"{html.escape(k)} {html.escape(v)}" for k, v in versions)
            + "</p>"
        )
    if provenance is not None and not provenance.empty:
        parts.append("<h3>Provenance of the predictions</h3>" + _table_html(provenance))
    parts.append("</details></body></html>")
    path = out / "report.html"
    atomic_write_text(path, "\n".join(parts))
    return path
