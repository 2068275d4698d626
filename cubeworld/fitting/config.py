"""The settings of a fit (`cubeworld fit physics`), declared once (`cubeworld.typed`)."""

from __future__ import annotations

from dataclasses import dataclass

from cubeworld.errors import CubeworldError
from cubeworld.typed import setting

FITTABLE = ("position_noise", "size_noise", "push_noise", "threshold")
# The physics observer's settings a fit sets itself (FitConfig's, or the fitted lapse): not
# settable on the base observer the fit starts from (`--position-noise` etc. are).
BASE_OWNED = ("physics", "workers", "seed", "n_simulations", "stop_at_rest", "lapse")


class FitError(CubeworldError):
    """A fit cannot run as asked (no scenes, no answers, an unknown parameter)."""


@dataclass(frozen=True, kw_only=True)
class FitConfig:
    """How the physics observer is fitted to people (the lapse is always fitted)."""

    params: tuple[str, ...] = setting(
        ("position_noise",),
        help=f"Parameters fitted besides the lapse, any of {', '.join(FITTABLE)}; the others keep the "
        "base observer's values.",
        minimum=1,
        maximum=len(FITTABLE),
    )
    position_noise_grid: tuple[float, ...] = setting(
        (0.03, 0.06, 0.1, 0.15, 0.22, 0.32), help="Coarse grid of position noise.", minimum=1, maximum=50
    )
    size_noise_grid: tuple[float, ...] = setting(
        (0.0, 0.05, 0.1, 0.2), help="Coarse grid of size noise.", minimum=1, maximum=50
    )
    push_noise_grid: tuple[float, ...] = setting(
        (0.0, 0.02, 0.05, 0.1), help="Coarse grid of push noise (m/s).", minimum=1, maximum=50
    )
    threshold_grid: tuple[float, ...] = setting(
        (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
        help="Grid of decision thresholds (no new simulations: a decision on the same shares).",
        minimum=1,
        maximum=200,
    )
    lapse_max: float = setting(0.5, help="Largest lapse rate considered.", above=0, below=1)
    refine: bool = setting(True, help="After the coarse grid, simulate the midpoints around the best point.")
    folds: int = setting(5, help="Crossed cross-validation folds (items and participants).", minimum=2, maximum=50)
    bootstrap: int = setting(
        200, help="Bootstrap resamples (participants and items) for intervals.", minimum=0, maximum=10_000
    )
    n_simulations: int = setting(20, help="Noisy copies per item and parameter point.", minimum=1, maximum=10_000)
    seed: int = setting(0, help="Seed of the copies' noise, the folds and the bootstrap.", minimum=0, maximum=2**32 - 1)
    workers: int | None = setting(None, help="Simulating processes (null: every core).", minimum=1, maximum=256)
    stop_at_rest: bool = setting(True, help="End a copy once its blocks rest (the fitted observer keeps this).")
