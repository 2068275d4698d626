"""Pyramid properties: one red block, never on top, uniform red row, distinct colours,
a stable full pyramid, and labels that survive the perturbed-physics runs."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from cubeworld.formats.sets import load_set
from cubeworld.stimuli import generate_set
from cubeworld.stimuli.config import default_config
from cubeworld.stimuli.palette import PALETTE, RED, is_reddish
from cubeworld.stimuli.pyramids import ROWS_FOR_SIZE, sample_pyramid


def test_palette_has_no_red():
    assert is_reddish(RED[1])
    assert not any(is_reddish(rgb) for _, rgb in PALETTE)
    assert len({name for name, _ in PALETTE}) == len(PALETTE) >= 5


@pytest.mark.parametrize("n", [3, 6, 10, 15])
def test_sampled_pyramids(n):
    cfg = default_config("pyramid").family
    rows = ROWS_FOR_SIZE[n]
    red_rows = Counter()
    for k in range(300):
        p = sample_pyramid(np.random.default_rng([n, k]), n, cfg)
        assert len(p.blocks) == n and p.rows == rows
        assert [b.colour for b in p.blocks].count("red") == 1 and p.blocks[p.red].colour == "red"
        assert p.red_row < rows - 1  # never the top block
        assert not any(is_reddish(b.rgb) for i, b in enumerate(p.blocks) if i != p.red)
        red_rows[p.red_row] += 1
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
        # cubes of a row do not overlap and the top stays near the centre
        for idx in layout:
            xs = [p.blocks[i].pos[0] for i in idx]
            assert all(b - a > cfg.side * (1 + cfg.min_neighbour_gap) - 1e-9 for a, b in zip(xs, xs[1:]))
        assert abs(p.blocks[-1].pos[0]) <= cfg.max_top_offset * cfg.side + 1e-9
    # red row uniform over the rows below the top: each within 5 sigma of 300 / (rows - 1)
    expected = 300 / (rows - 1)
    sigma = np.sqrt(300 * (1 / (rows - 1)) * (1 - 1 / (rows - 1))) if rows > 2 else 0
    assert set(red_rows) == set(range(rows - 1))
    for count in red_rows.values():
        assert abs(count - expected) <= 5 * sigma + 1e-9


def test_generated_pyramid_set(tmp_path):
    out = generate_set("pyramid", "3,6", 4, 11, tmp_path / "p", resolution=32, workers=1, progress=False)
    s = load_set(out)
    cfg = default_config("pyramid").family
    assert Counter((r.n_blocks, r.answer) for r in s.rows) == {(3, "Yes"): 2, (3, "No"): 2, (6, "Yes"): 2, (6, "No"): 2}
    by_row = Counter()
    for r in s.rows:
        o, scene = r.extra["outcome"], r.extra["scene"]
        assert o["full_max_move_mm"] <= cfg.stable_move * 1000
        assert o["perturbation_labels"] == [r.answer] * len(cfg.perturbations)
        assert bool(o["fell_blocks"]) == r.falls
        assert scene["red_block"] not in o["fell_blocks"]
        assert r.extra["red_row"] == scene["row_of"][scene["red_block"]] < scene["rows"] - 1
        by_row[(str(r.n_blocks), str(r.extra["red_row"]), r.answer)] += 1
        assert r.stimulus_id.startswith(f"pyramid-s11-n{r.n_blocks}-")
    card_rows = {(s_, row, a): c for s_, rows in s.card["counts_by_red_row"].items() for row, cell in rows.items() for a, c in cell.items() if c}
    assert card_rows == dict(by_row)


def test_pyramid_set_same_bytes_with_two_workers(tmp_path):
    a = generate_set("pyramid", "3", 4, 21, tmp_path / "a", resolution=32, workers=1, progress=False)
    b = generate_set("pyramid", "3", 4, 21, tmp_path / "b", resolution=32, workers=2, progress=False)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
