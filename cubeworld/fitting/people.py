"""Simulated participants, and people as observers.

Simulated participants answer as the physics observer's model of one answer says
(`likelihood`: P(Yes) = lapse/2 + (1 - lapse) x decision): each draws each answer from its
item's P(Yes). They are the pilot fixture (clearly labelled `simulated`) and the data of
parameter recovery: known parameters in, a fit out.

People as observers: a participant's answers written as prediction rows (the schema every
observer writes, `formats.predictions`), with the participant as the observer (`model`
= `human:<participant>`, kind `human`) and `p_yes` = the response; the group majority
is one more observer (`human:majority`, p_yes = the share answering Yes). The analyses
then treat a person, the majority, a VLM and the physics observer alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

SIMULATED_NOTE = "simulated participants (known parameters), not human data"


def simulate_answers(ids: Sequence[str], p_yes: np.ndarray, participants: int, seed: int) -> pd.DataFrame:
    """A responses table (formats.responses) of `participants` simulated people answering
    every item once, in a random order each; a `simulated` column says what they are."""
    rng = np.random.default_rng([seed, 3])
    rows = []
    for p in range(participants):
        order = rng.permutation(len(ids))
        answers = rng.random(len(ids)) < p_yes
        for t, i in enumerate(order):
            rows.append(
                {
                    "stimulus_id": ids[i],
                    "participant": f"sim-{p:03d}",
                    "response": int(answers[i]),
                    "trial_index": t,
                    "simulated": 1,
                }
            )
    return pd.DataFrame(rows)


def responses_as_predictions(responses: pd.DataFrame, rows: Sequence[Any], set_name: str) -> pd.DataFrame:
    """People's answers to `rows` as prediction rows: one observer per participant and the
    majority (the observers' rule: Yes when p_yes >= 0.5, so a tie answers Yes)."""
    from cubeworld.fitting.config import FitError
    from cubeworld.formats.answers import answer_for
    from cubeworld.formats.predictions import HUMAN_KIND, HUMAN_MODEL_PREFIX, MAJORITY_MODEL, human_model

    by_id = {r.stimulus_id: r for r in rows}
    df = responses[responses["stimulus_id"].isin(by_id)]
    clash = sorted({str(p) for p in df["participant"]} & {MAJORITY_MODEL.removeprefix(HUMAN_MODEL_PREFIX)})
    if clash:  # their observer would be the group majority's, and the analysis would read it as one
        raise FitError(
            f"participant id {clash[0]!r} is the name of the majority observer ({MAJORITY_MODEL}); "
            "rename that participant in the responses table"
        )
    out = []

    def row(r: Any, who: str, p: float) -> dict[str, Any]:
        says = p >= 0.5
        return {
            "stimulus_id": r.stimulus_id,
            "set": set_name,
            "domain": r.domain,
            "n_blocks": r.n_blocks,
            "falls": bool(r.falls),
            "model": who,
            "adapter": "",
            "condition": "",
            "seed": "",
            "epoch": 0,
            "p_yes": float(p),
            "answer": answer_for(says),
            "correct": says == bool(r.falls),
            "kind": HUMAN_KIND,
        }

    for rec in df.itertuples(index=False):
        out.append(row(by_id[rec.stimulus_id], human_model(str(rec.participant)), float(rec.response)))
    for sid, share in df.groupby("stimulus_id")["response"].mean().items():
        out.append(row(by_id[str(sid)], MAJORITY_MODEL, float(share)))
    return pd.DataFrame(out)


def simulate_people(rows: Sequence[Any], settings: Any, participants: int, seed: int) -> pd.DataFrame:
    """Simulated participants answering `rows` as the physics observer with `settings` (a
    `PhysicsScoring`: noise, threshold, lapse) says: P(Yes) from its simulations, then draws."""
    from cubeworld.observers.noisy_newton import decide, simulate_items

    yes = simulate_items([(r.domain, r.stimulus_id, r.extra["scene"]) for r in rows], settings)
    p = decide(np.array(yes) / settings.n_simulations, settings.threshold, settings.lapse)
    return simulate_answers([r.stimulus_id for r in rows], np.atleast_1d(p), participants, seed)
