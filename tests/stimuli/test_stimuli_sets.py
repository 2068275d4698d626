"""Set generation: exact balance, determinism across worker counts, resume after a kill,
rebuild from the card, subsets, presets."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from cubeworld.formats.sets import load_set
from cubeworld.stimuli import StimuliError, draw_subset, generate_set, list_presets, regenerate
from cubeworld.stimuli.pipeline.progress import LOG_FILE


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A small tower set made with one worker (in-process)."""
    out = tmp_path_factory.mktemp("ref") / "towers"
    return generate_set("tower", "2-4", 6, 5, out, resolution=48, workers=1, progress=False)


def test_exact_balance_and_format(reference):
    s = load_set(reference)
    assert Counter((r.n_blocks, r.falls) for r in s.rows) == {(n, f): 3 for n in (2, 3, 4) for f in (True, False)}
    assert s.card["counts"] == {str(n): {"Yes": 3, "No": 3} for n in (2, 3, 4)}
    assert s.card["status"] == "complete" and s.card["generator"] == "cubeworld.stimuli"
    assert s.card["mujoco_version"] == "4.0.0"
    assert s.card["settings"]["physics"]["solref"] == [0.004, 1.0]
    assert set(s.card["settings"]) == {"physics", "render", "tower"}  # its own family's settings only
    assert s.card["difficulty"]["name"] == "stability margin" and s.card["difficulty"]["unit"] == "mm"
    assert not (reference / LOG_FILE).exists()
    for r in s.rows:
        assert r.stimulus_id.startswith(f"tower-s5-n{r.n_blocks}-")
        assert abs(r.extra["margin_mm"]) >= 3.0
        assert (r.extra["margin_mm"] < 0) == r.falls
        assert len(r.extra["scene"]["blocks"]) == r.n_blocks
    assert sorted(p.name for p in (reference / "images").iterdir()) == sorted(Path(r.file_name).name for r in s.rows)


def test_same_bytes_with_two_workers(reference, tmp_path):
    out = generate_set("tower", "2-4", 6, 5, tmp_path / "w2", resolution=48, workers=2, progress=False)
    assert tree_bytes(out) == tree_bytes(reference)


def test_rerun_on_complete_set_is_a_no_op(reference):
    before = tree_bytes(reference)
    generate_set("tower", "2-4", 6, 5, reference, resolution=48, workers=1, progress=False)
    assert tree_bytes(reference) == before


def test_regenerate_from_card(reference, tmp_path):
    out = regenerate(reference / "dataset.json", tmp_path / "again", workers=1, progress=False)
    assert tree_bytes(out) == tree_bytes(reference)


@pytest.mark.parametrize("workers", [1, 2])
def test_resume_after_kill(reference, tmp_path, workers):
    """Kill a generating process mid-run; the restarted run ends with identical bytes."""
    out = tmp_path / "killed"
    _kill_after(out, 5, workers)
    assert (out / LOG_FILE).exists()
    done = (out / "metadata.jsonl").read_bytes().count(b"\n")
    assert 5 <= done < 18
    generate_set("tower", "2-4", 6, 5, out, resolution=48, workers=workers, progress=False)
    assert tree_bytes(out) == tree_bytes(reference)


def _kill_after(out: Path, lines: int, workers: int = 1) -> None:
    """Run the CLI on `out` in a subprocess and SIGKILL it once `lines` rows are written."""
    cmd = [
        sys.executable,
        "-m",
        "cubeworld.cli",
        "generate",
        "towers",
        "--sizes",
        "2-4",
        "--per-size",
        "6",
        "--seed",
        "5",
        "--resolution",
        "48",
        "--workers",
        str(workers),
        "--out",
        str(out),
        "--quiet",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    meta = out / "metadata.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if meta.exists() and meta.read_bytes().count(b"\n") >= lines:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_resume_repairs_torn_state(reference, tmp_path):
    """A kill between writing a row and logging it, a torn row, a stray image and a
    temporary file: the resumed run repairs them all and ends with identical bytes."""
    out = tmp_path / "torn"
    _kill_after(out, 3)
    ref_lines = (reference / "metadata.jsonl").read_text().splitlines(keepends=True)
    meta = out / "metadata.jsonl"
    lines = meta.read_text().splitlines(keepends=True)
    assert lines == ref_lines[: len(lines)]
    with open(meta, "a") as f:  # a row whose log line never came, then a torn row
        f.write(ref_lines[len(lines)])
        f.write(ref_lines[len(lines) + 1][:40])
    (out / "images" / "stray.png").write_bytes(b"not a png")
    (out / "images" / ".x.png.123.tmp").write_bytes(b"partial")
    generate_set("tower", "2-4", 6, 5, out, resolution=48, workers=1, progress=False)
    assert tree_bytes(out) == tree_bytes(reference)


def test_different_set_in_folder_is_refused(reference):
    before = tree_bytes(reference)
    with pytest.raises(StimuliError, match="different set"):
        generate_set("tower", "2-4", 6, 6, reference, resolution=48, workers=1, progress=False)
    assert tree_bytes(reference) == before


def test_bad_arguments(tmp_path):
    cases = [
        (("tower", "2-8", 4, 0), "outside the tower domain"),
        (("pyramid", "3,5", 4, 0), "outside the pyramid domain"),
        (("tower", "2-3", 0, 0), "must be positive"),
        (("tower", "2-3", -2, 0), "must be positive"),
        (("tower", "2-3", 3, 0), "must be even"),
        (("tower", "x", 4, 0), "cannot read sizes"),
        (("cube", "2", 4, 0), "unknown domain"),
        (("tower", "2", 4, -1), "seed"),
    ]
    for (domain, sizes, n, seed), message in cases:
        with pytest.raises(StimuliError, match=message):
            generate_set(domain, sizes, n, seed, tmp_path / "x", progress=False)
    assert not (tmp_path / "x").exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StimuliError, match="cannot write"):
        generate_set("tower", "2", 2, 0, blocker / "sub", progress=False)
    with pytest.raises(StimuliError, match="not a folder"):
        generate_set("tower", "2", 2, 0, blocker, progress=False)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(StimuliError, match="not empty"):
        generate_set("tower", "2", 2, 0, tmp_path / "busy", progress=False)


def test_regenerate_rejects_bad_cards(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(StimuliError, match="cannot parse"):
        regenerate(bad, tmp_path / "o", progress=False)
    with pytest.raises(StimuliError, match="no such card"):
        regenerate(tmp_path / "missing.json", tmp_path / "o", progress=False)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"generator": "someone-else"}))
    with pytest.raises(StimuliError, match="not a card written by"):
        regenerate(other, tmp_path / "o", progress=False)
    assert not (tmp_path / "o").exists()


def test_draw_subset(reference, tmp_path):
    out = draw_subset(reference, tmp_path / "sub", 2, seed=3)
    parent, sub = load_set(reference), load_set(out)
    assert Counter((r.n_blocks, r.falls) for r in sub.rows) == {(n, f): 2 for n in (2, 3, 4) for f in (True, False)}
    parent_lines = set((reference / "metadata.jsonl").read_text().splitlines())
    assert set((out / "metadata.jsonl").read_text().splitlines()) <= parent_lines  # rows and ids kept
    for r in sub.rows:
        assert (out / r.file_name).read_bytes() == (reference / r.file_name).read_bytes()
    assert sub.card["arguments"] == {"parent": parent.name, "per_cell": 2, "seed": 3}
    again = draw_subset(reference, tmp_path / "sub2", 2, seed=3)
    assert tree_bytes(again) == tree_bytes(out)
    with pytest.raises(StimuliError, match="fewer than"):
        draw_subset(reference, tmp_path / "sub3", 4, seed=3)
    with pytest.raises(StimuliError, match="different set"):
        draw_subset(reference, out, 1, seed=3)


def test_presets_are_the_study_sets():
    presets = list_presets()
    assert {
        "towers-2-4",
        "towers-5-7",
        "pyramids-3-6",
        "pyramids-10-15",
        "towers-eval",
        "pyramids-eval",
        "towers-human",
        "pyramids-human",
    } <= set(presets)
    for name in ("towers-2-4", "towers-5-7", "pyramids-3-6", "pyramids-10-15"):
        assert presets[name]["total"] == 10_000
    assert presets["towers-eval"]["sizes"] == [2, 3, 4, 5, 6, 7]
    assert presets["pyramids-eval"]["sizes"] == [3, 6, 10, 15]
    assert presets["towers-human"]["total"] == 120 and presets["pyramids-human"]["total"] == 80
    generated = [p for p in presets.values() if "subset_of" not in p]
    seeds = [p["seed"] for p in generated]
    assert len(set(seeds)) == len(seeds)  # no two generated sets share a seed, so no scene


def test_loads_as_hugging_face_imagefolder(reference, tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    ds = datasets.load_dataset("imagefolder", data_dir=str(reference), split="train", cache_dir=str(tmp_path / "cache"))
    rows = load_set(reference).rows
    assert ds.num_rows == len(rows)
    assert sorted(ds["stimulus_id"]) == sorted(r.stimulus_id for r in rows)
    first = ds[0]
    assert first["image"].size == (48, 48)
    assert first["prompt"].startswith("You are now viewing a tower of blocks.")
    assert len(first["scene"]["blocks"]) == first["n_blocks"]


def test_human_preset_is_drawn_from_its_parent(tmp_path):
    from cubeworld.stimuli import generate_preset

    parent = generate_set(
        "pyramid", "3", 20, 2002, tmp_path / "eval", resolution=24, workers=1, progress=False, name="pyramids-eval"
    )
    with pytest.raises(StimuliError, match="not a complete 'towers-eval' set"):
        generate_preset("towers-human", tmp_path / "h", parent=parent)
    out = generate_preset("pyramids-human", tmp_path / "human", parent=parent)
    s = load_set(out)
    assert s.name == "pyramids-human" and s.card["arguments"]["parent"] == "pyramids-eval"
    assert Counter(r.answer for r in s.rows) == {"Yes": 10, "No": 10}


def test_folder_left_by_a_kill_before_the_first_card_is_reused(reference, tmp_path):
    out = tmp_path / "early"
    (out / "images").mkdir(parents=True)
    (out / ".dataset.json.abc.tmp").write_text("{")
    generate_set("tower", "2-4", 6, 5, out, resolution=48, workers=1, progress=False)
    assert tree_bytes(out) == tree_bytes(reference)
