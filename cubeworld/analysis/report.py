"""One self-contained HTML report that leads with its findings.

The first screen says what was run and what came out of it: the key findings (sentences
the analyses generate from their own tables; the study's main effect first), then the
figures; the tables, what could not be shown and why, and the methods follow. Inputs,
library versions and the prediction tables' provenance come last, folded (`<details>`).
Figures are embedded as base64 PNG, so the page needs no other file: a reader can mail it
or open it offline.

Nothing is wider than the page: tables are printed in a reader's form (`display_frame`:
an estimate and its interval in one cell, p-values as "<0.001", wrapping headers), a unit
may split a wide table into narrower parts (`TableOut.display`), and long tables (over
`FOLD_ROWS` rows, e.g. per-epoch accuracy) are folded; every CSV keeps all columns.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from cubeworld.analysis.plotting import Figure
from cubeworld.formats.atomic import atomic_write_text

FOLD_ROWS = 40  # tables longer than this are folded (<details>)
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
table{border-collapse:collapse;font-size:.82em;margin:.5em 0 1.5em;max-width:100%}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:right;overflow-wrap:anywhere}th{background:#f5f5f5}
h4{font-size:.95em;margin:.6em 0 .2em;font-weight:600}
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
    display: tuple[tuple[str, pd.DataFrame], ...] = ()


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


_NUMERIC_WORDS = (
    "accuracy",
    "kappa",
    "ci_",
    "p_value",
    "difference",
    "drop",
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
    "auc",
    "phi",
    "spread",
    "percentile",
    "median",
    "p10",
    "p90",
)


def _is_p(col: str) -> bool:
    return col.startswith("p_") or "_p_" in col or col.endswith("_p") or col == "p_value"


def _fmt(v: float, p: bool = False) -> str:
    if not np.isfinite(v):
        return ""
    if p and v < 0.001:
        return "<0.001"
    return f"{(0.0 if abs(v) < 5e-4 else v):.3f}"  # no "-0.000"


def _merge(df: pd.DataFrame, col: str, lo: str, hi: str, name: str, with_value: bool) -> pd.DataFrame:
    """Replace `lo` and `hi` (and `col` when with_value) by one text column `name`."""
    text = [
        (f"{_fmt(v)} " if with_value else "") + (f"[{_fmt(a)}, {_fmt(b)}]" if np.isfinite(a) and np.isfinite(b) else "")
        for v, a, b in zip(df[col] if with_value else df[lo], df[lo], df[hi])
    ]
    at = list(df.columns).index(col if with_value else lo)
    df = df.drop(columns=[c for c in ((col, lo, hi) if with_value else (lo, hi))])
    df.insert(at, name, [t.strip() for t in text])
    return df


def display_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A table as a reader wants it printed: `x`, `x_ci_low`, `x_ci_high` become one cell
    "x [lo, hi]" (a bare ci_low/ci_high joins the column before it), `*_paper` intervals
    and `*_min`/`*_max` ranges one cell each, p-values read "<0.001", booleans "yes" or
    nothing, integers without decimals, and headers wrap at their underscores."""
    df = df.copy()
    cols = list(df.columns)
    if "ci_low" in cols and "ci_high" in cols and cols.index("ci_low") > 0:
        df = _merge(df, cols[cols.index("ci_low") - 1], "ci_low", "ci_high", cols[cols.index("ci_low") - 1], True)
    if "ci_low_paper" in df.columns and "ci_high_paper" in df.columns:
        df = _merge(df, "", "ci_low_paper", "ci_high_paper", "paper's interval", False)
    for c in list(df.columns):
        if c not in df.columns:
            continue
        if f"{c}_ci_low" in df.columns and f"{c}_ci_high" in df.columns:
            df = _merge(df, c, f"{c}_ci_low", f"{c}_ci_high", c, True)
        if f"{c}_ci_low_paper" in df.columns and f"{c}_ci_high_paper" in df.columns:
            df = _merge(df, "", f"{c}_ci_low_paper", f"{c}_ci_high_paper", f"{c} paper's interval", False)
        if f"{c}_min" in df.columns and f"{c}_max" in df.columns:
            df = _merge(df, "", f"{c}_min", f"{c}_max", f"{c} range allowed", False)
    for col in df.columns:
        v = df[col]
        if v.dtype == bool or (v.dtype == object and v.map(lambda x: isinstance(x, bool | np.bool_)).all()):
            df[col] = v.map(lambda x: "yes" if x else "")
        elif v.dtype.kind == "f":
            integer = v.notna().all() and (v == v.round()).all() and not any(k in col for k in _NUMERIC_WORDS)
            df[col] = v.astype("int64") if integer else v.map(lambda x, p=_is_p(col): _fmt(x, p))
    df.columns = [c.replace("_", "_\u200b") for c in df.columns]
    return df


def _table_html(df: pd.DataFrame, *, reader: bool = True) -> str:
    shown = display_frame(df) if reader else df
    return shown.to_html(index=False, na_rep="", border=0, escape=True)


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
    methods: Sequence[str] = (),
    skipped: Sequence[tuple[str, str]] = (),
    versions: Sequence[tuple[str, str]] = (),
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
        if not t.show:
            body = f"<p class='meta'>{len(t.frame):,} rows: see {html.escape(t.csv.name)}.</p>"
        else:
            parts_of = t.display or (("", t.frame),)
            body = "".join(
                (f"<h4>{html.escape(head)}</h4>" if head else "") + _table_html(frame) for head, frame in parts_of
            )
            n_rows = max(len(frame) for _, frame in parts_of)
            if n_rows > FOLD_ROWS:
                body = (
                    f"<details><summary>{n_rows:,} rows (also in {html.escape(t.csv.name)})</summary>{body}</details>"
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
        parts.append("<h3>Provenance of the predictions</h3>" + _table_html(provenance, reader=False))
    parts.append("</details></body></html>")
    path = out / "report.html"
    atomic_write_text(path, "\n".join(parts))
    return path
