"""What the two fit units share: when they skip, and how a fit's parameters are written."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cubeworld.analysis.unit import AnalysisContext
    from cubeworld.formats.fits import FitResult

NO_FIT = "no fit given (a study's fits:, or cubeworld analyze --fit DIR)"
PHOTO = "photo"


def fit_reasons(ctx: AnalysisContext) -> list[str]:
    """Why fit units show nothing (for a set): photo sets (Lerer100) cannot be fitted, as
    their photos record no scene to simulate; without any fit there is nothing to show."""
    reasons = [
        f"set {s!r}: photos have no recorded scenes to simulate, so the physics observer cannot be fitted to it"
        for s in ctx.sets
        if ctx.set_info(s).medium == PHOTO and not any(s in f.sets for f in ctx.data.fits)
    ]
    if not ctx.data.fits:
        reasons.append(NO_FIT)
    return reasons


def parameters(fit: FitResult) -> str:
    """'position_noise 0.150 [0.125, 0.151], lapse 0.094 [0.010, 0.240]'."""
    parts = []
    for name, value in fit.fitted.items():
        ci = fit.intervals.get(name)
        parts.append(f"{name} {value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""))
    return ", ".join(parts)


def who(fit: FitResult) -> str:
    """Who answered: the participants, and whether they were simulated."""
    return f"{fit.participants} {'SIMULATED participants' if fit.simulated else 'participants'}"
