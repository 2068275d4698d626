"""How well a fit predicts people it never saw: held-out log-likelihood per trial of the
fitted physics observer, the per-size accuracy model and chance (crossed folds over items
and participants), and the fitted observer's held-out kappa with people."""

from __future__ import annotations

import pandas as pd

from cubeworld.analysis.unit import RANK_ALIGNMENT, Analysis, AnalysisContext, AnalysisOutput, Finding, TableOut
from cubeworld.analysis.units._fits import fit_reasons, who
from cubeworld.formats.fits import HELDOUT_MODELS

NAMES = {"physics": "physics fit", "per-size": "per-size accuracy", "chance": "chance"}


def _table(ctx: AnalysisContext) -> pd.DataFrame:
    rows = []
    for f in ctx.data.fits:
        for m in HELDOUT_MODELS:
            h = f.heldout[m]
            rows.append(
                {
                    "fit": f.name,
                    "model": NAMES[m],
                    "log_lik": h["log_lik"],
                    "trials": int(h["trials"]),
                    "log_lik_per_trial": h["per_trial"],
                    "folds": f.folds,
                    "kappa_heldout": f.kappa_mean if m == "physics" else float("nan"),
                    "kappa_participants": f.kappa_participants if m == "physics" else 0,
                    "participants": f.participants,
                    "items": f.items,
                    "simulated": f.simulated,
                }
            )
    return pd.DataFrame(rows)


def run(ctx: AnalysisContext) -> AnalysisOutput:
    if not ctx.data.fits:
        return AnalysisOutput()
    table = _table(ctx)
    findings = []
    for f in ctx.data.fits:
        h = f.heldout
        kappa = (
            f"held-out kappa with people {f.kappa_mean:.2f} (mean of {f.kappa_participants} participants)"
            if f.kappa_mean is not None
            else "no held-out kappa (every held-out participant all right or all wrong)"
        )
        findings.append(
            Finding(
                f"Fit {f.name}: held-out log-likelihood per trial {h['physics']['per_trial']:.3f} (physics fit) vs "
                f"{h['per-size']['per_trial']:.3f} (per-size accuracy) vs {h['chance']['per_trial']:.3f} (chance), "
                f"{int(h['physics']['trials'])} held-out trials over {f.folds} crossed folds; {kappa} ({who(f)}).",
                RANK_ALIGNMENT + 5,
                weight=h["physics"]["per_trial"] - h["per-size"]["per_trial"],
            )
        )
    return AnalysisOutput(
        tables=[
            TableOut(
                "fit_heldout",
                "Held-out log-likelihood of the fits",
                table,
                "log_lik: summed over the held-out trials of every fold (natural log); "
                "log_lik_per_trial: per trial (chance: log 0.5 = -0.693; higher is better). Fold f "
                "holds out item-fold f AND participant-fold f; each model is fitted on the other items "
                "answered by the other people. kappa_heldout: error consistency of the fitted "
                "observer's answers with each held-out participant on their held-out items, mean over "
                "kappa_participants participants (those all right or all wrong have none).",
            )
        ],
        findings=findings,
        methods=[
            "Held-out scoring of a fit: crossed folds over items and participants (a fold's test "
            "cells share neither with its training cells). Models: the fitted physics observer "
            "(refitted per fold), a per-size accuracy model (each size's share right in the training "
            "cells, Laplace-smoothed) and chance (P(Yes) = 0.5)."
        ],
        values={"table": table},
    )


ANALYSIS = Analysis(
    "fit_heldout",
    "Held-out log-likelihood of the fits",
    run,
    fit_reasons,
    "held-out log-likelihood per trial (fit vs per-size accuracy vs chance) and held-out kappa with people",
)
