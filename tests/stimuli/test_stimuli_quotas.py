"""Exact quotas (issue 10): half Yes and half No per size, and for a family with a quota
stratum (pyramids: the red block's row) exactly equal counts per value, labels balanced
per value as far as physics allows -- the same bytes for any number of workers."""

from __future__ import annotations

from collections import Counter

import pytest

from cubeworld.formats.sets import load_set
from cubeworld.stimuli import generate_set
from cubeworld.stimuli.families import FAMILIES
from cubeworld.stimuli.families.tower import TowerFamily
from cubeworld.stimuli.pipeline.quotas import CANDIDATE_LIMIT, size_quotas


def tree_bytes(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_quotas_split_as_equally_as_integers_allow():
    q = size_quotas(200, (0, 1, 2))
    assert q.value_total == {0: 67, 1: 67, 2: 66}
    assert (
        sum(q.cell_target[(v, (), True)] for v in q.values)
        == 100
        == sum(q.cell_target[(v, (), False)] for v in q.values)
    )
    assert all(abs(q.cell_target[(v, (), True)] - q.cell_target[(v, (), False)]) <= 1 for v in q.values)
    assert [q.value_of(k) for k in range(5)] == [0, 1, 2, 0, 1]
    assert q.limit == CANDIDATE_LIMIT * 200 + 100
    one = size_quotas(6, ())
    assert one.values == (None,) and one.cell_target == {(None, (), True): 3, (None, (), False): 3}
    tiny = size_quotas(2, (0, 1, 2, 3))
    assert tiny.value_total == {0: 1, 1: 1, 2: 0, 3: 0}
    assert sum(tiny.cell_target[(v, (), True)] for v in tiny.values) == 1


def test_red_rows_are_exactly_uniform(tmp_path):
    """Generator 1.0.0 drew the red row at random: at 15 blocks the bottom row held 11 of
    100 red blocks. Now each size's rows get equal quotas, exactly."""
    out = generate_set("pyramid", "6,10", 6, 4, tmp_path / "p", resolution=24, workers=1, progress=False)
    s = load_set(out)
    rows = Counter((r.n_blocks, r.extra["red_row"]) for r in s.rows)
    assert rows == {(6, 0): 3, (6, 1): 3, (10, 0): 2, (10, 1): 2, (10, 2): 2}
    assert Counter((r.n_blocks, r.answer) for r in s.rows) == {(n, a): 3 for n in (6, 10) for a in ("Yes", "No")}
    card = s.card
    assert card["stratum_quotas"]["10"] == {
        "0": {"Yes": 1, "No": 1},
        "1": {"Yes": 1, "No": 1},
        "2": {"Yes": 1, "No": 1},
    }
    table = {
        (size, row, a): c
        for size, rs in card["counts_by_red_row"].items()
        for row, cell in rs.items()
        for a, c in cell.items()
    }
    assert table == Counter((str(r.n_blocks), str(r.extra["red_row"]), r.answer) for r in s.rows)
    for r in s.rows:  # the red block sits in the recorded row
        assert r.extra["scene"]["row_of"][r.extra["scene"]["red_block"]] == r.extra["red_row"]
    # a subset (the human study's) keeps the rows as even as integers allow
    from cubeworld.stimuli import draw_subset

    sub = load_set(draw_subset(out, tmp_path / "sub", 1, seed=2))
    assert Counter(r.n_blocks for r in sub.rows) == {6: 2, 10: 2}
    assert Counter(r.extra["red_row"] for r in sub.rows if r.n_blocks == 6) == {0: 1, 1: 1}
    assert len({r.extra["red_row"] for r in sub.rows if r.n_blocks == 10}) == 2


def test_the_card_lists_every_red_row_even_an_empty_one(tmp_path):
    out = generate_set("pyramid", "10", 2, 4, tmp_path / "p", resolution=16, workers=1, progress=False)
    card = load_set(out).card
    assert card["stratum_quotas"] == {
        "10": {"0": {"Yes": 1, "No": 0}, "1": {"Yes": 0, "No": 1}, "2": {"Yes": 0, "No": 0}}
    }
    assert card["counts_by_red_row"] == {
        "10": {"0": {"Yes": 1, "No": 0}, "1": {"Yes": 0, "No": 1}, "2": {"Yes": 0, "No": 0}}
    }


# -- a family whose one stratum value rarely (or never) answers No ------------------------
class HalfFamily(TowerFamily):
    """Towers in two halves of a quota stratum; half 1 takes standing towers only when they
    stand far from tipping (as some red rows of big pyramids rarely give one answer)."""

    domain = "half"
    command = "halves"
    description = "Towers in two halves"
    sizes = (2,)
    stream_code = 98
    strata = ("half",)
    quota_stratum = "half"
    least_margin_mm = 30.0  # half 1 keeps standing towers with at least this margin

    def stratum_values(self, size, settings):
        return (0, 1)

    def sample_in_stratum(self, rng, size, settings, value):
        from cubeworld.stimuli.core.scene import Scene

        scene = self.sample(rng, size, settings)
        return Scene(scene.blocks, {**scene.keys, "half": value})

    def row_columns(self, scene, outcome):
        return {**super().row_columns(scene, outcome), "half": scene["half"]}

    def judge_wanted(self, world, scene, physics, settings, wanted):
        verdict = super().judge_wanted(world, scene, physics, settings, wanted)
        if (
            scene.keys["half"] == 1
            and verdict.accepted
            and verdict.falls is False
            and verdict.outcome["analytic_margin_mm"] < self.least_margin_mm
        ):
            verdict.accepted, verdict.reason = False, "too_close_for_this_half"
        return verdict


@pytest.fixture
def half_family(monkeypatch):
    family = HalfFamily()
    family.settings_file = FAMILIES.get("tower").settings_file
    monkeypatch.setattr(FAMILIES, "_entries", dict(FAMILIES._entries))
    FAMILIES.register("half", family)
    return family


def test_rare_cells_are_filled_exactly_and_the_same_for_any_workers(half_family, tmp_path):
    a = generate_set("half", "2", 8, 3, tmp_path / "a", resolution=16, workers=1, progress=False)
    s = load_set(a)
    assert Counter((r.extra["half"], r.answer) for r in s.rows) == {(h, a_): 2 for h in (0, 1) for a_ in ("Yes", "No")}
    assert all(r.extra["margin_mm"] >= 30.0 for r in s.rows if r.extra["half"] == 1 and not r.falls)
    assert s.card["rejections"]["2"]["too_close_for_this_half"] >= 1
    b = generate_set("half", "2", 8, 3, tmp_path / "b", resolution=16, workers=2, progress=False)
    assert tree_bytes(a) == tree_bytes(b)


def test_a_cell_physics_never_fills_is_a_clear_error(half_family, tmp_path, monkeypatch):
    import cubeworld.stimuli.pipeline.quotas as quotas
    from cubeworld.stimuli import StimuliError

    monkeypatch.setattr(half_family, "least_margin_mm", 1e9)  # half 1 never keeps a standing tower
    monkeypatch.setattr(quotas, "CANDIDATE_LIMIT", 2)
    with pytest.raises(StimuliError) as e:
        generate_set("half", "2", 4, 3, tmp_path / "c", resolution=16, workers=1, progress=False)
    assert str(e.value).startswith(
        "size 2: 108 candidates evaluated and still no stimulus for half 1 No: the half "
        "family's physics (almost) never gives it"
    )
    assert "\n" not in str(e.value)
