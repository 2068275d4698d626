"""Labels that hold under other reasonable physics (issue 10): a few hundred kept items,
re-simulated under every documented perturbation (timestep 1 ms and 4 ms, friction 0.4 and
0.8, the elliptic cone, 1 mm position noise, a 10 s horizon, softer contacts), keep their
label. Generator 1.0.0's standing six- and seven-block towers near the margin fell under
at least one of them in 15 of 30 cases, under softer contacts in 22 of 30.

Physics only (16 px images, the audit re-simulates without rendering). The figures for
the README come from `benchmarks/bench_stimuli.py validity` on larger sets."""

from __future__ import annotations

import pytest

from cubeworld.formats.sets import load_set
from cubeworld.stimuli import generate_set
from cubeworld.stimuli.audit.physics import physics_audit
from cubeworld.stimuli.core.perturbations import audit_perturbations

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "domain, sizes, per_size, allowed",
    [
        ("tower", "5-7", 40, 1),  # 120 towers of the sizes that flipped: at most 1 of 40 per size and change
        ("pyramid", "6,10", 16, 1),  # 32 pyramids
    ],
)
def test_kept_labels_hold_under_every_perturbation(tmp_path, domain, sizes, per_size, allowed):
    out = generate_set(domain, sizes, per_size, 31, tmp_path / domain, resolution=16, workers=2, progress=False)
    audit = physics_audit(out, per_size=per_size, seed=0, workers=2, progress=False)
    assert audit.changes[0] == {} and len(audit.changes) == 1 + len(audit_perturbations())
    for c, change in enumerate(audit.changes):
        for size in audit.sizes:
            agree = audit.agree[(c, size)]
            assert agree >= audit.items[size] - (0 if c == 0 else allowed), (change, size, agree, audit.items[size])
    if domain == "tower":  # 100% agreement with the static balance check
        rows = load_set(out).rows
        assert all((r.extra["margin_mm"] > 0) == (not r.falls) for r in rows)
