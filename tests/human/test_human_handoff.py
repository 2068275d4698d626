"""Responses exported from a study plug into the next stages with no glue."""

from __future__ import annotations

import pytest
from human_helpers import make_set

from cubeworld.formats.sets import load_set
from cubeworld.human.export import export_study
from cubeworld.human.store import Store
from cubeworld.human.study import create_human_study, load_human_study


def test_spread_export_is_fine_tuning_labels(tmp_path):
    data = pytest.importorskip("cubeworld.trainer.data")
    set_dir = make_set(tmp_path / "set", 9)
    study = load_human_study(create_human_study(set_dir, tmp_path / "st", "spread", items=4, seed=2))
    store = Store(study)
    given = {}
    for pid in ("p1", "p2", "p3"):
        s = store.start_session(pid, session_id=pid)
        store.consent(s.token, True)
        for t in s.remaining:
            response = 1 if len(given) % 3 else 0
            store.record(s.token, f"req-{pid}-{t.trial_index:03d}", t.stimulus_id, t.trial_index, response)
            given[t.stimulus_id] = response == 1
        store.complete(s.token)
    out = export_study(study.root, tmp_path / "responses.csv")["responses"]
    labels = data.human_labels(out, load_set(set_dir), "majority", 0)
    assert labels == {sid: [v] for sid, v in given.items()}
    assert len(labels) == 9
