"""Towers and pyramids are byte for byte what generator 1.0.0 wrote before stimulus
families became plug-ins, and that generator's cards are still recognised."""

from __future__ import annotations

import json

import pytest

from make_reference import REFERENCE_DIR, REFERENCE_SETS, fingerprint
from cubeworld.formats.sets import load_set
from cubeworld.stimuli import StimuliError, identity_diff, identity_for, regenerate
from cubeworld.stimuli.identity import GENERATOR_VERSION, card_settings


def test_generator_version_is_unchanged():
    assert GENERATOR_VERSION == "1.0.0"


@pytest.mark.parametrize("name", list(REFERENCE_SETS))
def test_same_bytes_as_before_families(reference_sets, reference_hashes, name):
    assert fingerprint(reference_sets[name]) == reference_hashes[name]


@pytest.mark.parametrize("name", ["towers-64", "pyramids-64"])
def test_old_cards_have_the_same_identity(reference_sets, name):
    """A card of the all-domains shape is the same set as today's card of the same arguments."""
    old = json.loads((REFERENCE_DIR / f"card-1.0.0-{name}.json").read_text())
    assert "cameras" in old["settings"] and {"tower", "pyramid"} <= set(old["settings"])
    domain, sizes, per_size, seed, resolution = REFERENCE_SETS[name]
    now = identity_for(domain, sizes, per_size, seed, resolution=resolution)
    assert identity_diff(old, now) == []
    assert card_settings(old) == now["settings"] == load_set(reference_sets[name]).card["settings"]
    # and a real difference is still seen through the old shape
    changed = json.loads(json.dumps(old))
    changed["settings"][domain]["yes_move" if domain == "pyramid" else "tip_margin"] = 0.5
    assert identity_diff(changed, now) == ["settings"]
    # another family's settings in an old card never mattered to this set
    other = "tower" if domain == "pyramid" else "pyramid"
    changed = json.loads(json.dumps(old))
    changed["settings"][other]["camera_is_irrelevant"] = 1
    changed["settings"]["cameras"][other]["azimuth"] = 10.0
    assert identity_diff(changed, now) == []


def test_rebuild_from_an_old_card(reference_hashes, tmp_path):
    old_card = tmp_path / "dataset.json"
    old_card.write_text((REFERENCE_DIR / "card-1.0.0-towers-64.json").read_text())
    out = regenerate(old_card, tmp_path / "again", workers=1, progress=False)
    assert fingerprint(out) == reference_hashes["towers-64"]


def test_a_card_of_unknown_settings_is_refused(tmp_path):
    card = json.loads((REFERENCE_DIR / "card-1.0.0-towers-64.json").read_text())
    card["settings"] = {"physics": card["settings"]["physics"], "gravity": 3}
    path = tmp_path / "dataset.json"
    path.write_text(json.dumps(card))
    with pytest.raises(StimuliError, match=r"dataset.json: invalid generator settings for the tower family: missing \['render', 'tower'\]"):
        regenerate(path, tmp_path / "o", workers=1, progress=False)
    card["settings"] = card_settings(json.loads((REFERENCE_DIR / "card-1.0.0-towers-64.json").read_text()))
    card["settings"]["tower"]["tip_margn"] = 0.003
    path.write_text(json.dumps(card))
    with pytest.raises(StimuliError, match=r"settings\.tower: unknown setting\(s\) \['tip_margn'\]"):
        regenerate(path, tmp_path / "o", workers=1, progress=False)
    assert not (tmp_path / "o").exists()
