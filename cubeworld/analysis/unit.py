"""What an analysis is: one unit that turns the checked inputs into tables, figures and
sentences, and the context every unit reads from.

An analysis is one module that defines an `Analysis` and one entry in
`cubeworld.analysis.units.ANALYSES`. `analyze()` and the report loop over the registry:
they never name an analysis. A unit

- reads the inputs from an `AnalysisContext` (predictions at the chosen epoch, truth with
  difficulty, human responses after exclusions, bootstrap size and seed) and, through
  `ctx.output(name)`, the output of another unit it builds on (run once, on demand);
- says in `check(ctx)` what it cannot do with these inputs (one reason per set or
  input it must skip). By default those parts are skipped and the reasons listed in the
  report; when the user asked for the analysis by name (`--analysis NAME`), any reason is
  bad input and nothing is written;
- returns an `AnalysisOutput`: tables (written as CSV, shown in the report), figures
  (PNG + PDF), findings (sentences made from its tables, for the report's first screen)
  and methods (how its numbers were made).
Units never write files themselves: the pipeline writes everything only after every
unit has run, so bad input found by any unit leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only for annotations: this module stays light
    import pandas as pd

    from cubeworld.analysis.loading import AnalysisData, SetInfo
    from cubeworld.registry import Registry


@dataclass(frozen=True)
class TableOut:
    """A table a unit produced: `name`.csv, its title and caption; `show=False` writes the
    CSV and describes it in the report without printing every row (long per-pair lists).
    `display`: what the report prints instead of the whole frame, as (heading, frame)
    parts - a wide table split into narrower ones that fit the page; the CSV keeps every
    column."""

    name: str
    title: str
    frame: pd.DataFrame
    caption: str
    show: bool = True
    display: tuple[tuple[str, pd.DataFrame], ...] = ()


@dataclass(frozen=True)
class FigureOut:
    """A rendered figure: PNG and PDF bytes, its title and caption."""

    name: str
    title: str
    png: bytes
    pdf: bytes
    caption: str


# Finding ranks: the study's main effects lead the first screen, warnings follow them,
# then each kind of result in this order.
RANK_MAIN = 1  # effects as contrasts (the generalisation drop): the first findings
RANK_WARNING = 5  # ranks RANK_WARNING-9 are warnings, always on the first screen
RANK_ACCURACY, RANK_KAPPA, RANK_ALIGNMENT, RANK_DIFFICULTY, RANK_OTHER = 10, 20, 30, 40, 50


@dataclass(frozen=True)
class Finding:
    """One sentence for the report's first screen; lower `rank` comes first (1: main
    effects, 5-9: warnings, 10: accuracy, 20: error consistency, 30: graded alignment,
    40: difficulty, 50: other)."""

    text: str
    rank: int = 50
    weight: float = 0.0  # within a rank, stronger evidence first (e.g. distance from chance)


@dataclass
class AnalysisOutput:
    tables: list[TableOut] = field(default_factory=list)
    figures: list[FigureOut] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)  # for units that build on this one


def _no_reasons(ctx: AnalysisContext) -> list[str]:
    return []


@dataclass(frozen=True)
class Analysis:
    """A registered analysis. `run(ctx)` computes it; `check(ctx)` lists what it must skip
    (as reasons naming the set or input); `summary` is one line for `--list-analyses`."""

    name: str
    title: str
    run: Callable[[AnalysisContext], AnalysisOutput]
    check: Callable[[AnalysisContext], list[str]] = _no_reasons
    summary: str = ""


@dataclass
class AnalysisContext:
    """Everything a unit may read. `pred`: prediction rows at the chosen epoch (all epochs
    are in `data.predictions`); `explicit`: the analyses the user asked for by name."""

    data: AnalysisData
    pred: pd.DataFrame
    n_boot: int
    seed: int
    epoch: int | str
    registry: Registry[Analysis]
    explicit: frozenset[str] = frozenset()
    cache: dict[Any, Any] = field(default_factory=dict)
    _outputs: dict[str, AnalysisOutput] = field(default_factory=dict)
    _running: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------ other units
    def output(self, name: str) -> AnalysisOutput:
        """The output of analysis `name`, running it first if it has not run yet."""
        if name in self._outputs:
            return self._outputs[name]
        if name in self._running:
            raise RuntimeError(f"analyses depend on each other in a cycle: {' -> '.join(self._running + [name])}")
        unit = self.registry.get(name)
        self._running.append(name)
        try:
            out = unit.run(self)
        finally:
            self._running.pop()
        self._outputs[name] = out
        return out

    @property
    def outputs(self) -> dict[str, AnalysisOutput]:
        return dict(self._outputs)

    # ------------------------------------------------------------------ inputs
    @property
    def sets(self) -> list[str]:
        """Evaluated sets, sorted by name."""
        return sorted(self.pred["set"].unique())

    def set_info(self, name: str) -> SetInfo:
        return self.data.sets[name]

    def kinds(self) -> dict[str, str]:
        """Observer -> observer kind ("humans" for the participants)."""
        if "kinds" not in self.cache:
            k = self.data.predictions.groupby("observer")["kind"].agg(lambda s: "+".join(sorted(set(s)))).to_dict()
            k.setdefault("humans", "humans")
            self.cache["kinds"] = k
        return self.cache["kinds"]

    def humans_on(self, set_name: str) -> pd.DataFrame | None:
        """Human responses on a set's items (None without at least two participants)."""
        h = self.data.humans
        if h is None:
            return None
        hs = h[h["set"] == set_name]
        return None if hs.empty or hs["participant"].nunique() < 2 else hs

    def human_matrix(self, set_name: str, value: str = "correct") -> pd.DataFrame | None:
        """(items x participants) matrix of `correct` or `response` (NaN = not shown)."""
        key = ("human_matrix", set_name, value)
        if key not in self.cache:
            hs = self.humans_on(set_name)
            self.cache[key] = (
                None
                if hs is None
                else hs.pivot_table(index="stimulus_id", columns="participant", values=value, aggfunc="first").astype(
                    float
                )
            )
        return self.cache[key]

    def skip_or_fail(self, name: str, reasons: list[str]) -> list[str]:
        """Reasons are bad input when `name` was asked for explicitly (raised here)."""
        if reasons and name in self.explicit:
            from cubeworld.analysis.loading import AnalysisInputError

            raise AnalysisInputError(f"--analysis {name}: {reasons[0]}")
        return reasons
