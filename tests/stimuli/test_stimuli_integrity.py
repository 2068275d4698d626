"""Every stimuli command that reads a set verifies it: a generated set is sealed (SHA256SUMS
and the card's integrity record), an unfinished generation or a truncated PNG is one line
and exit code 2 -- never copied into a subset, never a traceback -- and sets made before
the seal are still read, with `--verify` decoding their images."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cubeworld.cli import app
from cubeworld.formats.sets import MANIFEST_FILE, SetFormatError, load_set
from cubeworld.stimuli import StimuliError, draw_subset, make_sheet

runner = CliRunner()


@pytest.fixture
def towers(reference_sets, tmp_path) -> Path:
    """A private copy of the 12-tower reference set (2 per size, 2-7 blocks, 64 px)."""
    return Path(shutil.copytree(reference_sets["towers-64"], tmp_path / "towers"))


def _one_line_error(res, *needles: str) -> None:
    """Exit code 2 and one `error:` line, the last (a --verify progress bar may precede it)."""
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0] and "Traceback" not in res.output, res.output
    for needle in needles:
        assert needle in errors[0], errors[0]


def test_a_generated_set_is_sealed(towers):
    s = load_set(towers, verify=True)
    card = s.card
    assert s.kind == card["kind"] == "rendered" and card["status"] == "complete" and card["total"] == 12
    integrity = card["integrity"]
    assert integrity["images"]["count"] == 12 and integrity["manifest"] == MANIFEST_FILE
    manifest = (towers / MANIFEST_FILE).read_bytes()
    assert integrity["manifest_sha256"] == hashlib.sha256(manifest).hexdigest()
    names = [line.split("  ", 1)[1] for line in manifest.decode().splitlines()]
    assert sorted(names) == sorted(["metadata.jsonl", *(r.file_name for r in s.rows)])
    if shutil.which("sha256sum"):  # the manifest is coreutils' format: a user can check a set without cubeworld
        res = subprocess.run(["sha256sum", "--check", "--quiet", MANIFEST_FILE], cwd=towers, capture_output=True)
        assert res.returncode == 0, res.stdout + res.stderr


def test_an_unfinished_generation_is_refused_by_every_reader(towers, tmp_path):
    card = json.loads((towers / "dataset.json").read_text())
    (towers / "dataset.json").write_text(json.dumps({**card, "status": "in_progress"}))
    with pytest.raises(SetFormatError, match="an unfinished set"):
        load_set(towers, check_images=False)
    with pytest.raises(StimuliError, match="an unfinished set"):
        draw_subset(towers, tmp_path / "sub", 1, 0)
    _one_line_error(runner.invoke(app, ["audit", str(towers)]), "an unfinished set")
    _one_line_error(runner.invoke(app, ["sheet", str(towers), "--out", str(tmp_path / "s.png")]), "an unfinished set")
    _one_line_error(
        runner.invoke(app, ["generate", "subset", str(towers), "--per-cell", "1", "--out", str(tmp_path / "sub")]),
        "an unfinished set",
    )
    assert not (tmp_path / "sub").exists() and not (tmp_path / "s.png").exists()


def test_a_truncated_png_is_never_copied_or_drawn(towers, tmp_path):
    s = load_set(towers)
    victim = towers / s.rows[3].file_name
    victim.write_bytes(victim.read_bytes()[:100])
    res = runner.invoke(app, ["sheet", str(towers), "--out", str(tmp_path / "s.png")])
    _one_line_error(res, s.rows[3].file_name, "changed since the set was made")
    res = runner.invoke(app, ["generate", "subset", str(towers), "--per-cell", "1", "--out", str(tmp_path / "sub")])
    _one_line_error(res, s.rows[3].file_name)
    assert not (tmp_path / "sub").exists() and not (tmp_path / "s.png").exists()
    # the shortcut audit reads rows only; --verify looks at every image first
    assert runner.invoke(app, ["audit", str(towers)]).exit_code == 0
    _one_line_error(runner.invoke(app, ["audit", str(towers), "--verify", "--quiet"]), s.rows[3].file_name)


def test_same_size_damage_is_caught_by_verify(towers, tmp_path):
    s = load_set(towers)
    victim = towers / s.rows[0].file_name
    data = bytearray(victim.read_bytes())
    data[-30] ^= 0xFF
    victim.write_bytes(bytes(data))
    res = runner.invoke(app, ["sheet", str(towers), "--out", str(tmp_path / "s.png"), "--verify"])
    _one_line_error(res, "its sha256 is not the one SHA256SUMS records")
    assert not (tmp_path / "s.png").exists()


def test_sets_made_before_the_seal_are_read_and_their_images_checked(towers, tmp_path):
    """Cards without an integrity record (sets made before it) pass the fast check; a broken
    image is one line when drawn, and a subset refuses to copy it."""
    card = json.loads((towers / "dataset.json").read_text())
    card.pop("integrity")
    (towers / "dataset.json").write_text(json.dumps(card))
    (towers / MANIFEST_FILE).unlink()
    s = load_set(towers)
    victim = towers / s.rows[5].file_name
    victim.write_bytes(victim.read_bytes()[:100])
    assert len(load_set(towers)) == 12  # no record of its size: the fast check cannot tell
    with pytest.raises(StimuliError, match=r"not a readable image") as e:
        make_sheet(towers, tmp_path / "s.png")
    assert "\n" not in str(e.value) and not (tmp_path / "s.png").exists()
    with pytest.raises(StimuliError, match=rf"{s.rows[5].file_name}: not a readable image"):
        draw_subset(towers, tmp_path / "sub", 1, 0)  # one per size x label: every image is copied
    assert not (tmp_path / "sub").exists()
    _one_line_error(runner.invoke(app, ["audit", str(towers), "--verify", "--quiet"]), "not a readable image")


def test_a_subset_is_sealed_and_says_its_kind(towers, tmp_path):
    sub = load_set(draw_subset(towers, tmp_path / "sub", 1, 0), verify=True)
    assert sub.kind == "rendered" and sub.card["total"] == 12 and "integrity" in sub.card
    assert sub.card["generator"] == "cubeworld.stimuli.subset"  # a card value: unchanged by the module's move


def test_sheet_sizes_are_bounded_before_any_work(towers, tmp_path):
    res = runner.invoke(app, ["sheet", str(towers), "--out", str(tmp_path / "s.png"), "--thumb", "100000"])
    assert res.exit_code == 2 and "--thumb" in res.output and "Traceback" not in res.output
    with pytest.raises(StimuliError, match=r"would hold [\d,]+ pixels, more than 150,000,000"):
        make_sheet(towers, tmp_path / "s.png", thumb=1024, columns=1000)
    with pytest.raises(StimuliError, match="--thumb must be an integer from 16 to 1024, got 100000"):
        make_sheet(towers, tmp_path / "s.png", thumb=100_000)
    assert not (tmp_path / "s.png").exists()
