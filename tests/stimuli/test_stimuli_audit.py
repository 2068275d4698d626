"""The shortcut audit (issue 10): one-cue rules fitted and cross-validated with Wilson
intervals, on every card and from `cubeworld audit SET`; `--physics` re-simulates a sample
under the documented perturbations; bad inputs are one line and exit code 2."""

from __future__ import annotations

import json
import math
import re
import shutil

import pytest
from typer.testing import CliRunner

from cubeworld.cli import app
from cubeworld.formats.sets import load_set
from cubeworld.stimuli.audit.shortcut import SHORTCUT_WARNING, fit_rule, score_cue, shortcut_audit, wilson
from cubeworld.stimuli.core.perturbations import audit_perturbations, describe
from cubeworld.stimuli.families import FAMILIES, TOWER, get_family
from cubeworld.stimuli.family import ShortcutCue

runner = CliRunner()


def test_threshold_and_category_rules():
    values = [1.0, 2.0, 3.0, 10.0, 11.0, 12.0]
    labels = [False, False, False, True, True, True]
    rule = fit_rule("threshold", values, labels)
    assert rule.threshold == 6.5 and rule.above and rule.describe("x") == "Yes if x > 6.5"
    flipped = fit_rule("threshold", values, [not y for y in labels])
    assert not flipped.above and flipped.predict(1.0) and not flipped.predict(12.0)
    cat = fit_rule("category", [0, 0, 1, 1, 2, 2], [True, True, False, False, True, False])
    assert cat.predict(0) and not cat.predict(1) and cat.predict(7) == cat.default
    constant = fit_rule("threshold", [5.0] * 4, [True, True, True, False])
    assert constant.describe("n") == "always Yes"


def test_cross_validation_is_honest():
    cue = ShortcutCue("x", "", lambda r: 0.0)
    ids = [f"item-{i}" for i in range(200)]
    separable = score_cue(cue, ids, [float(i) for i in range(200)], [i >= 100 for i in range(200)])
    assert separable.fit_correct == 200 and separable.cv_correct >= 198  # a held-out item may sit at the boundary
    import numpy as np

    rng = np.random.default_rng(0)
    noise = [float(v) for v in rng.normal(size=200)]
    labels = [bool(b) for b in rng.integers(0, 2, 200)]
    random = score_cue(cue, ids, noise, labels)
    assert random.fit > random.cv  # fitting on the items themselves flatters a useless cue
    assert 0.35 < random.cv < 0.65
    lo, hi = wilson(random.cv_correct, 200)
    assert lo < random.cv < hi
    assert wilson(200, 200)[1] == 1.0
    from statsmodels.stats.proportion import proportion_confint

    for k, n in ((0, 5), (3, 7), (130, 160), (600, 600), (1, 2)):
        assert wilson(k, n) == pytest.approx(proportion_confint(k, n, alpha=0.05, method="wilson"), abs=1e-4)


@pytest.mark.parametrize("name", ["towers-64", "pyramids-64"])
def test_every_card_holds_the_audit(reference_sets, name):
    s = load_set(reference_sets[name])
    family = get_family(s.rows[0].domain)
    card = s.card["shortcut_audit"]
    assert set(card["cues"]) == {c.name for c in family.shortcut_cues()}
    assert "cross-validated" in card["method"] and card["n"] == len(s)
    for cue in card["cues"].values():
        overall = cue["all"]
        assert overall["n"] == len(s) and 0 <= overall["cv_accuracy"] <= 1
        assert overall["cv_interval"][0] <= overall["cv_accuracy"] <= overall["cv_interval"][1]
        assert overall["fit_correct"] >= 0 and set(cue["by_size"]) == {
            str(n) for n in sorted({r.n_blocks for r in s.rows})
        }
    again = shortcut_audit(family, [r.to_record() for r in s.rows]).to_card()
    assert json.loads(json.dumps(again)) == card  # deterministic
    assert isinstance(s.card["shortcut_warnings"], list)
    if family.domain == TOWER:  # the static balance check agrees with every tower's label
        assert card["difficulty_sign_agrees"] == {"measure": "stability margin", "agree": len(s), "n": len(s)}


def test_a_deciding_cue_is_named(reference_sets):
    rows = [r.to_record() for r in load_set(reference_sets["towers-64"]).rows]

    class Oracle(type(get_family(TOWER))):
        def shortcut_cues(self):
            return (ShortcutCue("oracle", "the label itself", lambda r: float(r["falls"])),)

    audit = shortcut_audit(Oracle(), rows)
    assert audit.cues[0].overall.cv_correct == len(rows)
    assert audit.warnings[:3] == [
        f"the cue oracle alone decides {len(rows)} of {len(rows)} items (100.0%, cross-validated; Yes if oracle > 0.5)",
        f"the logistic regression on every cue decides {len(rows)} of {len(rows)} items (100.0%, cross-validated; "
        "standardised features, L2 penalty, C=1; 1 feature)",
        f"the decision tree of depth 2 on every cue decides {len(rows)} of {len(rows)} items (100.0%, "
        "cross-validated; at most three questions; 1 feature)",
    ]
    assert SHORTCUT_WARNING == 0.9


def test_cues_a_set_cannot_give_are_reported_unavailable(reference_sets):
    rows = [r.to_record() for r in load_set(reference_sets["towers-64"]).rows]
    for r in rows:
        del r["scene"]
    audit = shortcut_audit(get_family(TOWER), rows)
    by_name = {c.name: c for c in audit.cues}
    assert by_name["n_blocks"].overall is not None
    assert by_name["top_offset_mm"].overall is None and "lack" in by_name["top_offset_mm"].unavailable


def test_audit_command(reference_sets):
    res = runner.invoke(app, ["audit", str(reference_sets["pyramids-64"])])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "pyramid items (rendered), sizes 3,6,10,15, generator cubeworld.stimuli 3.2.0" in out
    for cue in ("red_row", "red_position", "red_interior", "centre_over_red", "resting_on_red", "one_step"):
        assert f"  {cue} " in out
    assert "5-fold cross-validated" in out and "sign of the difficulty (support margin)" in out


def test_audit_physics_command(reference_sets):
    res = runner.invoke(
        app, ["audit", str(reference_sets["towers-64"]), "--physics", "--per-size", "2", "--workers", "1", "--quiet"]
    )
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("physics audit: 12 items"))
    table = lines[start + 3 :]
    names = ["as made"] + [describe(c) for c in get_family(TOWER).audit_perturbations()]
    assert [line.split("  ")[1].strip() for line in table] == names
    assert all("12/12" in line for line in table[:1])  # as made: every label reproduced
    assert len(audit_perturbations()) == 9


def test_audit_bad_inputs(tmp_path, reference_sets):
    not_a_set = tmp_path / "folder"
    not_a_set.mkdir()
    (not_a_set / "notes.txt").write_text("hello")
    for args, message in [
        ([str(not_a_set)], f"error: {not_a_set}: not a stimulus set (metadata.jsonl is missing)"),
        ([str(tmp_path / "missing")], f"error: {tmp_path / 'missing'}: no such set folder"),
    ]:
        res = runner.invoke(app, ["audit", *args])
        assert res.exit_code == 2, res.output
        assert res.output.strip().splitlines() == [message]
    res = runner.invoke(app, ["audit", str(reference_sets["towers-64"]), "--physics", "--per-size", "0"])
    assert res.exit_code == 2 and "--per-size" in res.output and "Traceback" not in res.output
    photos = tmp_path / "photos"
    shutil.copytree(reference_sets["towers-64"], photos)
    rows = [json.loads(line) for line in (photos / "metadata.jsonl").read_text().splitlines()]
    (photos / "metadata.jsonl").write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k != "scene"}) + "\n" for r in rows)
    )
    res = runner.invoke(app, ["audit", str(photos)])  # the card still says rendered, with the old metadata's hash
    assert res.exit_code == 2 and "metadata.jsonl: changed since the set was made" in res.output
    card = json.loads((photos / "dataset.json").read_text())
    card.pop("integrity")
    (photos / "dataset.json").write_text(json.dumps({**card, "kind": "photo"}))
    res = runner.invoke(app, ["audit", str(photos), "--physics", "--per-size", "1"])
    assert res.exit_code == 2 and res.output.strip().splitlines() == [
        f"error: {photos}: a photo set records no scenes, so there is nothing to re-simulate"
    ]
    res = runner.invoke(app, ["audit", str(photos)])  # without --physics: the cues it can read
    assert res.exit_code == 0 and re.search(r"top_offset_mm +unavailable", res.output) and "  n_blocks " in res.output


def test_every_family_audits_the_documented_list():
    for _, family in FAMILIES.items():
        changes = family.audit_perturbations()
        assert changes and all(isinstance(c, dict) for c in changes)
    assert {"solref": [0.02, 1.0]} in audit_perturbations() and {"duration": 10.0} in audit_perturbations()
    assert not math.isnan(wilson(1, 2)[0])


def test_audit_physics_resumes_from_its_log(reference_sets, tmp_path):
    """Each item's answers are appended to the audit's log as they arrive; a second start
    reads them back and simulates only the rest (here an item whose logged answer was
    flipped keeps it: it is not simulated again), and a log of another audit is refused."""
    from cubeworld.stimuli import StimuliError
    from cubeworld.stimuli.audit.physics import default_log_dir, physics_audit

    towers, log = reference_sets["towers-64"], tmp_path / "audit.jsonl"
    first = physics_audit(towers, per_size=2, changes=({},), workers=1, progress=False, log=log)
    assert first.agreement(0) == (12, 12)
    header, *entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert header["set"] == first.set_name and len(entries) == 12
    kept = {**entries[0], "answers": [not a for a in entries[0]["answers"]]}  # a marker, not physics
    log.write_text(json.dumps(header) + "\n" + json.dumps(kept) + "\n" + '{"id": "torn')  # killed mid-line
    again = physics_audit(towers, per_size=2, changes=({},), workers=1, progress=False, log=log)
    assert again.agreement(0) == (11, 12)  # the logged item was read back, the 11 others simulated
    assert len(log.read_text().splitlines()) == 1 + 12
    with pytest.raises(StimuliError, match=r"audit\.jsonl: the log of another audit"):
        physics_audit(towers, per_size=2, seed=1, changes=({},), workers=1, progress=False, log=log)
    # without --log the log lives in the user's cache (here the test's), keyed by the audit
    physics_audit(towers, per_size=1, changes=({},), workers=1, progress=False)
    assert len(list(default_log_dir().glob("*.jsonl"))) == 1 and str(default_log_dir()).startswith(str(tmp_path))
