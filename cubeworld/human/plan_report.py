"""The planner's output: a printed table per number of items, the item floors, the cost on
Prolific, plan.csv / plan.json / plan.png.

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


def cost(result: PlanResult, size: int, pay: Pay, items: int | None = None) -> Cost:
    n = result.participants_for(size, items)
    rewards = n * pay.base
    bonuses = result.responses_for(size, items) * result.mean_accuracy * pay.bonus_per_correct
    return Cost(n, rewards, bonuses, (rewards + bonuses) * pay.fee_percent / 100)


# -- tables ----------------------------------------------------------------------------------
def long_table(result: PlanResult, pay: Pay) -> pd.DataFrame:
    """One row per (items, size, quantity): the half-width criterion, its SD, the item
    floor, whether the target is met, and the cost."""
    rows = []
    for a, n_items in enumerate(result.item_counts):
        for i, size in enumerate(result.sizes):
            c = cost(result, size, pay, n_items)
            for j, q in enumerate(result.quantities):
                h = result.half_widths[a, i, j]
                rows.append(
                    {
                        "design": result.settings.design,
                        "items": n_items,
                        "size": size,
                        "participants": result.participants_for(size, n_items),
                        "quantity": q.key,
                        "kind": q.kind,
                        "pilot_value": q.pilot_value,
                        "half_width": h,
                        "half_width_sd": result.spread_sd[a, i, j],
                        "item_floor": result.floors[a, j],
                        "meets_target": bool(h <= result.settings.target),
                        "cost": round(c.total, 2),
                        "currency": pay.currency,
                    }
                )
    return pd.DataFrame(rows)


def _short(label: str, width: int = 14) -> str:
    return label if len(label) <= width else label[: width - 1] + "~"


def format_report(result: PlanResult, pay: Pay) -> str:
    s = result.settings
    crit = f"{100 * (s.assurance or 0.5):g}% quantile"
    lines = [
        f"human-study plan: {s.design} design, pilot {result.pilot_name} ({result.n_items} "
        f"items, {result.n_pilot_participants} participants, "
        f"{sum(q.kind == 'kappa' for q in result.quantities)} model(s))",
        "95% interval half-width of the analysis' crossed interval (items and participants resampled), "
        + (
            "from the pilot's variance components"
            if s.assurance is None
            else f"{crit} over {s.resamples} simulated studies, {s.n_boot} bootstrap draws each"
        )
        + f"; target {s.target:g}",
    ]
    if s.design == "spread":
        lines.append(f"spread: K = {s.k} items per participant; size = responses per item")
    labels = [_short(q.label) for q in result.quantities]
    widths = [max(len(lab), 6) for lab in labels]
    unit = "participants" if s.design == "same" else "per item"
    for a, n_items in enumerate(result.item_counts):
        header = f"{unit:>12}" + ("" if s.design == "same" else f" {'people':>7}")
        header += "".join(f"  {lab:>{w + 1}}" for lab, w in zip(labels, widths))
        header += f"  {'cost (' + pay.currency + ')':>12}"
        lines += ["", f"{n_items} items:", header]
        for i, size in enumerate(result.sizes):
            row = f"{size:>12}" + ("" if s.design == "same" else f" {result.participants_for(size, n_items):>7}")
            for j, w in enumerate(widths):
                h = result.half_widths[a, i, j]
                row += f"  {h:>{w}.3f}" + ("*" if h <= s.target else " ")
            row += f"  {cost(result, size, pay, n_items).total:>12.2f}"
            lines.append(row)
        floor = f"{'item floor':>12}" + ("" if s.design == "same" else " " * 8)
        floor += "".join(f"  {result.floors[a, j]:>{w}.3f} " for j, w in enumerate(widths))
        lines.append(floor)
    lines += [
        "(* meets the target; item floor: the half-width left with unlimited participants)",
        "",
        f"pilot estimate and the size needed for ±{s.target:g}:",
    ]
    label_w = max(len(q.key) for q in result.quantities)
    for q in result.quantities:
        needs = "; ".join(
            f"{n} items: {_needed_text(result.needed[(n, q.key)], s.design, result.floors[a, result.quantities.index(q)], s.target)}"
            for a, n in enumerate(result.item_counts)
        )
        lines.append(f"  {q.key:<{label_w}}  {q.pilot_value:7.3f}   {needs}")
    unreachable = [
        q.key
        for q in result.quantities
        if all(result.needed[(n, q.key)].how == "unreachable" for n in result.item_counts)
    ]
    for key in unreachable:
        lines.append(
            f"  -> {key}: not reachable by adding participants with up to {max(result.item_counts)} items; "
            f"about {result.items_needed[key]} items are needed (with unlimited participants)"
        )
    for n_items in result.item_counts:
        overall = overall_needed(result, n_items)
        if overall is None:
            continue
        c = cost_for_needed(result, overall, pay, n_items)
        lines += [
            "",
            f"all targets with {n_items} items: {_needed_text(overall, s.design)}"
            + ("" if s.design == "same" else f" = {c.participants} participants"),
            f"cost: {c.participants} x {pay.base:.2f} {pay.currency} base + "
            f"{pay.bonus_per_correct:g} {pay.currency} per correct answer (pilot accuracy "
            f"{result.mean_accuracy:.3f}) = {c.rewards + c.bonuses:,.2f} + fee "
            f"{c.fee:,.2f} = {c.total:,.2f} {pay.currency}",
            f"  ({pay.fee_note()})",
        ]
        break  # the fewest items that reach every target
    else:
        lines += [
            "",
            "all targets: not reachable with these item counts (see the item floors above)",
            f"  (costs above: {pay.fee_note()})",
        ]
    for note in result.skipped + result.notes:
        lines.append(f"note: {note}")
    if result.n_degenerate:
        lines.append(
            f"note: {result.n_degenerate} pilot participant-model kappa(s) were 0/0 "
            "and are left out, as the analysis leaves them out"
        )
    return "\n".join(lines)


def _needed_text(need, design: str, floor: float | None = None, target: float | None = None) -> str:
    unit = "participants" if design == "same" else "responses per item"
    if need.how == "unreachable":
        return f"not reachable by adding participants (the items alone leave ±{floor:.3f})"
    if need.n is None:
        return "not reachable (no finite interval)"
    return {
        "at most": f"<= {need.n} {unit} (the smallest size tried)",
        "extrapolated": f"~{need.n} {unit} (extrapolated beyond the sizes tried)",
    }.get(need.how, f"{need.n} {unit}")


def overall_needed(result: PlanResult, n_items: int):
    """The size meeting every target with `n_items` items (the largest of the needed
    sizes); None when some target cannot be reached with that many items."""
    needs = [result.needed[(n_items, q.key)] for q in result.quantities]
    if not needs or any(n.n is None for n in needs):
        return None
    return max(needs, key=lambda n: n.n or 0)


def cost_for_needed(result: PlanResult, need, pay: Pay, n_items: int | None = None) -> Cost:
    return cost(result, need.n, pay, n_items)


# -- files -----------------------------------------------------------------------------------
def write_outputs(result: PlanResult, pay: Pay, out: Path) -> dict[str, Path]:
    """plan.csv (the long table), plan.json (settings, needed sizes, floors, cost), plan.png."""
    out.mkdir(parents=True, exist_ok=True)
    table = long_table(result, pay)
    paths = {"table": out / "plan.csv", "summary": out / "plan.json", "plot": out / "plan.png"}
    atomic_write_text(paths["table"], table.to_csv(index=False, lineterminator="\n"))
    all_targets = None
    for n_items in result.item_counts:
        overall = overall_needed(result, n_items)
        if overall is not None:
            c = cost_for_needed(result, overall, pay, n_items)
            all_targets = {"items": n_items, "n": overall.n, **asdict(c), "total": round(c.total, 2)}
            break

    def needed_doc(n_items: int, key: str, floor: float) -> dict:
        need = result.needed[(n_items, key)]
        people = None if need.n is None else result.participants_for(need.n, n_items)
        return {"n": need.n, "how": need.how, "participants": people, "item_floor": floor}

    doc = {
        "settings": {**asdict(result.settings), "grid": result.sizes, "items": result.item_counts},
        "pilot": {
            "name": result.pilot_name,
            "items": result.n_items,
            "participants": result.n_pilot_participants,
            "mean_accuracy": result.mean_accuracy,
        },
        "pay": {**asdict(pay), "note": pay.fee_note()},
        "unit": result.unit,
        "needed": {
            q.key: {
                str(n_items): needed_doc(n_items, q.key, float(result.floors[a, j]))
                for a, n_items in enumerate(result.item_counts)
            }
            for j, q in enumerate(result.quantities)
        },
        "items_needed_with_unlimited_participants": result.items_needed,
        "all_targets": all_targets,
        "skipped": result.skipped,
        "notes": result.notes,
    }
    atomic_write_text(paths["summary"], json.dumps(doc, indent=2) + "\n")
    atomic_write_bytes(paths["plot"], plot_png(result))
    return paths


def plot_png(result: PlanResult) -> bytes:
    """Half-width against sample size, one panel per number of items, one line per
    quantity; its item floor dotted, the target dashed."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    s = result.settings
    n_panels = len(result.item_counts)
    fig, axes = plt.subplots(1, n_panels, figsize=(3.4 * n_panels + 1.0, 4.6), dpi=120, sharey=True, squeeze=False)
    for a, (ax, n_items) in enumerate(zip(axes[0], result.item_counts)):
        for j, q in enumerate(result.quantities):
            style = "-" if q.kind == "accuracy" else "--"
            (line,) = ax.plot(result.sizes, result.half_widths[a, :, j], style, marker="o", ms=3, label=q.label)
            ax.axhline(result.floors[a, j], color=line.get_color(), lw=0.8, ls=":")
            need = result.needed[(n_items, q.key)]
            if need.n is not None and need.how in ("grid", "interpolated"):
                ax.plot([need.n], [s.target], marker="v", color=line.get_color(), ms=7)
        ax.axhline(s.target, color="black", lw=1, ls="--")
        ax.set_xscale("log")
        ax.set_xticks(result.sizes)
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.tick_params(axis="x", labelsize=6, rotation=90)
        ax.set_xlabel("participants" if s.design == "same" else f"responses per item (K = {s.k})")
        ax.set_title(f"{n_items} items", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("95% interval half-width")
    handles, labels = axes[0][0].get_legend_handles_labels()
    handles.append(matplotlib.lines.Line2D([], [], color="black", ls="--"))
    labels.append(f"target {s.target:g}")
    handles.append(matplotlib.lines.Line2D([], [], color="grey", ls=":"))
    labels.append("item floor (unlimited participants)")
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.suptitle(f"Human-study plan ({s.design} design, pilot {Path(result.pilot_name).name})", fontsize=10)
    fig.tight_layout(rect=(0, 0.12 + 0.03 * (len(labels) // 4), 1, 0.95))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
