"""How many people does a human study need? Answered by resampling a pilot.

For each sample size the planner draws many synthetic studies from the pilot and computes,
in each, the 95% interval the analysis will report, then its half-width:

- accuracy per size (n_blocks): the analysis reports the mean of the participants'
  accuracies with a participant bootstrap (`analysis.tables.human_accuracy_table`);
- mean kappa to a model: the mean of the per-participant error consistencies with a
  participant bootstrap (`analysis.metrics.kappa_to_humans`, resample="participants").

Per-participant values come from the analysis functions themselves (`kappa_to_humans`'s
per-participant kappas); the intervals are drawn with `analysis.metrics.item_weights` (the
same multinomial resampling the analysis vectorises its bootstraps with). The half-width is
half the interval's length; the planner reports its mean over the synthetic studies (or a
quantile, `assurance`, for "with 80% probability no wider than ...").

Designs:
- same: every participant answers every pilot item. A synthetic study of N participants
  draws N pilot participants with replacement (whole people, so each keeps their own
  accuracy and error pattern).
- spread: each item is answered by r participants, each answering K items (a spread study
  run r times). A synthetic participant is a random pilot participant answering a random
  block of K items (a pilot participant who did not see an item is replaced, for that item,
  by a random pilot participant who did).

The required size for a target half-width is the smallest grid size that meets it, refined
between grid points assuming half-width ~ 1/sqrt(size); beyond the grid it is extrapolated
the same way and marked so.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from cubeworld.analysis.metrics import (
    CI_LEVEL,
    DegenerateKappaWarning,
    item_weights,
    kappa_to_humans,
)
from cubeworld.human.pilot import Pilot, PlanError

DESIGNS = ("same", "spread")
DEFAULT_GRID = {
    "same": (5, 10, 15, 20, 30, 40, 50, 75, 100, 150, 200, 300, 400),
    "spread": (1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 40),
}
DEFAULT_ITEMS_PER_PARTICIPANT = 20


@dataclass(frozen=True)
class PlanSettings:
    """What to plan for and how hard to simulate."""

    design: str = "same"
    target: float = 0.05  # the wanted 95% interval half-width
    grid: tuple[int, ...] = ()  # participants (same) or responses per item (spread); () = default
    items_per_participant: int | None = None  # spread: K (default 20)
    resamples: int = 100  # synthetic studies per grid size
    n_boot: int = 500  # bootstrap draws per interval
    seed: int = 0
    assurance: float | None = None  # None: mean half-width; q: its q-quantile

    def validate(self) -> None:
        if self.design not in DESIGNS:
            raise PlanError(f"--design must be one of {list(DESIGNS)}, got {self.design!r}")
        if not (isinstance(self.target, (int, float)) and math.isfinite(self.target) and self.target > 0):
            raise PlanError(f"--target must be a half-width > 0, got {self.target!r}")
        if self.target >= 1:
            raise PlanError(
                f"--target is a 95% interval half-width (e.g. 0.05), got {self.target!r}; it must be below 1"
            )
        if any((not isinstance(n, int)) or n < 1 for n in self.grid):
            raise PlanError(f"--sizes must be positive integers, got {list(self.grid)}")
        if self.design == "same" and any(n < 2 for n in self.grid):
            raise PlanError("--sizes: an interval over participants needs at least 2 of them")
        if self.items_per_participant is not None:
            if self.design != "spread":
                raise PlanError("--items-per-participant applies to the spread design only")
            if self.items_per_participant < 1:
                raise PlanError(f"--items-per-participant must be >= 1, got {self.items_per_participant}")
        if self.resamples < 10:
            raise PlanError(f"--resamples must be at least 10, got {self.resamples}")
        if self.n_boot < 100:
            raise PlanError(f"--boot must be at least 100, got {self.n_boot}")
        if self.assurance is not None and not 0 < self.assurance < 1:
            raise PlanError(f"--assurance must lie between 0 and 1, got {self.assurance}")

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(sorted(set(self.grid))) if self.grid else DEFAULT_GRID[self.design]

    @property
    def k(self) -> int:
        return self.items_per_participant or DEFAULT_ITEMS_PER_PARTICIPANT


@dataclass(frozen=True)
class Quantity:
    """One estimate the study will report: accuracy at one size, or mean kappa to a model."""

    key: str  # "accuracy n_blocks=3", "kappa GPT-4V"
    kind: str  # "accuracy" or "kappa"
    label: str  # short, for table headers and legends
    pilot_value: float  # the pilot's estimate (mean over its participants)


@dataclass(frozen=True)
class Needed:
    """The smallest size meeting the target: `n` (None if unknown), and how it was found."""

    n: int | None
    how: str  # "grid", "interpolated", "extrapolated", "at most", "never"


@dataclass
class PlanResult:
    settings: PlanSettings
    pilot_name: str
    n_items: int
    n_pilot_participants: int
    quantities: list[Quantity]
    sizes: list[int]  # the grid: participants (same) or responses per item (spread)
    participants: list[int]  # participants needed for each grid size
    half_widths: np.ndarray  # (len(sizes), len(quantities)): the criterion (mean or quantile)
    spread_sd: np.ndarray  # (len(sizes), len(quantities)): SD of the half-width over resamples
    needed: dict[str, Needed]
    mean_accuracy: float
    n_degenerate: int = 0  # participant kappas that were 0/0 in the pilot
    notes: list[str] = field(default_factory=list)

    @property
    def unit(self) -> str:
        return "participants" if self.settings.design == "same" else "responses per item"

    def participants_for(self, size: int) -> int:
        if self.settings.design == "same":
            return size
        return size * math.ceil(self.n_items / self.settings.k)

    def responses_for(self, size: int) -> int:
        """Image responses a study of this size collects."""
        return size * self.n_items


# -- per-participant values ---------------------------------------------------------------
def participant_values(
    correct: np.ndarray, sizes: np.ndarray, observers: dict[str, np.ndarray]
) -> tuple[np.ndarray, int]:
    """(participants x quantities) values: accuracy at each size, then kappa to each model.

    A participant who saw no item of a size has NaN there; so has a 0/0 kappa (counted).
    """
    cols = []
    for s in np.unique(sizes):
        block = correct[sizes == s]
        seen = np.isfinite(block).sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            cols.append(np.where(seen > 0, np.nansum(block, 0) / np.maximum(seen, 1), np.nan))
    n_degenerate = 0
    for A in observers.values():
        keep = np.isfinite(A).all(0)  # items every seed of the model answered
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateKappaWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            est = kappa_to_humans(A[:, keep], correct[keep], n_boot=1, resample="participants")
        values = np.asarray(est.per_observer, dtype=float)
        n_degenerate += int(np.isnan(values).sum())
        cols.append(values)
    return np.column_stack(cols), n_degenerate


def quantities_of(pilot: Pilot, values: np.ndarray) -> list[Quantity]:
    out = []
    means = np.nanmean(np.where(np.isfinite(values), values, np.nan), axis=0)
    for i, s in enumerate(np.unique(pilot.sizes)):
        out.append(Quantity(f"accuracy n_blocks={s}", "accuracy", f"acc n={s}", float(means[i])))
    offset = len(np.unique(pilot.sizes))
    for j, name in enumerate(pilot.observers):
        out.append(Quantity(f"kappa {name}", "kappa", f"kappa {name}", float(means[offset + j])))
    return out


# -- intervals ------------------------------------------------------------------------------
def half_widths(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Half-width of the participant-bootstrap percentile interval of each column's mean.

    Participants with NaN in a column (no item of that size, a 0/0 kappa) are left out of
    that column's means, as the analysis leaves them out.
    """
    n = values.shape[0]
    W = item_weights(n, n_boot, rng)  # (n_boot, n): how often each participant is drawn
    finite = np.isfinite(values)
    sums = W @ np.where(finite, values, 0.0).astype(np.float32)
    counts = W @ finite.astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / counts, np.nan)
    tail = (1 - CI_LEVEL) / 2 * 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a column with no value at all
        lo, hi = np.nanpercentile(means, [tail, 100 - tail], axis=0)
    return (hi - lo) / 2


# -- synthetic spread studies ---------------------------------------------------------------
def spread_matrix(correct: np.ndarray, r: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """A synthetic spread study: every item answered r times, K items per participant."""
    n, p = correct.shape
    finite = np.isfinite(correct)
    counts = finite.sum(1)
    order = np.argsort(~finite, axis=1, kind="stable")  # respondents first, per item
    blocks_per_round = math.ceil(n / k)
    n_synth = r * blocks_per_round
    items = np.concatenate([rng.permutation(n) for _ in range(r)])
    within = np.tile(np.arange(n) // k, r)
    synth = np.repeat(np.arange(r) * blocks_per_round, n) + within
    person = rng.integers(0, p, n_synth)[synth]
    vals = correct[items, person]
    miss = np.isnan(vals)
    if miss.any():  # that pilot participant did not see the item: a random one who did
        pick = (rng.random(int(miss.sum())) * counts[items[miss]]).astype(int)
        vals[miss] = correct[items[miss], order[items[miss], pick]]
    out = np.full((n, n_synth), np.nan)
    out[items, synth] = vals
    return out


# -- the planner ------------------------------------------------------------------------------
def _needed(sizes: list[int], h: np.ndarray, target: float) -> Needed:
    ok = np.flatnonzero(np.isfinite(h) & (h <= target))
    finite = np.flatnonzero(np.isfinite(h))
    if finite.size == 0:
        return Needed(None, "never")
    if ok.size == 0:  # beyond the grid: h ~ 1/sqrt(n)
        last = finite[-1]
        return Needed(math.ceil(sizes[last] * (h[last] / target) ** 2), "extrapolated")
    first = ok[0]
    if first == 0:
        return Needed(sizes[0], "at most")
    lo, hi = sizes[first - 1], sizes[first]
    if not np.isfinite(h[first - 1]):
        return Needed(hi, "grid")
    n = math.ceil(lo * (h[first - 1] / target) ** 2)
    return Needed(min(max(n, lo + 1), hi), "interpolated")


def plan(pilot: Pilot, settings: PlanSettings) -> PlanResult:
    """Simulate studies of every grid size from the pilot; see the module docstring."""
    settings.validate()
    if pilot.n_participants < 2:
        raise PlanError(
            f"{pilot.name}: the pilot has {pilot.n_participants} participant(s); resampling needs at least 2"
        )
    rng = np.random.default_rng(settings.seed)
    values, n_degenerate = participant_values(pilot.correct, pilot.sizes, pilot.observers)
    quantities = quantities_of(pilot, values)
    sizes = list(settings.sizes)
    R = settings.resamples
    crit = np.full((len(sizes), len(quantities)), np.nan)
    sd = np.full_like(crit, np.nan)
    for i, size in enumerate(sizes):
        hw = np.empty((R, len(quantities)))
        for rep in range(R):
            if settings.design == "same":
                sample = values[rng.integers(0, values.shape[0], size)]
            else:
                synth = spread_matrix(pilot.correct, size, settings.k, rng)
                sample, _ = participant_values(synth, pilot.sizes, pilot.observers)
            hw[rep] = half_widths(sample, settings.n_boot, rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            crit[i] = (
                np.nanmean(hw, 0) if settings.assurance is None else np.nanquantile(hw, settings.assurance, axis=0)
            )
            sd[i] = np.nanstd(hw, 0)
    notes = list(pilot.notes)
    if pilot.coverage < 0.999 and settings.design == "same":
        notes.append(
            f"the pilot's participants answered {100 * pilot.coverage:.0f}% of its "
            "items; the same-design plan treats each as if they had answered all"
        )
    if settings.design == "spread" and settings.k >= pilot.n_items:
        notes.append(
            f"K = {settings.k} covers all {pilot.n_items} pilot items: the spread design is then the same design"
        )
    if not pilot.observers:
        notes.append("no models: only accuracy is planned (pass --predictions for kappa)")
    result = PlanResult(
        settings=settings,
        pilot_name=pilot.name,
        n_items=pilot.n_items,
        n_pilot_participants=pilot.n_participants,
        quantities=quantities,
        sizes=sizes,
        participants=[],
        half_widths=crit,
        spread_sd=sd,
        needed={},
        mean_accuracy=float(np.nanmean(pilot.correct)),
        n_degenerate=n_degenerate,
        notes=notes,
    )
    result.participants = [result.participants_for(s) for s in sizes]
    result.needed = {q.key: _needed(sizes, crit[:, j], settings.target) for j, q in enumerate(quantities)}
    return result
