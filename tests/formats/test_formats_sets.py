"""The stimulus-set folder: loading, and one error per kind of damage naming file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cubeworld.formats.answers import answer_for
from cubeworld.formats.sets import (
    REQUIRED_COLUMNS,
    SetFormatError,
    StimulusRow,
    is_set_folder,
    load_set,
    read_card,
)

PROMPT = "Will the tower fall?"


def _row(i: int, **over) -> dict:
    falls = i % 2 == 0
    rec = {
        "file_name": f"images/t-{i}.png",
        "stimulus_id": f"t-{i}",
        "domain": "tower",
        "n_blocks": 3,
        "falls": falls,
        "answer": answer_for(falls),
        "prompt": PROMPT,
        "scene": {"blocks": [{"size": [1, 1, 1], "pos": [0, 0, 0.5]}]},
    }
    rec.update(over)
    return rec


def _set(root: Path, rows: list[dict], card: dict | None = None, images: bool = True) -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if card is not None:
        (root / "dataset.json").write_text(json.dumps(card))
    if images:
        for r in rows:
            (root / r["file_name"]).write_bytes(b"png")
    return root


def test_a_set_loads_with_rows_card_and_extras(tmp_path):
    root = _set(tmp_path / "towers", [_row(0), _row(1)], card={"name": "towers-a", "seed": 3})
    s = load_set(root)
    assert is_set_folder(root) and not is_set_folder(tmp_path)
    assert s.name == "towers-a" and len(s) == 2 and s.card["seed"] == 3
    first = s.rows[0]
    assert (first.stimulus_id, first.falls, first.answer) == ("t-0", True, "Yes")
    assert first.extra["scene"]["blocks"][0]["pos"] == [0, 0, 0.5]
    assert s.image_path(first) == root / "images/t-0.png"
    assert set(s.by_id()) == {"t-0", "t-1"}
    assert StimulusRow.from_record(first.to_record()) == first
    assert list(first.to_record())[: len(REQUIRED_COLUMNS)] == list(REQUIRED_COLUMNS)
    no_card = load_set(_set(tmp_path / "bare", [_row(0)]))
    assert no_card.name == "bare" and no_card.card == {}


@pytest.mark.parametrize(
    "case, expected",
    [
        ("no-folder", "no such set folder"),
        ("no-metadata", "metadata.jsonl is missing"),
        ("bad-json", r"metadata\.jsonl:2: not valid JSON"),
        ("missing-column", r"metadata\.jsonl:1: missing column\(s\) \['prompt'\]"),
        ("unknown-domain", r"metadata\.jsonl:1: unknown domain 'jenga'"),
        ("falls-not-bool", r"metadata\.jsonl:1: 'falls' must be true or false"),
        ("contradiction", r"metadata\.jsonl:1: answer 'No' contradicts falls=True"),
        ("duplicate", r"metadata\.jsonl:2: duplicate stimulus_id 't-0'"),
        ("no-image", r"metadata\.jsonl:1: image 'images/t-0\.png' does not exist"),
        ("empty", "the set has no stimuli"),
        ("bad-card", r"dataset\.json: not valid JSON"),
        ("card-not-object", r"dataset\.json: expected a JSON object"),
    ],
)
def test_damaged_sets_are_one_clear_error(case, expected, tmp_path):
    root = tmp_path / "s"
    rows = [_row(0), _row(1)]
    if case == "no-folder":
        pass
    elif case == "no-metadata":
        root.mkdir()
    elif case == "bad-json":
        _set(root, rows)
        (root / "metadata.jsonl").write_text(json.dumps(rows[0]) + "\n{not json\n")
    elif case == "missing-column":
        r = _row(0)
        del r["prompt"]
        _set(root, [r])
    elif case == "unknown-domain":
        _set(root, [_row(0, domain="jenga")])
    elif case == "falls-not-bool":
        _set(root, [_row(0, falls="yes")])
    elif case == "contradiction":
        _set(root, [_row(0, answer="No")])
    elif case == "duplicate":
        _set(root, [_row(0), _row(0)])
    elif case == "no-image":
        _set(root, rows, images=False)
    elif case == "empty":
        _set(root, [])
    elif case == "bad-card":
        _set(root, rows)
        (root / "dataset.json").write_text("{")
    elif case == "card-not-object":
        _set(root, rows, card=[1, 2])
    with pytest.raises(SetFormatError, match=expected) as e:
        load_set(root)
    assert "\n" not in str(e.value)


def test_images_need_not_exist_when_not_checked(tmp_path):
    root = _set(tmp_path / "s", [_row(0)], images=False)
    assert len(load_set(root, check_images=False)) == 1
    assert read_card(tmp_path / "nowhere") == {}
