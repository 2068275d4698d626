"""People as observers are never compared with themselves (leave one out)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from cubeworld.analysis.correlation import leave_one_out
from cubeworld.analysis.loading import load_inputs
from cubeworld.analysis.metrics import error_consistency, pairwise_human_kappas
from cubeworld.analysis.tables import kappa_results
from cubeworld.fitting.config import FitError
from cubeworld.fitting.people import responses_as_predictions
from cubeworld.formats.sets import load_set


def _people(tiny, tmp_path):
    s = tiny.make_set(tmp_path / "s", "people", sizes=(2, 3), per_size=8, seed=3)
    humans = tiny.make_humans(s, 5, seed=4)
    rows = load_set(s, check_images=False).rows
    pred = responses_as_predictions(humans, rows, "people")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_inputs(pred, [s], humans)
        res = kappa_results(data.predictions, data.truth, data.humans, n_boot=50)
    return s, humans, data, res


def test_a_person_and_the_majority_are_compared_only_with_the_others(tiny, tmp_path):
    """human:p0's kappa is its mean with p1..p4 (with itself it would add a kappa of 1);
    human:majority's is, per participant, the majority of the other four against them."""
    _, humans, data, res = _people(tiny, tmp_path)
    k = res.kappa.set_index("model")
    H = res.human_matrix["people"]
    pair = pairwise_human_kappas(H.to_numpy())
    people = list(H.columns)
    for j, p in enumerate(people):
        others = np.delete(pair[j], j)
        assert k.loc[f"human:{p}", "kappa_humans"] == np.nanmean(others)
        assert k.loc[f"human:{p}", "n_participants"] == len(people) - 1
    # with itself included, the mean would move by a kappa of 1 in five: clearly different
    assert k.loc["human:p0", "kappa_humans"] < (np.nansum(np.delete(pair[0], 0)) + 1) / 5 - 0.1

    R = humans.pivot_table(index="stimulus_id", columns="participant", values="response").loc[H.index, people]
    falls = data.truth.set_index("stimulus_id").loc[H.index, "falls"].astype(bool).to_numpy()
    loo = []
    for p in people:
        says = R.drop(columns=p).mean(axis=1).to_numpy() >= 0.5
        loo.append(error_consistency(H[p].to_numpy(), says == falls).kappa)
    assert np.isclose(k.loc["human:majority", "kappa_humans"], np.mean(loo))
    everyone = (R.mean(axis=1).to_numpy() >= 0.5) == falls
    with_self = np.mean([error_consistency(H[p].to_numpy(), everyone).kappa for p in people])
    assert abs(with_self - np.mean(loo)) > 0.02  # the old, self-including value differs
    # nobody appears in the per-pair table against themselves
    pairs = res.pairs
    assert not ((pairs["observer_a"].str.contains("human:p0")) & (pairs["observer_b"] == "participant p0")).any()


def test_alignment_of_a_person_is_with_the_others_share(tiny, tmp_path):
    from cubeworld.analysis import analyze

    s, humans, data, _ = _people(tiny, tmp_path)
    pred = responses_as_predictions(humans, load_set(s, check_images=False).rows, "people")
    pred.to_csv(tmp_path / "p.csv", index=False)
    humans.to_csv(tmp_path / "h.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analyze(
            [tmp_path / "p.csv"],
            tmp_path / "o",
            humans=tmp_path / "h.csv",
            n_boot=50,
            progress=False,
            analyses=["alignment", "kappa_differences"],
            truth=[s],
        )
    al = pd.read_csv(tmp_path / "o" / "alignment.csv")
    R = humans.pivot_table(index="stimulus_id", columns="participant", values="response")
    single = leave_one_out(R.to_numpy(), n_boot=50)
    by_obs = al.set_index("observer")["pearson"]
    for j, p in enumerate(R.columns):
        name = next(o for o in by_obs.index if o.startswith(f"human:{p} "))
        assert np.isclose(by_obs[name], single.per_participant[j])  # not r with a share holding itself
    majority = next(o for o in by_obs.index if o.startswith("human:majority"))
    assert np.isclose(by_obs[majority], single.mean)  # never 1 by construction
    # paired differences of people's kappas: each leaves its own participant out
    diffs = pd.read_csv(tmp_path / "o" / "kappa_differences.csv")
    kappa = pd.read_csv(tmp_path / "o" / "kappa.csv").set_index("observer")["kappa_humans"]
    for _, d in diffs.iterrows():
        assert np.isclose(d["difference"], kappa[d["observer_a"]] - kappa[d["observer_b"]])


def test_a_participant_named_majority_is_refused(tiny, tmp_path):
    """Its observer would be `human:majority`, which the analysis reads as the group majority."""
    s = tiny.make_set(tmp_path / "s", "people", sizes=(2,), per_size=4, seed=3)
    humans = tiny.make_humans(s, 2, seed=4)
    humans["participant"] = humans["participant"].astype(str)
    humans.loc[humans["participant"] == humans["participant"].iloc[0], "participant"] = "majority"
    with pytest.raises(FitError, match="participant id 'majority' is the name of the majority observer"):
        responses_as_predictions(humans, load_set(s, check_images=False).rows, "people")
