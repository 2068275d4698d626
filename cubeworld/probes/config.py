"""The probe settings, declared once: `ProbeConfig` (command options, study YAML, results).

Why these defaults:
- 5 outer folds, grouped by stimulus id and stratified by label for `falls`, so an item
  never sits in both training and test, and each test fold keeps the label balance.
- Regularisation chosen by nested grouped cross-validation inside each outer training fold
  (`c` / `alpha` empty), from grids spanning four (C) and six (alpha) orders of magnitude;
  a fixed `c` / `alpha` skips the inner search (9-21 times faster in bench_probes; the
  value then is part of the method and must be reported).
- 3 shuffled-value refits give the chance level each probe is tested against (the
  out-of-fold score of a probe that learns nothing is not exactly 0.5 or 0).
- 2000 bootstrap resamples of the items for every interval and the one-sided test, whose
  p-values are Holm-corrected over all probes of a target (family-wise `level`).
"""

from __future__ import annotations

from dataclasses import dataclass

from cubeworld.probes.errors import ProbeError
from cubeworld.probes.targets import PROBE_TARGETS
from cubeworld.typed import setting


@dataclass(frozen=True)
class ProbeConfig:
    """How probes are fitted and tested; every count has a maximum."""

    targets: tuple[str, ...] = setting(
        ("falls", "margin"),
        help="What the probes predict (repeatable): " + ", ".join(PROBE_TARGETS.names()) + ".",
        minimum=1,
        maximum=16,
        cli="--target",
    )
    points: tuple[str, ...] = setting(
        (),
        help="Activation points to probe (repeatable): names (decoder.3) or stages (vision, projector, "
        "deepstack, decoder); none: every point.",
        maximum=1024,
    )
    pools: tuple[str, ...] = setting(
        (), help="Pools to probe (repeatable): image, answer; none: every cached pool.", maximum=8, cli="--pool"
    )
    folds: int = setting(5, help="Outer cross-validation folds (grouped by stimulus id).", minimum=2, maximum=20)
    inner_folds: int = setting(
        3, help="Inner folds choosing the regularisation (nested, grouped).", minimum=2, maximum=10
    )
    c: float | None = setting(
        None,
        help="Logistic regression's C (inverse regularisation) for every probe; none: chosen by nested CV from --c-grid.",
        minimum=1e-9,
        maximum=1e9,
    )
    c_grid: tuple[float, ...] = setting(
        (1e-3, 1e-2, 1e-1, 1.0, 10.0),
        help="Candidate C values for the nested choice (repeatable).",
        minimum=1,
        maximum=20,
    )
    alpha: float | None = setting(
        None,
        help="Ridge regression's alpha for every probe; none: chosen by nested CV from --alpha-grid.",
        minimum=1e-9,
        maximum=1e9,
    )
    alpha_grid: tuple[float, ...] = setting(
        (1e-1, 1.0, 1e1, 1e2, 1e3, 1e4, 1e5),
        help="Candidate alpha values for the nested choice (repeatable).",
        minimum=1,
        maximum=20,
    )
    max_iter: int = setting(1000, help="Logistic regression's iteration limit.", minimum=10, maximum=100_000)
    shuffles: int = setting(
        3,
        help="Shuffled-value refits per probe (the chance level); 0: test against the majority rate / R^2 = 0.",
        minimum=0,
        maximum=1000,
    )
    n_boot: int = setting(2000, help="Bootstrap resamples of the items.", minimum=100, maximum=100_000)
    level: float = setting(
        0.05, help="Family-wise error rate of the Holm-corrected tests (per target).", minimum=1e-6, maximum=0.5
    )
    seed: int = setting(0, help="Seed of the folds, the shuffles and the bootstrap.", minimum=0, maximum=2**32 - 1)
    max_items: int = setting(
        200_000,
        help="Refuse caches of more items than this (memory: items x width floats).",
        minimum=1,
        maximum=10_000_000,
    )
    workers: int = setting(1, help="Processes fitting points in parallel.", minimum=1, maximum=64)

    def __post_init__(self) -> None:
        for name in self.targets:
            if name not in PROBE_TARGETS:
                raise ProbeError(f"targets: unknown probe target {name!r}; expected one of {', '.join(PROBE_TARGETS)}")
        if len(set(self.targets)) != len(self.targets):
            raise ProbeError(f"targets: {list(self.targets)} names a target twice")
        for name, grid in (("c_grid", self.c_grid), ("alpha_grid", self.alpha_grid)):
            bad = [v for v in grid if not (v > 0 and v < float("inf"))]
            if bad:
                raise ProbeError(f"{name}: every value must be a positive finite number, got {bad[0]!r}")

    @property
    def nested(self) -> dict[str, bool]:
        """Whether each probe kind chooses its regularisation by nested CV."""
        return {"classification": self.c is None, "regression": self.alpha is None}

    def fit_settings(self) -> dict[str, object]:
        """The settings that change a fitted probe's out-of-fold predictions (not which
        points are fitted, how they are tested, or how many processes fit them): what a
        resumed fit must share with the one it resumes."""
        from cubeworld.typed import to_plain

        plain = to_plain(self)
        return {key: plain[key] for key in FIT_SETTINGS}


FIT_SETTINGS = ("targets", "folds", "inner_folds", "c", "c_grid", "alpha", "alpha_grid", "max_iter", "shuffles", "seed")
