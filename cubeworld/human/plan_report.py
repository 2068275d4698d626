"""The planner's output: a printed table, the cost on Prolific, plan.csv / plan.json / plan.png.

Cost, as Prolific pays: every participant gets the base reward; the bonus is paid per
correct answer (expected correct answers = responses x the pilot's mean accuracy); Prolific
adds its service fee on rewards and bonuses alike. The fee is an assumption, printed with
every cost: 33.33% by default (Prolific's published academic rate when this was written;
check prolific.com/pricing), VAT not included; `fee_percent=0` leaves fees out.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from cubeworld.formats.atomic import atomic_write_bytes, atomic_write_text
from cubeworld.human.pilot import PlanError
from cubeworld.human.plan import PlanResult

DEFAULT_FEE_PERCENT = 33.33


@dataclass(frozen=True)
class Pay:
    """What one participant is paid (the study paid 1.50 USD base + 0.01 USD per correct)."""

    base: float = 1.50
    bonus_per_correct: float = 0.01
    currency: str = "USD"
    fee_percent: float = DEFAULT_FEE_PERCENT

    def validate(self) -> None:
        for name in ("base", "bonus_per_correct", "fee_percent"):
            v = getattr(self, name)
            if not math.isfinite(v) or v < 0:
                opt = {"base": "--base", "bonus_per_correct": "--bonus-per-correct", "fee_percent": "--fee-percent"}[
                    name
                ]
                raise PlanError(f"{opt} must be a number >= 0, got {v!r}")

    def fee_note(self) -> str:
        if self.fee_percent == 0:
            return "no service fee included (--fee-percent 0)"
        return (
            f"incl. an assumed Prolific service fee of {self.fee_percent:g}% on rewards and "
            "bonuses (check prolific.com/pricing; VAT not included; --fee-percent 0 leaves "
            "it out)"
        )


@dataclass(frozen=True)
class Cost:
    participants: int
    rewards: float
    bonuses: float
    fee: float

    @property
    def total(self) -> float:
        return self.rewards + self.bonuses + self.fee


def cost(result: PlanResult, size: int, pay: Pay) -> Cost:
    n = result.participants_for(size)
    rewards = n * pay.base
    bonuses = result.responses_for(size) * result.mean_accuracy * pay.bonus_per_correct
    return Cost(n, rewards, bonuses, (rewards + bonuses) * pay.fee_percent / 100)


# -- tables ----------------------------------------------------------------------------------
def long_table(result: PlanResult, pay: Pay) -> pd.DataFrame:
    """One row per (size, quantity): the half-width criterion, its SD, and the cost."""
    rows = []
    for i, size in enumerate(result.sizes):
        c = cost(result, size, pay)
        for j, q in enumerate(result.quantities):
            rows.append(
                {
                    "design": result.settings.design,
                    "size": size,
                    "participants": result.participants[i],
                    "quantity": q.key,
                    "kind": q.kind,
                    "pilot_value": q.pilot_value,
                    "half_width": result.half_widths[i, j],
                    "half_width_sd": result.spread_sd[i, j],
                    "meets_target": bool(result.half_widths[i, j] <= result.settings.target),
                    "cost": round(c.total, 2),
                    "currency": pay.currency,
                }
            )
    return pd.DataFrame(rows)


def _short(label: str, width: int = 14) -> str:
    return label if len(label) <= width else label[: width - 1] + "~"


def format_report(result: PlanResult, pay: Pay) -> str:
    s = result.settings
    crit = "mean" if s.assurance is None else f"{100 * s.assurance:g}% quantile"
    lines = [
        f"human-study plan: {s.design} design, pilot {result.pilot_name} ({result.n_items} "
        f"items, {result.n_pilot_participants} participants, "
        f"{sum(q.kind == 'kappa' for q in result.quantities)} model(s))",
        f"95% interval half-width ({crit} over {s.resamples} simulated studies, "
        f"{s.n_boot} bootstrap draws each); target {s.target:g}",
    ]
    if s.design == "spread":
        lines.append(f"spread: K = {s.k} items per participant; size = responses per item")
    labels = [_short(q.label) for q in result.quantities]
    widths = [max(len(lab), 6) for lab in labels]
    unit = "participants" if s.design == "same" else "per item"
    header = f"{unit:>12}" + ("" if s.design == "same" else f" {'people':>7}")
    header += "".join(f"  {lab:>{w + 1}}" for lab, w in zip(labels, widths))
    header += f"  {'cost (' + pay.currency + ')':>12}"
    lines += ["", header]
    for i, size in enumerate(result.sizes):
        row = f"{size:>12}" + ("" if s.design == "same" else f" {result.participants[i]:>7}")
        for j, w in enumerate(widths):
            h = result.half_widths[i, j]
            row += f"  {h:>{w}.3f}" + ("*" if h <= s.target else " ")
        row += f"  {cost(result, size, pay).total:>12.2f}"
        lines.append(row)
    lines += ["(* meets the target)", "", f"pilot estimate and the size needed for ±{s.target:g}:"]
    label_w = max(len(q.key) for q in result.quantities)
    for q in result.quantities:
        need = result.needed[q.key]
        lines.append(f"  {q.key:<{label_w}}  {q.pilot_value:7.3f}   {_needed_text(need, s.design)}")
    overall = overall_needed(result)
    if overall is not None:
        c = cost_for_needed(result, overall, pay)
        lines += [
            "",
            f"all targets: {_needed_text(overall, s.design)}"
            + ("" if s.design == "same" else f" = {c.participants} participants"),
            f"cost: {c.participants} x {pay.base:.2f} {pay.currency} base + "
            f"{pay.bonus_per_correct:g} {pay.currency} per correct answer (pilot accuracy "
            f"{result.mean_accuracy:.3f}) = {c.rewards + c.bonuses:,.2f} + fee "
            f"{c.fee:,.2f} = {c.total:,.2f} {pay.currency}",
            f"  ({pay.fee_note()})",
        ]
    for note in result.notes:
        lines.append(f"note: {note}")
    if result.n_degenerate:
        lines.append(
            f"note: {result.n_degenerate} pilot participant-model kappa(s) were 0/0 "
            "and are left out, as the analysis leaves them out"
        )
    return "\n".join(lines)


def _needed_text(need, design: str) -> str:
    unit = "participants" if design == "same" else "responses per item"
    if need.n is None:
        return "not reachable (no finite interval)"
    return {
        "at most": f"<= {need.n} {unit} (the smallest size tried)",
        "extrapolated": f"~{need.n} {unit} (extrapolated beyond the sizes tried)",
    }.get(need.how, f"{need.n} {unit}")


def overall_needed(result: PlanResult):
    """The size meeting every target (the largest of the needed sizes)."""
    needs = [n for n in result.needed.values() if n.n is not None]
    if not needs:
        return None
    return max(needs, key=lambda n: n.n)


def cost_for_needed(result: PlanResult, need, pay: Pay) -> Cost:
    return cost(result, need.n, pay)


# -- files -----------------------------------------------------------------------------------
def write_outputs(result: PlanResult, pay: Pay, out: Path) -> dict[str, Path]:
    """plan.csv (the long table), plan.json (settings, needed sizes, cost), plan.png."""
    out.mkdir(parents=True, exist_ok=True)
    table = long_table(result, pay)
    paths = {"table": out / "plan.csv", "summary": out / "plan.json", "plot": out / "plan.png"}
    atomic_write_text(paths["table"], table.to_csv(index=False, lineterminator="\n"))
    overall = overall_needed(result)
    doc = {
        "settings": {**asdict(result.settings), "grid": result.sizes},
        "pilot": {
            "name": result.pilot_name,
            "items": result.n_items,
            "participants": result.n_pilot_participants,
            "mean_accuracy": result.mean_accuracy,
        },
        "pay": {**asdict(pay), "note": pay.fee_note()},
        "unit": result.unit,
        "needed": {
            k: {"n": v.n, "how": v.how, "participants": None if v.n is None else result.participants_for(v.n)}
            for k, v in result.needed.items()
        },
        "all_targets": None
        if overall is None
        else {
            "n": overall.n,
            **asdict(cost_for_needed(result, overall, pay)),
            "total": round(cost_for_needed(result, overall, pay).total, 2),
        },
        "notes": result.notes,
    }
    atomic_write_text(paths["summary"], json.dumps(doc, indent=2) + "\n")
    atomic_write_bytes(paths["plot"], plot_png(result))
    return paths


def plot_png(result: PlanResult) -> bytes:
    """Half-width against sample size, one line per quantity, the target dashed."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    s = result.settings
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    for j, q in enumerate(result.quantities):
        style = "-" if q.kind == "accuracy" else "--"
        (line,) = ax.plot(result.sizes, result.half_widths[:, j], style, marker="o", ms=3, label=q.label)
        need = result.needed[q.key]
        if need.n is not None and need.how in ("grid", "interpolated"):
            ax.plot([need.n], [s.target], marker="v", color=line.get_color(), ms=7)
    ax.axhline(s.target, color="black", lw=1, ls=":", label=f"target {s.target:g}")
    ax.set_xscale("log")
    ax.set_xticks(result.sizes)
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlabel("participants" if s.design == "same" else f"responses per item (K = {s.k} items per participant)")
    ax.set_ylabel("95% interval half-width")
    ax.set_title(f"Human-study plan ({s.design} design, pilot {Path(result.pilot_name).name})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
