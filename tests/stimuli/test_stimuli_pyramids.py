"""Pyramid properties: one red block, never on top, uniform red row, distinct colours,
sizes and offsets sampled per block and row, a stable full pyramid, and labels that
survive the perturbed-physics runs."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from cubeworld.formats.sets import load_set
from cubeworld.stimuli import generate_set
from cubeworld.stimuli.catalog import default_config
from cubeworld.stimuli.engine.palette import PALETTE, RED, is_reddish
from cubeworld.stimuli.families.pyramid.geometry import rests_on
from cubeworld.stimuli.families.pyramid.sampler import sample_pyramid
from cubeworld.stimuli.families.pyramid.settings import TIERS_FOR_SIZE


def test_palette_has_no_red():
    assert is_reddish(RED[1])
    assert not any(is_reddish(rgb) for _, rgb in PALETTE)
    assert len({name for name, _ in PALETTE}) == len(PALETTE) >= 5


@pytest.mark.parametrize("n", [3, 6, 10, 15])
def test_sampled_pyramids(n):
    cfg = default_config("pyramid").family
    rows = TIERS_FOR_SIZE[n]
    red_rows = Counter()
    for k in range(300):
        p = sample_pyramid(np.random.default_rng([n, k]), n, cfg)
        assert len(p.blocks) == n and p.tiers == rows
        assert [b.colour for b in p.blocks].count("red") == 1 and p.blocks[p.red].colour == "red"
        assert p.red_tier < rows - 1  # never the top block
        assert not any(is_reddish(b.rgb) for i, b in enumerate(p.blocks) if i != p.red)
        red_rows[p.red_tier] += 1
        # row neighbours and supporters never share a colour
        start = 0
        layout = []
        for r in range(rows):
            layout.append(list(range(start, start + rows - r)))
            start += rows - r
        for r, idx in enumerate(layout):
            for j, i in enumerate(idx):
                near = ([idx[j - 1]] if j else []) + ([layout[r - 1][j], layout[r - 1][j + 1]] if r else [])
                assert all(p.blocks[i].colour != p.blocks[o].colour for o in near)
        # blocks of a row do not touch, every upper block rests on both its supporters, the top stays central
        for r, idx in enumerate(layout):
            edges = [
                (p.blocks[i].pos[0] - p.blocks[i].size[0] / 2, p.blocks[i].pos[0] + p.blocks[i].size[0] / 2)
                for i in idx
            ]
            assert all(b[0] - a[1] >= cfg.side * cfg.min_neighbour_gap - 1e-9 for a, b in zip(edges, edges[1:]))
            for j, i in enumerate(idx if r else []):
                for below in (layout[r - 1][j], layout[r - 1][j + 1]):
                    assert rests_on(p.blocks[i].to_record(), p.blocks[below].to_record())
        assert abs(p.blocks[-1].pos[0]) <= cfg.max_top_offset * cfg.side + 1e-9
    # red row uniform over the rows below the top: each within 5 sigma of 300 / (rows - 1)
    expected = 300 / (rows - 1)
    sigma = np.sqrt(300 * (1 / (rows - 1)) * (1 - 1 / (rows - 1))) if rows > 2 else 0
    assert set(red_rows) == set(range(rows - 1))
    for count in red_rows.values():
        assert abs(count - expected) <= 5 * sigma + 1e-9


@pytest.mark.parametrize("n", [3, 6, 10, 15])
def test_sizes_and_offsets_vary_within_a_pyramid(n):
    """Generator 1.0.0 drew every pyramid of equal cubes. Now every block has its own width
    and depth and every row its own height (shared by the row, so rows stay flat), within
    the configured ranges; bridging and leaning blocks both occur."""
    cfg = default_config("pyramid").family
    rows = TIERS_FOR_SIZE[n]
    bridges = 0
    for k in range(40):
        p = sample_pyramid(np.random.default_rng([n, k, 7]), n, cfg)
        widths = [b.size[0] for b in p.blocks]
        depths = [b.size[1] for b in p.blocks]
        assert len(set(widths)) == n and len(set(depths)) == n  # no two blocks alike
        for lo, hi, jitter in (
            (min(widths), max(widths), cfg.width_jitter),
            (min(depths), max(depths), cfg.depth_jitter),
        ):
            assert cfg.side * (1 - jitter) - 1e-9 <= lo and hi <= cfg.side * (1 + jitter) + 1e-9
        heights = {}
        for block, r in zip(p.blocks, p.tier_of):
            heights.setdefault(r, set()).add(block.size[2])
        assert all(len(h) == 1 for h in heights.values())  # flat rows
        assert len({h.pop() for h in heights.values()}) == rows  # rows differ
        assert len({b.pos[1] for b in p.blocks}) == n  # depth offsets
        bridges += len(p.bridges)
    assert bridges > 0 if n > 3 else True


def test_generated_pyramid_set(tmp_path):
    out = generate_set("pyramid", "3,6", 4, 11, tmp_path / "p", resolution=32, workers=1, progress=False)
    s = load_set(out)
    cfg = default_config("pyramid").family
    assert Counter((r.n_blocks, r.answer) for r in s.rows) == {(3, "Yes"): 2, (3, "No"): 2, (6, "Yes"): 2, (6, "No"): 2}
    by_row = Counter()
    for r in s.rows:
        o, scene = r.extra["outcome"], r.extra["scene"]
        assert o["full_max_move_mm"] <= cfg.stable_move * 1000
        assert o["perturbation_labels"] == ([r.answer] * len(cfg.perturbations) if r.falls else [])
        assert r.falls or (o["max_move_mm"] <= cfg.no_move * 1000 and o["max_tilt_deg"] <= cfg.no_tilt)
        assert bool(o["fell_blocks"]) == r.falls
        assert scene["red_block"] not in o["fell_blocks"]
        assert r.extra["red_row"] == scene["row_of"][scene["red_block"]] < scene["rows"] - 1
        by_row[(str(r.n_blocks), str(r.extra["red_row"]), r.answer)] += 1
        assert r.stimulus_id.startswith(f"pyramid-s11-n{r.n_blocks}-")
    card_rows = {
        (s_, row, a): c
        for s_, rows in s.card["counts_by_red_row"].items()
        for row, cell in rows.items()
        for a, c in cell.items()
        if c
    }
    assert card_rows == dict(by_row)


def test_pyramid_set_same_bytes_with_two_workers(tmp_path):
    """With red-row quotas and labels judged only as far as they are wanted."""
    a = generate_set("pyramid", "3,10", 6, 21, tmp_path / "a", resolution=32, workers=1, progress=False)
    b = generate_set("pyramid", "3,10", 6, 21, tmp_path / "b", resolution=32, workers=2, progress=False)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
