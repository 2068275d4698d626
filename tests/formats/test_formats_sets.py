"""The stimulus-set folder: loading, and one error per kind of damage naming file and line."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cubeworld.formats.answers import answer_for
from cubeworld.formats.sets import (
    MANIFEST_FILE,
    PHOTO,
    RENDERED,
    REQUIRED_COLUMNS,
    SET_KINDS,
    SetFormatError,
    StimulusRow,
    is_set_folder,
    load_set,
    read_card,
    seal_set,
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
        ("domain-not-a-name", r"metadata\.jsonl:1: domain 'two words' is not a name"),
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
    elif case == "domain-not-a-name":
        _set(root, [_row(0, domain="two words")])
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


# -- the format knows no stimulus family; a set says its kind -----------------------------


def test_the_format_knows_no_stimulus_family(tmp_path):
    """A row's domain is a name the format checks, not a registry lookup: a question no
    family asks loads, and reading sets imports no stage."""
    root = _set(tmp_path / "s", [_row(0, domain="marble-run"), _row(1, domain="marble-run")])
    assert {r.domain for r in load_set(root).rows} == {"marble-run"}
    code = (
        "import sys\n"
        "from cubeworld.formats.sets import load_set\n"
        f"load_set({str(root)!r})\n"
        "print(sorted(m for m in sys.modules if m.startswith('cubeworld.') and m.split('.')[1] in "
        "('stimuli', 'datasets', 'models', 'experiments', 'analysis', 'human')))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def test_a_set_says_its_kind(tmp_path):
    rendered = load_set(_set(tmp_path / "r", [_row(0)], card={"kind": "rendered"}))
    photo_rows = [{k: v for k, v in _row(i).items() if k != "scene"} for i in range(2)]
    photo = load_set(_set(tmp_path / "p", photo_rows, card={"kind": "photo"}))
    assert (rendered.kind, photo.kind) == (RENDERED, PHOTO) and SET_KINDS == (RENDERED, PHOTO)
    # sets made before cards said their kind: rendered when every row records a scene
    assert load_set(_set(tmp_path / "old-r", [_row(0)])).kind == RENDERED
    assert load_set(_set(tmp_path / "old-p", photo_rows)).kind == PHOTO
    with pytest.raises(SetFormatError, match=r"dataset\.json: kind 'video' is not a kind of set"):
        load_set(_set(tmp_path / "v", [_row(0)], card={"kind": "video"}))
    with pytest.raises(SetFormatError, match=r"metadata\.jsonl:1: the card says the set is rendered, but the row"):
        load_set(_set(tmp_path / "lie", photo_rows, card={"kind": "rendered"}))


# -- what a card claims is checked against the folder ------------------------------------


def test_an_unfinished_set_is_refused(tmp_path):
    root = _set(tmp_path / "s", [_row(0)], card={"name": "half", "status": "in_progress"})
    for kwargs in ({}, {"check_images": False}):
        with pytest.raises(
            SetFormatError,
            match=r"the set is not complete: an unfinished set whose making was interrupted \(the card's status is 'in_progress'",
        ) as e:
            load_set(root, **kwargs)
        assert "\n" not in str(e.value)


def test_rows_must_hold_what_the_card_counts(tmp_path):
    rows = [_row(0), _row(1)]
    counts = {"3": {"Yes": 1, "No": 1}}
    assert len(load_set(_set(tmp_path / "ok", rows, card={"total": 2, "counts": counts}))) == 2
    with pytest.raises(SetFormatError, match=r"the card says 4 stimuli, metadata\.jsonl holds 2"):
        load_set(_set(tmp_path / "total", rows, card={"total": 4}))
    with pytest.raises(SetFormatError, match=r"the card counts 2 Yes stimuli of size 3, metadata\.jsonl holds 1"):
        load_set(_set(tmp_path / "cells", rows, card={"counts": {"3": {"Yes": 2, "No": 1}}}))
    # counts in another shape claim nothing (hand-made cards)
    assert len(load_set(_set(tmp_path / "flat", rows, card={"counts": {"Yes": 9}}))) == 2


# -- sealed sets: sizes (fast) and hashes (verify) ------------------------------------------


def _png_set(root: Path, n: int = 4, card: dict | None = None) -> Path:
    from PIL import Image

    rows = [_row(i) for i in range(n)]
    _set(root, rows, card=card, images=False)
    for i, r in enumerate(rows):
        Image.new("RGB", (24, 24), (40 * i, 90, 200)).save(root / r["file_name"])
    return root


def test_a_sealed_set_catches_a_truncated_or_altered_file(tmp_path):
    root = _png_set(tmp_path / "s")
    card = seal_set(root, {"name": "sealed", "total": 4, "status": "complete"})
    assert json.loads((root / "dataset.json").read_text()) == card
    integrity = card["integrity"]
    assert integrity["images"]["count"] == 4 and integrity["manifest"] == MANIFEST_FILE
    # SHA256SUMS is in `sha256sum -c` form: "<hex>  <path>", metadata and every image
    lines = (root / MANIFEST_FILE).read_text().splitlines()
    assert sorted(line.split("  ")[1] for line in lines) == sorted(
        ["metadata.jsonl"] + [f"images/t-{i}.png" for i in range(4)]
    )
    for line in lines:
        digest, name = line.split("  ")
        assert digest == hashlib.sha256((root / name).read_bytes()).hexdigest()
    assert len(load_set(root, verify=True)) == 4

    image = root / "images/t-2.png"
    whole = image.read_bytes()
    image.write_bytes(whole[: len(whole) // 2])  # a truncated PNG: the fast check sees the size
    with pytest.raises(SetFormatError, match=r"images/t-2\.png changed since the set was made") as e:
        load_set(root)
    assert "\n" not in str(e.value)
    assert len(load_set(root, check_images=False)) == 4  # rows only: images not looked at

    altered = bytearray(whole)
    altered[-20] ^= 0xFF  # same size, other bytes: only the full check sees it
    image.write_bytes(bytes(altered))
    assert len(load_set(root)) == 4
    with pytest.raises(SetFormatError, match=r"t-2\.png: its sha256 is not the one SHA256SUMS records"):
        load_set(root, verify=True)
    image.write_bytes(whole)

    meta = root / "metadata.jsonl"
    meta.write_text(meta.read_text().replace('"n_blocks": 3', '"n_blocks": 4', 1))
    with pytest.raises(SetFormatError, match=r"metadata\.jsonl: changed since the set was made"):
        load_set(root, check_images=False)


def test_sets_made_before_the_seal_pass_the_fast_check_and_verify_decodes(tmp_path):
    root = _png_set(tmp_path / "old", card={"name": "old"})
    image = root / "images/t-1.png"
    image.write_bytes(image.read_bytes()[:40])  # no record of its size: the fast check cannot tell
    assert len(load_set(root)) == 4
    with pytest.raises(SetFormatError, match=r"images/t-1\.png: not a readable image") as e:
        load_set(root, verify=True)
    assert "\n" not in str(e.value)
