"""The analyses as registered units, and the new statistics through `analyze` and the CLI:
difficulty curves, graded alignment, significance, exclusions, observer kinds, p_other."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cubeworld.analysis import (
    ANALYSES,
    Analysis,
    AnalysisInputError,
    AnalysisOutput,
    Finding,
    TableOut,
    analyze,
    load_inputs,
)
from cubeworld.cli import app

runner = CliRunner()
PORTED = ("accuracy", "human_accuracy", "learning_curves", "kappa", "kappa_differences")
NEW = (
    "alignment",
    "calibration",
    "difficulty",
    "exclusions",
    "answer_mass",
    "generalisation",
    "degenerate",
    "human_labels",
)


def _csv(df: pd.DataFrame, path) -> str:
    df.to_csv(path, index=False)
    return str(path)


@pytest.fixture(scope="module")
def study(tiny, tmp_path_factory):
    """A set with difficulty and one without; a VLM (two seeds), a physics observer, a
    model that mostly says something else; humans, two of them flagged excluded."""
    tmp_path = tmp_path_factory.mktemp("study")
    a = tiny.make_set(tmp_path / "a", "towers-eval", sizes=(2, 3), per_size=16, difficulty=True)
    b = tiny.make_set(tmp_path / "b", "photos", sizes=(2, 3), per_size=8, seed=3)
    preds = []
    for s in (a, b):
        preds += [
            tiny.make_graded_predictions(s, model="vlm", seeds=(0, 1), slope=-0.4),
            tiny.make_graded_predictions(s, model="physics", kind="physics", slope=-1.5, rng_seed=1),
            tiny.make_graded_predictions(s, model="talker", slope=-0.2, p_other=0.7, rng_seed=2),
        ]
    pred = _csv(pd.concat(preds, ignore_index=True), tmp_path / "p.csv")
    flagged = {"p0": "attention_checks", "p1": "attention_checks;fast_rt"}
    humans = pd.concat([tiny.make_humans(a, 10, excluded=flagged), tiny.make_humans(b, 10, seed=1, excluded=flagged)])
    return {"a": a, "b": b, "pred": pred, "humans": _csv(humans, tmp_path / "h.csv"), "tmp": tmp_path}


# --------------------------------------------------------------------------- registry


def test_every_analysis_is_one_registered_unit():
    assert set(PORTED + NEW) <= set(ANALYSES.names())
    for name, unit in ANALYSES.items():
        assert isinstance(unit, Analysis) and unit.name == name and unit.title
        assert callable(unit.run) and callable(unit.check)


def test_adding_an_analysis_is_one_unit_and_one_entry(study, monkeypatch, tmp_path):
    """A new unit registered under a new name shows up in the CSVs, the report and its
    findings without any other change."""

    def run(ctx):
        n = ctx.pred.groupby("set")["stimulus_id"].nunique().rename("n_items").reset_index()
        return AnalysisOutput(
            tables=[TableOut("items_per_set", "Items per set", n, "How many items.")],
            findings=[Finding(f"{len(n)} sets were analysed (a plug-in says so).", 15)],
            methods=["Counted by a plug-in."],
        )

    unit = Analysis("items_per_set", "Items per set", run)
    monkeypatch.setitem(ANALYSES._entries, "items_per_set", unit)
    report = analyze(
        [study["pred"]],
        tmp_path / "o",
        truth=[study["a"], study["b"]],
        n_boot=200,
        progress=False,
        analyses=["items_per_set"],
    )
    html = report.read_text()
    assert "2 sets were analysed (a plug-in says so)." in html
    assert pd.read_csv(tmp_path / "o" / "items_per_set.csv")["n_items"].tolist() == [16, 32]
    assert not (tmp_path / "o" / "kappa.csv").exists()  # only what was asked for


def test_selected_analyses_and_their_dependencies(study, tmp_path):
    analyze(
        [study["pred"]],
        tmp_path / "o",
        truth=[study["a"], study["b"]],
        humans=study["humans"],
        n_boot=200,
        progress=False,
        analyses=["kappa_differences"],
    )
    written = sorted(p.name for p in (tmp_path / "o").glob("*.csv"))
    # kappa_differences builds on kappa, which therefore runs (and is shown) too
    assert written == ["kappa.csv", "kappa_differences.csv", "kappa_pairs.csv"]


def test_unknown_analysis_is_bad_input(study, tmp_path):
    r = runner.invoke(app, ["analyze", study["pred"], "--analysis", "nonsense", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "unknown analysis 'nonsense'" in r.output
    assert "difficulty" in r.output and not (tmp_path / "o").exists()
    r = runner.invoke(app, ["analyze", "--list-analyses"])
    assert r.exit_code == 0
    assert all(n in r.output for n in PORTED + NEW)


# --------------------------------------------------------------------------- full run


@pytest.fixture(scope="module")
def full_report(study):
    out = study["tmp"] / "rep"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = analyze(
            [study["pred"]], out, truth=[study["a"], study["b"]], humans=study["humans"], n_boot=200, progress=False
        )
    return out, report.read_text()


def test_difficulty_curves(full_report, tiny):
    out, html = full_report
    fits = pd.read_csv(out / "difficulty.csv", keep_default_na=False)
    assert set(fits["set"]) == {"towers-eval"}  # the photos have no difficulty
    fits = fits.set_index("observer")
    assert set(fits.index) == {"vlm · zero-shot", "physics · zero-shot", "talker · zero-shot", "humans"}
    assert fits.loc["humans", "response"] == "responses"
    assert fits.loc["vlm · zero-shot", "response"] == "p_yes"
    assert (fits["difficulty"] == "stability margin").all() and (fits["unit"] == "mm").all()
    # larger margin = more clearly No: P(Yes) falls, the steeper for the physics observer
    for o in ("physics · zero-shot", "humans"):
        assert fits.loc[o, "slope_ci_high"] < 0
        assert fits.loc[o, "threshold_ci_low"] < fits.loc[o, "threshold"] < fits.loc[o, "threshold_ci_high"]
    assert fits.loc["physics · zero-shot", "slope"] < fits.loc["vlm · zero-shot", "slope"]
    bins = pd.read_csv(out / "difficulty_bins.csv")
    assert {"difficulty", "p_yes", "accuracy", "n"} <= set(bins.columns)
    assert "fig_difficulty" in html
    assert "Difficulty curves: set &#x27;photos&#x27;" in html  # skipped, with its reason


def test_graded_alignment_and_ceiling(full_report):
    out, html = full_report
    al = pd.read_csv(out / "alignment.csv").set_index(["set", "observer", "signal"])
    for s in ("towers-eval", "photos"):
        for signal in ("split-half ceiling", "single people (leave one out)"):
            h = al.loc[(s, "humans", signal)]
            assert h["pearson_ci_low"] <= h["pearson"] <= h["pearson_ci_high"]
            assert h["n_participants"] == 8  # two of ten excluded
    vlm = al.loc[("towers-eval", "vlm · zero-shot", "p_yes")]
    assert vlm["pearson"] > 0.5
    assert vlm["pearson_ci_low"] < vlm["pearson"] < vlm["pearson_ci_high"]
    assert 0 <= vlm["percentile_among_people"] <= 100
    assert "fig_alignment" in html and "split-half" in html and "leave one out" in html
    cal = pd.read_csv(out / "calibration.csv")
    assert {"brier", "brier_ci_low", "log_loss"} <= set(cal.columns)
    assert ((cal["brier"] >= 0) & (cal["brier"] <= 1)).all()
    assert "fig_reliability" in html


def test_kappa_significance_in_table_and_figure(full_report):
    out, html = full_report
    k = pd.read_csv(out / "kappa.csv").set_index(["set", "observer"])
    for col in ("kappa_truth_p", "kappa_humans_p", "share_participants_p05"):
        assert col in k.columns
    phys = k.loc[("towers-eval", "physics · zero-shot")]
    assert phys["kappa_truth_p"] < 0.05 and phys["kappa_humans_p"] < 0.05
    assert k.loc[("towers-eval", "physics · zero-shot"), "kind"] == "physics"
    pairs = pd.read_csv(out / "kappa_pairs.csv")
    model_pairs = pairs[pairs["observer_a"] == "physics · zero-shot"]
    assert len(model_pairs) == 2 * 8  # every participant that is left, on both sets
    human_pairs = pairs[pairs["observer_a"].str.startswith("participant")]
    assert len(human_pairs) == 2 * 8 * 7 // 2
    assert pairs["p_value"].between(0, 1).all()
    assert "kappa_pairs.csv" in html and "Stars: Holm-adjusted one-sided p &lt; .05" in html
    for col in ("kappa_truth_p", "kappa_humans_p"):  # raw and Holm-adjusted side by side
        ok = k[col].notna()
        assert (k.loc[ok, f"{col}_holm"] >= k.loc[ok, col] - 1e-12).all()
    assert {"kappa_humans_ci_low_paper", "kappa_humans_p_paper"} <= set(k.columns)
    d = pd.read_csv(out / "kappa_differences.csv")
    assert {"difference", "ci_low", "ci_high", "p_value", "p_value_holm"} <= set(d.columns)
    assert "fig_kappa_differences" in html


def test_exclusions_reported_and_applied(full_report, study, tmp_path):
    out, html = full_report
    ex = pd.read_csv(out / "exclusions.csv").set_index("rule")
    assert ex.loc["attention_checks", "n_participants"] == 2
    assert ex.loc["fast_rt", "n_participants"] == 1
    assert ex.loc["(all flagged)", "n_participants"] == 2
    assert ex.loc["(all flagged)", "n_responses"] == 96  # all of p0's and p1's responses, both sets
    assert "2 of 10 participants were excluded before analysis" in html
    hum = pd.read_csv(out / "accuracy_humans.csv")
    assert set(hum["n_participants"]) == {8}
    data = load_inputs([study["pred"]], [study["a"], study["b"]], study["humans"], include_excluded=True)
    assert data.humans["participant"].nunique() == 10 and data.exclusions.included
    r = runner.invoke(
        app,
        [
            "analyze",
            study["pred"],
            "--humans",
            study["humans"],
            "--include-excluded",
            "--analysis",
            "exclusions",
            "--quiet",
            "--out",
            str(tmp_path / "inc"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "INCLUDED on request" in (tmp_path / "inc" / "report.html").read_text()


def test_answer_mass_flag_and_kinds(full_report):
    out, html = full_report
    first_screen = html[html.index("<section id='findings'>") : html.index("<details>")]
    assert "Warning: talker · zero-shot put on average under 0.5" in first_screen
    mass = pd.read_csv(out / "answer_mass.csv").set_index(["observer", "set"])
    assert mass["flagged"].sum() == 2  # the talker, on both sets; nobody else
    assert mass.loc[("talker · zero-shot", "photos"), "mass_yes_no"] == pytest.approx(0.3)
    acc = pd.read_csv(out / "accuracy.csv")
    assert set(acc["kind"]) == {"vlm", "physics"}


def test_no_p_other_no_flag_and_no_exclusion_columns(tiny, tmp_path):
    a = tiny.make_set(tmp_path / "a", "seta", difficulty=True)
    pred = _csv(tiny.make_predictions(a, condition="ft"), tmp_path / "p.csv")
    h = _csv(tiny.make_humans(a, 4), tmp_path / "h.csv")
    report = analyze([pred], tmp_path / "o", truth=[a], humans=h, n_boot=200, progress=False).read_text()
    assert "Warning:" not in report and not (tmp_path / "o" / "answer_mass.csv").exists()
    assert not (tmp_path / "o" / "exclusions.csv").exists()
    assert "no exclusion flags" in report
    assert "4 human participants" in report


# --------------------------------------------------------------------------- bad input


def test_difficulty_asked_for_on_a_set_without_it(study, tmp_path):
    out = tmp_path / "o"
    r = runner.invoke(
        app,
        [
            "analyze",
            study["pred"],
            "--truth",
            str(study["a"]),
            "--truth",
            str(study["b"]),
            "--analysis",
            "difficulty",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 2
    line = r.output.strip().splitlines()[-1]
    assert line.startswith("error: --analysis difficulty: set 'photos'")
    assert "no 'difficulty'" in line and str(study["b"]) in line
    assert not out.exists()
    r = runner.invoke(
        app, ["analyze", study["pred"], "--analysis", "difficulty", "--out", str(out)]
    )  # no --truth: no difficulty at all
    assert r.exit_code == 2 and "no set folder given (--truth)" in r.output
    assert not out.exists()


def test_difficulty_on_some_rows_only_is_bad_input(tiny, tmp_path):
    a = tiny.make_set(tmp_path / "a", "seta", difficulty=True)
    meta = a / "metadata.jsonl"
    lines = meta.read_text().splitlines()
    lines[3] = re.sub(r', "difficulty": [-0-9.e]+', "", lines[3])
    meta.write_text("\n".join(lines) + "\n")
    pred = _csv(tiny.make_predictions(a, condition="ft"), tmp_path / "p.csv")
    with pytest.raises(
        AnalysisInputError,
        match=r"metadata\.jsonl: 1 of 16 rows lack "
        r"'difficulty' \(e\.g\. row 4\)",
    ):
        load_inputs([pred], [a])


def test_bad_flags_and_probabilities(tiny, tmp_path):
    a = tiny.make_set(tmp_path / "a", "seta")
    p = tiny.make_graded_predictions(a, model="m", p_other=0.2).astype({"p_other": object})
    p.loc[2, "p_other"] = "lots"
    with pytest.raises(AnalysisInputError, match=r"p\.csv: .*p_other.*'lots'"):
        load_inputs([_csv(p, tmp_path / "p.csv")])
    ok = _csv(tiny.make_predictions(a, condition="ft"), tmp_path / "ok.csv")
    h = tiny.make_humans(a, 4, excluded={"p0": "x"})
    h.loc[5, "excluded"] = 7
    path = _csv(h, tmp_path / "h.csv")
    r = runner.invoke(app, ["analyze", ok, "--humans", path, "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "h.csv: row 7: excluded must be 0 or 1, got '7'" in r.output
    assert not (tmp_path / "o").exists()
    h = tiny.make_humans(a, 2, excluded={"p0": "x", "p1": "y"})
    with pytest.raises(AnalysisInputError, match="every participant is flagged excluded"):
        load_inputs([ok], humans=_csv(h, tmp_path / "h2.csv"))


def test_constant_observer_is_nan_with_warning_and_count(tiny, tmp_path):
    from cubeworld.analysis import ConstantObserverWarning

    a = tiny.make_set(tmp_path / "a", "seta", per_size=10)
    good = tiny.make_predictions(a, condition="ok", skill=0.8)
    const = tiny.make_predictions(a, condition="always-yes")
    const = const.assign(p_yes=1.0, answer="Yes", correct=const["falls"])
    pred = _csv(pd.concat([good, const]), tmp_path / "p.csv")
    h = _csv(tiny.make_humans(a, 5), tmp_path / "h.csv")
    with pytest.warns(ConstantObserverWarning, match="always-yes on seta"):
        report = analyze([pred], tmp_path / "o", humans=h, n_boot=200, progress=False, analyses=["alignment"])
    al = pd.read_csv(tmp_path / "o" / "alignment.csv").set_index("observer")
    assert math.isnan(al.loc["always-yes", "pearson"]) and al.loc["always-yes", "constant"]
    assert not al.loc["ok", "constant"] and np.isfinite(al.loc["ok", "pearson"])
    assert "1 observer(s) gave the same value on every item" in report.read_text()


# --------------------------------------------------------------------------- figures


def test_figures_stay_at_page_width_and_show_every_kind(tiny, tmp_path):
    """Many sets and observers wrap downwards; the heatmap has baselines and humans."""
    import matplotlib.pyplot as plt

    from cubeworld.analysis.plotting import PAGE_WIDTH_IN, accuracy_heatmap, kappa_figure
    from cubeworld.analysis.tables import accuracy_table, human_accuracy_table, kappa_results

    frames, humans, sets = [], [], []
    for i in range(4):
        s = tiny.make_set(tmp_path / f"s{i}", f"set-{i}", sizes=(2, 3, 4), per_size=6, seed=i)
        sets.append(s)
        for j in range(8):
            p = tiny.make_predictions(s, condition=f"condition-{j}", model=f"model-{j}", rng_seed=i * 10 + j)
            p["kind"] = ["vlm", "physics", "cnn"][j % 3]
            frames.append(p)
        humans.append(tiny.make_humans(s, 4, seed=i))
    data = load_inputs(frames, sets, pd.concat(humans))
    kinds = data.predictions.groupby("observer")["kind"].first().to_dict()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        k = kappa_results(data.predictions, data.truth, data.humans, n_boot=50).kappa
    fig = kappa_figure(k, kinds)
    w, h = fig.get_size_inches()
    assert w == pytest.approx(PAGE_WIDTH_IN) and h > w  # 4 sets x 9 rows: wrapped downwards
    plt.close(fig)
    fig = accuracy_heatmap(accuracy_table(data.predictions), human_accuracy_table(data.humans, n_boot=50), kinds)
    assert fig.get_size_inches()[0] == pytest.approx(PAGE_WIDTH_IN)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 4  # one panel per set, stacked
    labels = {t.get_text() for ax in panels for t in ax.get_yticklabels()}
    assert "humans" in labels
    assert {kinds[o] for o in labels - {"humans"}} == {"vlm", "physics", "cnn"}
    from matplotlib.colors import to_hex

    from cubeworld.analysis.plotting import observer_colors

    palette = observer_colors(list(kinds) + ["humans"], kinds)
    colors = {t.get_text(): to_hex(t.get_color()) for t in fig.axes[0].get_yticklabels()}
    assert all(c == to_hex(palette[o]) for o, c in colors.items())  # each observer its own colour
    assert len(set(colors.values())) == len(colors)
    plt.close(fig)


def test_observer_colours_are_distinct_and_never_the_humans(tmp_path):
    """Every observer gets its own colour, none close to the human colour (18 observers: the
    larger palette)."""
    from matplotlib.colors import to_rgb

    from cubeworld.analysis.plotting import HUMAN_COLOR, HUMANS, observer_colors

    human = np.array(to_rgb(HUMAN_COLOR))
    for n in (3, 9, 18):
        names = [f"m{i} · zero-shot" for i in range(n)] + [HUMANS]
        colors = observer_colors(names, {name: "vlm" for name in names})
        assert colors[HUMANS] == HUMAN_COLOR
        others = [tuple(colors[name]) for name in names[:-1]]
        assert len(set(others)) == n
        assert min(np.abs(np.array(others) - human).sum(axis=1)) > 0.25


# --------------------------------------------------------------------------- issue 18


def test_generalisation_contrast_leads_the_report(contrast_report):
    """A trained observer's drop from its training sizes to the others: one number, with
    an interval over items and seeds and a one-sided test; the report's first finding."""
    out, html = contrast_report.parent, contrast_report.read_text()
    g = pd.read_csv(out / "generalisation.csv")
    assert len(g) == 1
    r = g.iloc[0]
    assert (r["observer"], r["contrast"], r["n_seeds"]) == ("cnn · towers-2-3", "size", 3)
    assert r["in_distribution"] == "tower 2 & 3" and r["out_of_distribution"] == "tower 4 & 5"
    assert r["drop"] == pytest.approx(r["accuracy_in"] - r["accuracy_out"])
    assert 0 < r["drop_ci_low"] < r["drop"] < r["drop_ci_high"]
    assert r["p_value"] < 0.01 and r["p_value_holm"] >= r["p_value"]
    assert 0.5 < r["auc_out"] < r["auc_in"]  # weaker, but still ranking the larger towers
    first = re.findall(r"<li>(.*?)</li>", html[html.index("<section id='findings'>") :])[0]
    assert first.startswith("Size generalisation: cnn · towers-2-3") and "drop of 0.3" in first
    assert "3 seeds" in first and "fig_generalisation" in html
    acc = pd.read_csv(out / "accuracy_by_condition.csv").set_index("observer")
    assert np.isfinite(acc.loc["cnn · towers-2-3", "auc"])  # AUC beside accuracy
    assert np.isnan(acc.loc["yes-man · always-yes", "auc"])  # answers only: no AUC


def test_one_answer_observer_is_marked_never_tested_never_ranked(contrast_report):
    out, html = contrast_report.parent, contrast_report.read_text()
    k = pd.read_csv(out / "kappa.csv").set_index("observer")
    yes = k.loc["yes-man · always-yes"]
    assert bool(yes["one_answer"])
    for col in [c for c in k.columns if re.search(r"_p(_holm|_paper)?$", c)]:
        assert np.isnan(yes[col]), col
    pairs = pd.read_csv(out / "kappa_pairs.csv")
    assert pairs.loc[pairs["observer_a"] == "yes-man · always-yes", "p_value"].isna().all()
    d = pd.read_csv(out / "kappa_differences.csv")
    assert "yes-man · always-yes" not in set(d["observer_a"]) | set(d["observer_b"])
    assert "most human-like errors: yes-man" not in html and "best accuracy yes-man" not in html
    prof = pd.read_csv(out / "answer_profiles.csv").set_index("observer")
    assert bool(prof.loc["yes-man · always-yes", "one_answer"]) and prof.loc["yes-man · always-yes", "share_yes"] == 1
    assert not prof.loc["cnn · towers-2-3", "one_answer"]
    labels = pd.read_csv(out / "human_labels.csv")
    assert labels.loc[0, "role"] == "evaluation set" and 0.5 < labels.loc[0, "accuracy"] <= 1


def test_flat_or_no_better_than_constant_is_never_best_calibrated(tiny, tmp_path):
    """P(Yes) that barely moves (a random tiny VLM) or scores no better than a constant 0.5
    is neither named best calibrated nor counted as changing with difficulty."""
    a = tiny.make_set(tmp_path / "a", "seta", sizes=(2, 3), per_size=12, difficulty=True)
    flat = tiny.make_graded_predictions(a, model="flat", slope=-0.4)
    flat["p_yes"] = 0.5 + (flat["p_yes"] - 0.5) * 0.02  # 0.49-0.51: answers vary, P(Yes) barely
    flat["answer"] = np.where(flat["p_yes"] >= 0.5, "Yes", "No")
    flat["correct"] = (flat["answer"] == "Yes") == flat["falls"]
    wrong = tiny.make_graded_predictions(a, model="wrong", slope=0.8, rng_seed=1)  # confidently backwards
    pred = _csv(pd.concat([flat, wrong]), tmp_path / "p.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = analyze(
            [pred], tmp_path / "o", truth=[a], n_boot=200, progress=False, analyses=["calibration", "difficulty"]
        )
    cal = pd.read_csv(tmp_path / "o" / "calibration.csv").set_index("observer")
    assert bool(cal.loc["flat · zero-shot", "flat"]) and cal.loc["flat · zero-shot", "brier"] < 0.26
    assert bool(cal.loc["wrong · zero-shot", "worse_than_constant"])
    html = report.read_text()
    assert "no observer&#x27;s P(Yes) both varies and beats a constant 0.5" in html
    fits = pd.read_csv(tmp_path / "o" / "difficulty.csv").set_index("observer")
    assert bool(fits.loc["flat · zero-shot", "flat"]) and np.isnan(fits.loc["flat · zero-shot", "slope_p_holm"])
    assert "1 whose P(Yes) barely varies" in html
