"""What the observer base class owns: a kind's declarations checked when it is defined, the
table loop (sets grouped into one table, each table finished once, rows kept on resume,
settings compared, skip reasons), and a study's model entry read into typed settings."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest
from observers_helpers import colour_set

from cubeworld.formats.predictions import PredictionsSettingsError
from cubeworld.formats.sets import load_set
from cubeworld.formats.tables import Answer, fill_tables
from cubeworld.observers.base import ObserverKind
from cubeworld.typed import setting

WHO = {"model": "m", "adapter": "", "condition": "c", "seed": None, "epoch": 0}


@dataclass(frozen=True, kw_only=True)
class Knob:
    level: int = setting(1, help="A setting.", minimum=0, maximum=9)


class CountingScorer:
    """Answers P(Yes) = 1 for towers that fall; counts the items it was asked about."""

    def __init__(self, dtype: str = "float32"):
        self.settings = {"dtype": dtype}
        self.columns = {"batch_size": 2}
        self.asked: list[str] = []

    def score(self, items, emit):
        for i in range(0, len(items), 2):
            chunk = items[i : i + 2]
            self.asked += [row.stimulus_id for _, row in chunk]
            emit([(s, row, Answer(float(row.falls), {"p_other": 0.0})) for s, row in chunk])


def test_a_kinds_declarations_are_checked_when_it_is_defined():
    with pytest.raises(TypeError, match="set `name`"):

        class Nameless(ObserverKind):
            scoring_type = Knob

    with pytest.raises(TypeError, match="set `scoring_type`"):

        class Unset(ObserverKind):
            name = "unset"

    @dataclass(frozen=True)
    class Required:
        level: int

    with pytest.raises(TypeError, match=r"every field of Required needs a default: \['level'\]"):

        class NeedsAValue(ObserverKind):
            name = "needs"
            scoring_type = Required

    with pytest.raises(TypeError, match="define open_scorer"):

        class Mute(ObserverKind):
            name = "mute"
            scoring_type = Knob

    with pytest.raises(TypeError, match=r"trains, so define trainer\(job\)"):

        class Learner(ObserverKind):
            name = "learner"
            scoring_type = Knob
            training_type = Knob
            trains = True

            def open_scorer(self, job):
                return CountingScorer()


def test_sets_share_a_table_rows_resume_and_each_table_is_finished_once(tmp_path):
    a = load_set(colour_set(tmp_path, "a", n_per_cell=2, images=False), check_images=False)
    b = load_set(colour_set(tmp_path, "b", n_per_cell=3, images=False), check_images=False)
    table = tmp_path / "both.parquet"
    scorer = CountingScorer()
    assert fill_tables([(a, table), (b, table)], WHO, kind="toy", open_scorer=lambda: scorer, progress=False) == [table]
    df = pd.read_parquet(table)
    assert len(df) == 8 + 12 and set(df["set"]) == {"a", "b"} and set(df["kind"]) == {"toy"}
    assert (df["p_yes"].astype(float) == df["falls"].astype(float)).all() and df["correct"].all()
    assert not (tmp_path / "both.parquet.partial.csv").exists()  # finished: converted once

    csv = tmp_path / "a.csv"
    fill_tables([(a, csv)], WHO, kind="toy", open_scorer=CountingScorer, progress=False)
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join(lines[:4]) + "\n" + lines[4][:9])  # killed: 3 rows and a torn one
    again = CountingScorer()
    fill_tables([(a, csv)], WHO, kind="toy", open_scorer=lambda: again, progress=False)
    assert len(again.asked) == 5 and len(pd.read_csv(csv)) == 8  # only what was missing
    fill_tables([(a, csv)], WHO, kind="toy", open_scorer=lambda: pytest.fail("opened"), progress=False)
    with pytest.raises(PredictionsSettingsError, match="Differing setting\\(s\\): dtype"):
        fill_tables(
            [(a, csv)],
            {**WHO, "condition": "c"},
            kind="toy",
            open_scorer=lambda: pytest.fail("opened"),
            expected_settings=lambda: {"dtype": "bfloat16"},
            progress=False,
        )


def test_a_set_the_observer_cannot_answer_is_skipped_with_one_warning(tmp_path):
    a = load_set(colour_set(tmp_path, "a", images=False), check_images=False)
    b = load_set(colour_set(tmp_path, "b", images=False), check_images=False)
    with pytest.warns(UserWarning, match="b: skipped by the toy observer: no scene"):
        out = fill_tables(
            [(a, tmp_path / "a.csv"), (b, tmp_path / "b.csv")],
            WHO,
            kind="toy",
            open_scorer=CountingScorer,
            skip_reason=lambda s: "no scene" if s.name == "b" else None,
            progress=False,
        )
    assert out == [tmp_path / "a.csv"] and not (tmp_path / "b.csv").exists()
    with pytest.raises(ValueError, match="two sets share the name 'a'"):
        fill_tables([(a, tmp_path / "x.csv"), (a, tmp_path / "x.csv")], WHO, kind="toy", open_scorer=CountingScorer)


def test_a_study_must_name_the_source_of_a_kind_without_a_default(tmp_path):
    import yaml

    from cubeworld.experiments.config import ConfigError, load_config

    study = {
        "name": "s",
        "models": {"hub": {"kind": "vlm", "scoring": {"batch_size": 2}}},
        "sets": {"t": {"domain": "tower", "sizes": [2], "per_size": 2, "seed": 1}},
        "conditions": {"zero-shot": {"zero_shot": True}},
        "evaluation": ["t"],
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    with pytest.raises(ConfigError, match=r"study\.yaml:\d+: models\.hub\.source: missing: a vlm observer has no"):
        load_config(path)
    study["models"] = {"physics": {"kind": "physics"}}  # a kind with a default needs none
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    (model,) = load_config(path).models
    assert model.source == "mujoco" and model.scoring.given == () and model.scoring.values.n_simulations == 20
