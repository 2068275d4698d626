"""Towers, pyramids and dominoes are byte for byte what generator 3.2.0 wrote when its reference
fingerprints were taken, and a set of an older generator version is refused, with one
line saying why, wherever it would be reused or continued."""

from __future__ import annotations

import json

import pytest
from make_reference import REFERENCE_DIR, REFERENCE_SETS, fingerprint

from cubeworld.formats.sets import load_set
from cubeworld.stimuli import StimuliError, generate_set, regenerate
from cubeworld.stimuli.pipeline.identity import GENERATOR_VERSION, identity_diff, identity_for

OLD_CARD = REFERENCE_DIR / "card-1.0.0-towers-64.json"


def test_generator_version():
    assert GENERATOR_VERSION == "3.2.0"


@pytest.mark.parametrize("name", list(REFERENCE_SETS))
def test_same_bytes_as_the_reference(reference_sets, reference_hashes, name):
    assert fingerprint(reference_sets[name]) == reference_hashes[name]


def test_an_old_card_cannot_be_rebuilt(tmp_path):
    card = tmp_path / "dataset.json"
    card.write_text(OLD_CARD.read_text())
    with pytest.raises(StimuliError) as e:
        regenerate(card, tmp_path / "again", workers=1, progress=False)
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(
        f"{card}: cannot rebuild this set: it was made by cubeworld.stimuli 1.0.0, "
        "and generator 3.2.0 makes other stimuli from the same arguments (2.0.0: full-horizon robustness runs"
    )
    assert not (tmp_path / "again").exists()


def test_an_old_set_folder_is_not_continued(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "dataset.json").write_text(OLD_CARD.read_text())
    with pytest.raises(
        StimuliError,
        match=r"holds a set this generator cannot continue: it was made by "
        r"cubeworld.stimuli 1.0.0.*choose another --out folder",
    ):
        generate_set("tower", "2-7", 2, 5, folder, resolution=64, workers=1, progress=False)
    assert sorted(p.name for p in folder.iterdir()) == ["dataset.json"]


def test_an_old_card_differs_in_its_version(reference_sets):
    old = json.loads(OLD_CARD.read_text())
    now = identity_for("tower", "2-7", 2, 5, resolution=64)
    assert "generator_version" in identity_diff(old, now)
    assert identity_diff(load_set(reference_sets["towers-64"]).card, now) == []


def test_a_card_of_unknown_settings_is_refused(reference_sets, tmp_path):
    card = json.loads((reference_sets["towers-64"] / "dataset.json").read_text())
    good = json.loads(json.dumps(card["settings"]))
    card["settings"] = {"physics": good["physics"], "gravity": 3}
    path = tmp_path / "dataset.json"
    path.write_text(json.dumps(card))
    with pytest.raises(
        StimuliError,
        match=r"dataset.json: invalid generator settings for the tower family: missing \['render', 'tower'\]",
    ):
        regenerate(path, tmp_path / "o", workers=1, progress=False)
    card["settings"] = good
    card["settings"]["tower"]["tip_margn"] = 0.003
    path.write_text(json.dumps(card))
    with pytest.raises(StimuliError, match=r"settings\.tower\.tip_margn: unknown setting"):
        regenerate(path, tmp_path / "o", workers=1, progress=False)
    assert not (tmp_path / "o").exists()
