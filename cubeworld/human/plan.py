"""How many people - and how many items - does a human study need? Answered from a pilot.

Items are a sample, as participants are, and the analysis' intervals resample both (a
crossed bootstrap). So adding participants shrinks only the participants' share of the
uncertainty; what the items leave stays, whatever the number of people. The planner
therefore plans items and participants together.

For each quantity the study will report - accuracy at each size (n_blocks), mean kappa
to each reference model - the pilot is split into variance components, the way a
two-way (participants x items) random-effects model splits it:

- sigma_a^2: how much participants truly differ (the variance of their pilot values less
  the part that is noise from having answered only the pilot's items, which is measured
  from random halves of the items: Var(half 1 - half 2) / 4);
- sigma_b^2: how much items differ (from resampling the pilot's items, all participants
  kept, less the participants' noise in it);
- sigma_e^2: the noise of one answer (from the same halves).

The crossed bootstrap's variance at a design of P participants and I items, each
participant answering K of them and each item answered r times (same design: K = I,
r = P) is then

    sigma_a^2 / P + sigma_b^2 / I_q + 3 sigma_e^2 / (r I_q)

(I_q: the study's items that count for the quantity, e.g. those of one size; the 3 is the
crossed bootstrap's own count of the interaction: a cell's weight is the product of two
Poisson(1) draws, whose variance is 3), and the half-width 1.96 times its square root. As
P and r grow this tends to 1.96 sigma_b / sqrt(I_q): the item floor. Where the target is
below it, the plan says plainly that no number of participants reaches it with that many
items, and how many items would. The model is checked in the tests against simulated
studies drawn from the pilot (whole people and pilot items drawn with replacement, the
analysis' own crossed intervals computed in each): within 10% at the pilot's item count.
`--assurance` (a quantile of the half-width over studies rather than its mean) simulates
every design that way instead (slower; beyond the pilot's item count simulated items
repeat pilot items, which overstates the width for few participants).

A reference observer that gives one answer to (nearly) every pilot item is not planned
for: the analysis marks its kappa degenerate and does not test it (its kappa's width would
otherwise drive the plan: ADAPTER's did, on Lerer100). The smallest design accepted is
`MIN_PARTICIPANTS` participants and `MIN_ITEMS` items: below them the crossed percentile
interval covers less than 93% of the time when people differ much more than items do
(measured by simulation; a test checks the coverage at that smallest design).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from cubeworld.analysis.degenerate import one_answer
from cubeworld.analysis.metrics import (
    CI_LEVEL,
    MAX_BOOTSTRAP_BYTES,
    DegenerateKappaWarning,
    _nanmean,
    _pair_kappas,
    bootstrap_bytes,
    item_weights,
    kappa_to_humans,
    max_resamples,
    resample_weights,
    weighted_nanmean,
)
from cubeworld.human.pilot import Pilot, PlanError

DESIGNS = ("same", "spread")
DEFAULT_GRID = {
    "same": (10, 15, 20, 30, 40, 60, 80, 120, 160, 240, 320),
    "spread": (2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 40),
}
DEFAULT_ITEM_FACTORS = (1, 2, 4)
DEFAULT_ITEMS_PER_PARTICIPANT = 20
MIN_PARTICIPANTS = 10  # below: the crossed interval covers < 93% when people vary most
MIN_ITEMS = 20
FLOOR_BOOT = 2_000  # item resamples of the pilot for the item component
N_SPLITS = 200  # random halves of the pilot's items for the answer noise
Z95 = 1.959963984540054


@dataclass(frozen=True)
class PlanSettings:
    """What to plan for and how hard to simulate."""

    design: str = "same"
    target: float = 0.05  # the wanted 95% interval half-width
    grid: tuple[int, ...] = ()  # participants (same) or responses per item (spread); () = default
    items: tuple[int, ...] = ()  # items per study; () = the pilot's count, x2 and x4
    items_per_participant: int | None = None  # spread: K (default 20)
    resamples: int = 40  # synthetic studies per design (with --assurance)
    n_boot: int = 400  # bootstrap draws per interval (with --assurance)
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
        if self.design == "same" and any(n < MIN_PARTICIPANTS for n in self.grid):
            raise PlanError(
                f"--sizes: at least {MIN_PARTICIPANTS} participants (below that the analysis' interval "
                "covers less than 93% of the time), got "
                f"{min(self.grid)}"
            )
        if any((not isinstance(n, int)) or n < MIN_ITEMS for n in self.items):
            raise PlanError(f"--items: at least {MIN_ITEMS} items per study, got {list(self.items)}")
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

    def item_counts(self, pilot_items: int) -> tuple[int, ...]:
        if self.items:
            return tuple(sorted(set(self.items)))
        return tuple(max(MIN_ITEMS, pilot_items * f) for f in DEFAULT_ITEM_FACTORS)


@dataclass(frozen=True)
class Quantity:
    """One estimate the study will report: accuracy at one size, or mean kappa to a model."""

    key: str  # "accuracy n_blocks=3", "kappa GPT-4V"
    kind: str  # "accuracy" or "kappa"
    label: str  # short, for table headers and legends
    pilot_value: float  # the pilot's estimate (mean over its participants)


@dataclass(frozen=True)
class Components:
    """A quantity's variance components from the pilot (see the module docstring):
    participants (sigma_a^2), items (sigma_b^2), one answer (sigma_e^2), and the share of
    a study's items that count for the quantity."""

    participants: float
    items: float
    answer: float
    item_share: float

    def variance(self, participants: int, n_items: int, per_item: int) -> float:
        """The crossed bootstrap's variance with `participants` people, `n_items` items
        and `per_item` answers to each item."""
        i_q = self.item_share * n_items
        return self.participants / participants + self.items / i_q + 3 * self.answer / (per_item * i_q)

    def half_width(self, participants: int, n_items: int, per_item: int) -> float:
        return Z95 * math.sqrt(self.variance(participants, n_items, per_item))

    def floor(self, n_items: int) -> float:
        return Z95 * math.sqrt(self.items / (self.item_share * n_items))


@dataclass(frozen=True)
class Needed:
    """The smallest size meeting the target: `n` (None if unknown or unreachable), and how
    it was found ("grid", "interpolated", "extrapolated", "at most", "unreachable",
    "never")."""

    n: int | None
    how: str


@dataclass
class PlanResult:
    settings: PlanSettings
    pilot_name: str
    n_items: int  # the pilot's
    n_pilot_participants: int
    quantities: list[Quantity]
    sizes: list[int]  # participants (same) or responses per item (spread)
    item_counts: list[int]  # items per simulated study
    half_widths: np.ndarray  # (items, sizes, quantities): the criterion (model, or simulated quantile)
    spread_sd: np.ndarray  # (items, sizes, quantities): SD of the half-width over simulated studies (NaN: model)
    floors: np.ndarray  # (items, quantities): half-width with unlimited participants
    needed: dict[tuple[int, str], Needed]  # (items, quantity key)
    items_needed: dict[str, int]  # quantity key -> items needed with unlimited participants
    components: dict[str, Components]  # quantity key -> its variance components
    mean_accuracy: float
    n_degenerate: int = 0  # participant kappas that were 0/0 in the pilot
    skipped: list[str] = field(default_factory=list)  # reference observers not planned for
    notes: list[str] = field(default_factory=list)

    @property
    def unit(self) -> str:
        return "participants" if self.settings.design == "same" else "responses per item"

    def participants_for(self, size: int, items: int | None = None) -> int:
        if self.settings.design == "same":
            return size
        return size * math.ceil((items or self.n_items) / self.settings.k)

    def responses_for(self, size: int, items: int | None = None) -> int:
        """Image responses a study of this size collects."""
        return size * (items or self.n_items)


# -- synthetic studies ----------------------------------------------------------------------
def draw_items(sizes: np.ndarray, n_items: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of `n_items` pilot items drawn with replacement within each size, in the
    pilot's proportions (each size keeps at least two items)."""
    groups = [np.flatnonzero(sizes == s) for s in np.unique(sizes)]
    counts = [max(2, round(n_items * g.size / sizes.size)) for g in groups]
    return np.concatenate([g[rng.integers(0, g.size, c)] for g, c in zip(groups, counts)])


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


# -- intervals --------------------------------------------------------------------------------
def _percentile_half_width(values: np.ndarray) -> float:
    tail = (1 - CI_LEVEL) / 2 * 100
    v = values[np.isfinite(values)]
    if v.size == 0:
        return float("nan")
    lo, hi = np.percentile(v, [tail, 100 - tail])
    return float((hi - lo) / 2)


def accuracy_boots(correct: np.ndarray, W: np.ndarray, V: np.ndarray | None) -> np.ndarray:
    """Resampled mean accuracy over participants: each participant's accuracy on the items
    drawn (weights W (n_boot, items)), averaged over the participants drawn (V; None: all
    alike). The same numbers as `analysis.tables.human_accuracy_table`'s crossed interval."""
    M = np.isfinite(correct).astype(np.float32)
    B = np.nan_to_num(correct).astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        per = (W @ B) / (W @ M)
    if V is None:
        return weighted_nanmean(per, np.ones_like(per))
    return weighted_nanmean(per, V)


def crossed_half_widths(
    correct: np.ndarray, sizes: np.ndarray, observers: dict[str, np.ndarray], n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """Half-widths of the analysis' crossed intervals in one study: accuracy at each size,
    then the mean kappa to each observer."""
    out = []
    n, P = correct.shape
    W = item_weights(n, n_boot, rng)
    V = resample_weights(P, n_boot, rng)
    for s in np.unique(sizes):
        out.append(_percentile_half_width(accuracy_boots(correct, W * (sizes == s), V)))
    seed = int(rng.integers(0, 2**31))
    for A in observers.values():
        keep = np.isfinite(A).all(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateKappaWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            est = kappa_to_humans(A[:, keep], correct[keep], n_boot=n_boot, seed=seed)
        out.append((est.ci_high - est.ci_low) / 2)
    return np.asarray(out, dtype=float)


def _values_on(pilot: Pilot, observers: dict[str, np.ndarray], W: np.ndarray) -> list[np.ndarray]:
    """Per quantity, each participant's value on the items weighted by each row of W
    (rows x participants): accuracy at each size, then kappa to each observer."""
    C = pilot.correct
    B = np.nan_to_num(C).astype(np.float32)
    M = np.isfinite(C).astype(np.float32)
    out = []
    for s in np.unique(pilot.sizes):
        Ws = W * (pilot.sizes == s)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append((Ws @ B) / (Ws @ M))
    for A in observers.values():
        keep = np.isfinite(A).all(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            k, _, _ = _pair_kappas(W[:, keep], A[:, keep], B[keep], M[keep], bounds=False)
        out.append(_nanmean(k, 1))
    return out


def components(pilot: Pilot, observers: dict[str, np.ndarray], seed: int) -> list[Components]:
    """Each quantity's variance components from the pilot (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n, P = pilot.correct.shape
    full = _values_on(pilot, observers, np.ones((1, n), np.float32))
    halves = (np.argsort(rng.random((N_SPLITS, n)), axis=1) < n // 2).astype(np.float32)
    first, second = _values_on(pilot, observers, halves), _values_on(pilot, observers, 1 - halves)
    W = item_weights(n, FLOOR_BOOT, rng)
    boots = _values_on(pilot, observers, W)
    sizes = list(np.unique(pilot.sizes))
    out = []
    for q, (f, h1, h2, bt) in enumerate(zip(full, first, second, boots)):
        if q < len(sizes):
            n_q = float((pilot.sizes == sizes[q]).sum())
        else:
            n_q = float(np.isfinite(list(observers.values())[q - len(sizes)]).all(0).sum())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            noise = float(np.nanmean(np.nanvar(h1 - h2, axis=1, ddof=1)) / 4)  # sigma_e^2 / n_q
            people = max(float(np.nanvar(f[0], ddof=1)) - noise, 0.0)
            item_var = float(np.nanvar(np.nanmean(bt, axis=1), ddof=1))  # all participants kept
        answer = noise * n_q
        items = max(n_q * item_var - answer / P, 0.0)
        out.append(Components(people, items, answer, n_q / n))
    return out


# -- quantities -------------------------------------------------------------------------------
def usable_observers(pilot: Pilot) -> tuple[dict[str, np.ndarray], list[str]]:
    """The reference observers to plan for, and notes on those left out: one that gives
    one answer to (nearly) every pilot item has a degenerate kappa the analysis does not
    test."""
    keep, skipped = {}, []
    falls = pilot.falls
    for name, A in pilot.observers.items():
        if falls is not None:
            ok = np.isfinite(A)
            says_yes = np.where(ok, np.where(A == 1, falls[None, :], 1 - falls[None, :]), np.nan)
            if one_answer(says_yes):
                skipped.append(
                    f"{name} gives one answer to (nearly) every pilot item: its kappa is degenerate "
                    "(the analysis marks it and does not test it), so it is not planned for"
                )
                continue
        keep[name] = A
    return keep, skipped


def pilot_values(pilot: Pilot, observers: dict[str, np.ndarray]) -> tuple[list[Quantity], int]:
    """The quantities and their pilot estimates (mean over participants)."""
    out = []
    C = pilot.correct
    for s in np.unique(pilot.sizes):
        block = C[pilot.sizes == s]
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = np.nansum(block, 0) / np.isfinite(block).sum(0)
        out.append(Quantity(f"accuracy n_blocks={s}", "accuracy", f"acc n={s}", float(np.nanmean(acc))))
    n_degenerate = 0
    for name, A in observers.items():
        keep = np.isfinite(A).all(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateKappaWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            est = kappa_to_humans(A[:, keep], C[keep], n_boot=1, resample="participants")
        n_degenerate += int(np.isnan(np.asarray(est.per_observer, dtype=float)).sum())
        out.append(Quantity(f"kappa {name}", "kappa", f"kappa {name}", float(est.kappa)))
    return out, n_degenerate


# -- the needed size --------------------------------------------------------------------------
def _needed(sizes: list[int], h: np.ndarray, target: float, floor: float = 0.0) -> Needed:
    """Smallest size whose half-width meets the target, modelling half-width^2 =
    floor^2 + c/size between and beyond the simulated sizes."""
    floor = float(floor) if np.isfinite(floor) else 0.0
    finite = np.flatnonzero(np.isfinite(h))
    if finite.size == 0:
        return Needed(None, "never")
    if floor >= target:
        return Needed(None, "unreachable")
    ok = np.flatnonzero(np.isfinite(h) & (h <= target))

    def solve(n0: int, h0: float) -> int | None:
        c = n0 * (h0 * h0 - floor * floor)
        return None if c <= 0 else math.ceil(c / (target * target - floor * floor))

    if ok.size == 0:  # beyond the grid
        last = finite[-1]
        n = solve(sizes[last], float(h[last]))
        return Needed(n if n is not None else None, "extrapolated" if n is not None else "never")
    first = ok[0]
    if first == 0:
        return Needed(sizes[0], "at most")
    lo, hi = sizes[first - 1], sizes[first]
    if not np.isfinite(h[first - 1]):
        return Needed(hi, "grid")
    n = solve(lo, float(h[first - 1]))
    if n is None:
        return Needed(hi, "grid")
    return Needed(min(max(n, lo + 1), hi), "interpolated")


# -- the planner ------------------------------------------------------------------------------
def _check_design(pilot: Pilot, settings: PlanSettings, item_counts: tuple[int, ...]) -> list[int]:
    sizes = list(settings.sizes)
    if settings.design == "spread":

        def people(r: int, n: int) -> int:
            return r * math.ceil(n / settings.k)

        small = [r for r in sizes if people(r, min(item_counts)) < MIN_PARTICIPANTS]
        if small and settings.grid:
            raise PlanError(
                f"--sizes: {small[0]} response(s) per item of {min(item_counts)} items in blocks of "
                f"{settings.k} is {people(small[0], min(item_counts))} participants; at least "
                f"{MIN_PARTICIPANTS} are needed (below that the analysis' interval covers less than 93%)"
            )
        sizes = [r for r in sizes if r not in small]
        if not sizes:
            raise PlanError(f"no spread design in the grid reaches {MIN_PARTICIPANTS} participants")
    return sizes


def check_simulation_size(
    pilot: Pilot,
    observers: dict[str, np.ndarray],
    settings: PlanSettings,
    item_counts: tuple[int, ...],
    sizes: list[int],
) -> None:
    """Refuse a --boot whose bootstrap of the largest simulated study would not fit in
    memory (the analysis' own estimate, `bootstrap_bytes`), before any simulation."""
    n_items = max(item_counts)
    people = max(size if settings.design == "same" else size * math.ceil(n_items / settings.k) for size in sizes)
    seeds = max((A.shape[0] for A in observers.values()), default=1)
    need = bootstrap_bytes(settings.n_boot, n_items, people, seeds) + 8 * n_items * people  # + the study's answers
    if need > MAX_BOOTSTRAP_BYTES:
        fits = max_resamples(n_items, people, seeds, limit=MAX_BOOTSTRAP_BYTES - 8 * n_items * people)
        raise PlanError(
            f"--boot {settings.n_boot:,}: the bootstrap of the largest simulated study ({n_items} items, "
            f"{people} participants) needs about {need / 2**30:.1f} GiB, more than the "
            f"{MAX_BOOTSTRAP_BYTES / 2**30:.0f} GiB allowed; use at most {fits:,} draws, or smaller --sizes/--items"
        )


def simulate(
    pilot: Pilot, observers: dict[str, np.ndarray], n_items: int, size: int, settings: PlanSettings, rng
) -> np.ndarray:
    """(resamples x quantities) half-widths of the analysis' crossed intervals in studies
    drawn from the pilot: items with replacement within each size, whole people."""
    hw = np.empty((settings.resamples, len(np.unique(pilot.sizes)) + len(observers)))
    for rep in range(settings.resamples):
        items = draw_items(pilot.sizes, n_items, rng)
        sub = pilot.correct[items]
        if settings.design == "same":
            study = sub[:, rng.integers(0, pilot.n_participants, size)]
        else:
            study = spread_matrix(sub, size, settings.k, rng)
        obs = {name: A[:, items] for name, A in observers.items()}
        hw[rep] = crossed_half_widths(study, pilot.sizes[items], obs, settings.n_boot, rng)
    return hw


def plan(pilot: Pilot, settings: PlanSettings) -> PlanResult:
    """Half-widths of every (items, size) design from the pilot's variance components (or,
    with an assurance, from simulated studies); the needed sizes and item floors."""
    settings.validate()
    if pilot.n_participants < 2:
        raise PlanError(
            f"{pilot.name}: the pilot has {pilot.n_participants} participant(s); resampling needs at least 2"
        )
    rng = np.random.default_rng(settings.seed)
    observers, skipped = usable_observers(pilot)
    quantities, n_degenerate = pilot_values(pilot, observers)
    comps = components(pilot, observers, settings.seed)
    item_counts = settings.item_counts(pilot.n_items)
    sizes = _check_design(pilot, settings, item_counts)
    if settings.assurance is not None:
        check_simulation_size(pilot, observers, settings, item_counts, sizes)
    crit = np.full((len(item_counts), len(sizes), len(quantities)), np.nan)
    sd = np.full_like(crit, np.nan)
    for a, n_items in enumerate(item_counts):
        for b, size in enumerate(sizes):
            people = size if settings.design == "same" else size * math.ceil(n_items / settings.k)
            if settings.assurance is None:
                crit[a, b] = [c.half_width(people, n_items, size) for c in comps]
                continue
            hw = simulate(pilot, observers, n_items, size, settings, rng)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                crit[a, b] = np.nanquantile(hw, settings.assurance, axis=0)
                sd[a, b] = np.nanstd(hw, 0)
    floors = np.array([[c.floor(n) for c in comps] for n in item_counts])
    notes = list(pilot.notes)
    if pilot.coverage < 0.999 and settings.design == "same":
        notes.append(
            f"the pilot's participants answered {100 * pilot.coverage:.0f}% of its "
            "items; the same-design plan treats each as if they had answered all"
        )
    if settings.design == "spread" and settings.k >= min(item_counts):
        notes.append(f"K = {settings.k} covers all {min(item_counts)} items: the spread design is then the same design")
    if not pilot.observers:
        notes.append("no models: only accuracy is planned (pass --predictions for kappa)")
    result = PlanResult(
        settings=settings,
        pilot_name=pilot.name,
        n_items=pilot.n_items,
        n_pilot_participants=pilot.n_participants,
        quantities=quantities,
        sizes=sizes,
        item_counts=list(item_counts),
        half_widths=crit,
        spread_sd=sd,
        floors=floors,
        needed={},
        items_needed={},
        components={q.key: c for q, c in zip(quantities, comps)},
        mean_accuracy=float(np.nanmean(pilot.correct)),
        n_degenerate=n_degenerate,
        skipped=skipped,
        notes=notes,
    )
    for a, n_items in enumerate(item_counts):
        for j, q in enumerate(quantities):
            result.needed[(n_items, q.key)] = _needed(sizes, crit[a, :, j], settings.target, floors[a, j])
    for q, c in zip(quantities, comps):
        if c.items > 0:
            result.items_needed[q.key] = max(
                MIN_ITEMS, math.ceil(c.items * (Z95 / settings.target) ** 2 / c.item_share)
            )
    return result
