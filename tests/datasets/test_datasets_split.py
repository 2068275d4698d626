"""Splits: two disjoint, balanced parts of a set by a seed, with the human table filtered."""

from __future__ import annotations

from collections import Counter

import pytest

from cubeworld.datasets.split import SplitError, split_set
from cubeworld.formats.responses import read_responses
from cubeworld.formats.sets import load_set


@pytest.fixture(scope="module")
def lerer(tmp_path_factory):
    from cubeworld.datasets.catalog import get_dataset

    ds = get_dataset("lerer100")
    return ds.import_set(tmp_path_factory.mktemp("l") / "lerer100", ds.shipped)


def cells(rows):
    return Counter((r.n_blocks, r.falls) for r in rows)


def test_parts_are_disjoint_cover_the_parent_and_keep_its_balance(lerer, tmp_path):
    parent = load_set(lerer)
    train = load_set(split_set(lerer, tmp_path / "a", part="train", fraction=0.5, seed=7), verify=True)
    test = load_set(split_set(lerer, tmp_path / "b", part="test", fraction=0.5, seed=7), verify=True)
    assert train.kind == test.kind == parent.kind == "photo" and train.card["total"] == len(train)
    a, b = set(train.by_id()), set(test.by_id())
    assert not a & b and a | b == set(parent.by_id())
    for cell, n in cells(parent.rows).items():
        assert abs(cells(train.rows)[cell] - n / 2) <= 0.5, cell
    # ids, images and labels are the parent's
    for r in train.rows:
        assert parent.by_id()[r.stimulus_id].falls == r.falls
        assert (train.root / r.file_name).read_bytes() == (parent.root / r.file_name).read_bytes()
    # the human table travels, filtered to each part
    h = read_responses(train.root / "human_responses.csv")
    assert set(h["stimulus_id"]) == a and h["participant"].nunique() == 107
    assert train.card["arguments"] == {"parent": "lerer100", "part": "train", "fraction": 0.5, "seed": 7}


def test_the_same_seed_gives_the_same_parts_and_another_seed_others(lerer, tmp_path):
    one = set(load_set(split_set(lerer, tmp_path / "1", part="train", fraction=0.5, seed=7)).by_id())
    two = set(load_set(split_set(lerer, tmp_path / "2", part="train", fraction=0.5, seed=7)).by_id())
    other = set(load_set(split_set(lerer, tmp_path / "3", part="train", fraction=0.5, seed=8)).by_id())
    assert one == two and one != other


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"part": "validation", "fraction": 0.5}, "part must be one of"),
        ({"part": "train", "fraction": 1.0}, "fraction must be a number between 0 and 1"),
        ({"part": "train", "fraction": 0}, "fraction must be a number between 0 and 1"),
    ],
)
def test_bad_arguments_are_named(lerer, tmp_path, kwargs, message):
    with pytest.raises(SplitError, match=message):
        split_set(lerer, tmp_path / "x", seed=1, **kwargs)
    assert not (tmp_path / "x").exists()
