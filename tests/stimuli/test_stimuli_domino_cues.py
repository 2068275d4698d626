"""Cue-controlled domino sets (`--control-cues`): every cause's critical value is drawn in its
window around the flip, the causes get their weighted quotas exactly, half Yes and half No
each, and every label is still the physics' label. A default set is untouched (its bytes:
test_stimuli_reference.py)."""

from __future__ import annotations

import pytest

from cubeworld.formats.sets import load_set
from cubeworld.stimuli import StimuliError, generate_set, get_family
from cubeworld.stimuli.families.domino.geometry import critical_value
from cubeworld.stimuli.pipeline.quotas import split

DOMINO = "domino"


def test_a_cue_controlled_domino_set_fills_its_weighted_cause_quotas_with_physics_labels(tmp_path):
    family = get_family(DOMINO)
    settings = family.default_settings()
    out = generate_set(
        DOMINO, "3", 10, 31, tmp_path / "cc", resolution=16, workers=1, progress=False, control_cues=True
    )
    s = load_set(out)
    card = s.card
    assert card["arguments"]["control_cues"] is True and card["name"].endswith("-cc")
    assert card["settings"][DOMINO]["control_windows"]["spacing"] == {"low": 0.92, "high": 1.1, "share": 1.0}
    # exact quotas: the causes split 10 by their shares, each cause half Yes / half No (odd ones alternate)
    shares = tuple(settings.control_windows[c].share for c in settings.causes)
    totals = dict(zip(settings.causes, split(10, shares)))
    quotas = card["stratum_quotas"]["3"]
    assert {c: q["Yes"] + q["No"] for c, q in quotas.items()} == totals
    assert all(abs(q["Yes"] - q["No"]) <= 1 for q in quotas.values())
    assert card["counts_by_cause"]["3"] == quotas  # filled exactly
    assert card["counts"]["3"] == {"Yes": 5, "No": 5}
    for row in s.rows:  # every critical value inside its cause's window (the default ranges are much wider)
        scene = row.extra["scene"]
        window = settings.control_windows[scene["cause"]]
        value = critical_value(scene["blocks"], scene["cause"], int(scene["critical"]))
        assert window.low - 1e-3 <= value <= window.high + 1e-3, (scene["cause"], value)
    answers = [family.answer_by_simulation(r.extra["scene"]) for r in s.rows]  # every label physics-true
    assert answers == [r.falls for r in s.rows]
    assert set(card["control_cues"]["targets"]["by_size"]) == {"3"}


def test_a_control_window_must_straddle_its_flip():
    family = get_family(DOMINO)
    data = dict(family._defaults_file["settings"])
    data["control_windows"] = {**data["control_windows"], "size": {"low": 1.6, "high": 1.9, "share": 1.0}}
    with pytest.raises(StimuliError, match=r"control_windows\.size: the window must straddle the flip 1\.55"):
        family.settings_from_dict(data, "defaults.yaml")
    data["control_windows"] = {"spacing": data["control_windows"]["spacing"]}
    with pytest.raises(StimuliError, match="one window per cause"):
        family.settings_from_dict(data, "defaults.yaml")
