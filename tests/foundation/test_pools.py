"""Worker pools never hang on a dead worker (issue 13, item 13): the lost calls are run once
more, and a second death is a clear error naming what is left. Real processes, real
SIGKILLs."""

from __future__ import annotations

import pytest
from pool_helpers import square_or_die

from cubeworld.pools import WorkerDied, run_calls


@pytest.mark.timeout(120)
def test_a_killed_worker_is_survived_with_the_same_results(tmp_path):
    marker = tmp_path / "died"
    seen = []
    out = run_calls(
        square_or_die, [(x, 5, str(marker)) for x in range(12)], workers=2, on_result=lambda i, r: seen.append(i)
    )
    assert marker.exists()  # a worker really died
    assert out == [x * x for x in range(12)]
    assert sorted(seen) == list(range(12))


@pytest.mark.timeout(120)
def test_a_second_death_is_an_error_naming_the_items():
    with pytest.raises(WorkerDied, match=r"physics: a worker process died twice; .*item-5"):
        run_calls(
            square_or_die, [(x, 5, "") for x in range(8)], workers=2, name_of=lambda i: f"item-{i}", what="physics"
        )


def test_one_worker_runs_in_this_process():
    assert run_calls(pow, [(2, 3), (3, 2)], workers=1) == [8, 9]
