"""People as observers, compared with people without comparing anyone with themselves.

`cubeworld fit people` writes participants as observers (kind "human"; `model`
"human:<participant>", and the group majority "human:majority"), so every analysis treats
a person like a VLM. Pairing such an observer with the participants as they are would
compare a person with their own answers (kappa 1 with one of the participants) and the
majority with a majority that includes the participant: both inflate how human-like the
observer looks. Here, every unit that pairs an observer with participants asks which
participant (if any) an observer is, and leaves them out:

- `human:<id>` is compared with every participant but <id>;
- `human:majority` is compared with each participant p as the majority of the OTHERS
  (Yes when at least half of the others answered Yes, the observers' rule), so its
  answers differ from participant to participant.

Why per participant (NaN where not compared) rather than dropping a column: the other
participants stay where they are, so the participant resamples of the crossed bootstrap
are the same for this observer as for every other one and paired differences stay paired.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cubeworld.formats.predictions import HUMAN_KIND, HUMAN_MODEL_PREFIX, MAJORITY_MODEL


@dataclass(frozen=True)
class PersonObserver:
    """An observer made of people: one participant, or (participant None) their majority."""

    participant: str | None

    @property
    def majority(self) -> bool:
        return self.participant is None


def person_observer(rows: pd.DataFrame) -> PersonObserver | None:
    """Which participant an observer's rows are (None: not people). Rows of kind "human"
    whose one `model` is "human:<id>" (or "human:majority")."""
    if "kind" not in rows.columns or not (rows["kind"] == HUMAN_KIND).all():
        return None
    models = rows["model"].astype(str).unique()
    if len(models) != 1 or not models[0].startswith(HUMAN_MODEL_PREFIX):
        return None
    if models[0] == MAJORITY_MODEL:
        return PersonObserver(None)
    return PersonObserver(models[0][len(HUMAN_MODEL_PREFIX) :])


def leave_one_out_correct(
    who: PersonObserver, own_correct: np.ndarray, responses: pd.DataFrame, truth_yes: np.ndarray
) -> np.ndarray:
    """The observer's correctness per participant, (n_seeds, n_items, n_participants),
    NaN where a pair is not compared (what `metrics.kappa_to_humans` takes).

    own_correct: (n_seeds, n_items) the observer's own rows; responses: (items x
    participants) response codes (NaN = not shown), the columns of the human matrix it is
    compared with; truth_yes: (n_items,) 0/1. A person: their own answers, NaN in their own
    column. The majority: for participant p, the others' majority on each item (NaN where
    no other participant saw it); its own rows (everyone's majority) are not used.
    """
    R = responses.to_numpy(dtype=float)
    n_items, n_people = R.shape
    if not who.majority:
        out = np.repeat(np.asarray(own_correct, dtype=float)[:, :, None], n_people, axis=2)
        out[:, :, responses.columns.astype(str) == who.participant] = np.nan
        return out
    shown = ~np.isnan(R)
    yes = np.where(shown, R, 0.0)
    others_yes = yes.sum(1, keepdims=True) - yes
    others_seen = shown.sum(1, keepdims=True) - shown
    with np.errstate(divide="ignore", invalid="ignore"):
        says = others_yes / others_seen >= 0.5
    correct = (says == np.asarray(truth_yes, dtype=bool)[:, None]).astype(float)
    correct[others_seen == 0] = np.nan
    return correct[None, :, :]


def leave_one_out_share(who: PersonObserver, responses: pd.DataFrame) -> pd.DataFrame:
    """The responses a person is compared with: every participant but themselves."""
    if who.majority:
        return responses
    return responses.loc[:, responses.columns.astype(str) != who.participant]
