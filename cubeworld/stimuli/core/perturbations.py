"""The documented list of perturbed physics settings (`perturbations.yaml`), read once.

Kept apart from the shared settings (`defaults.yaml`): this list decides no byte of any
set -- it says under which reasonable alternative physics a set's labels are audited
(`cubeworld audit SET --physics`, `benchmarks/bench_stimuli.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

PERTURBATIONS_FILE = Path(__file__).with_name("perturbations.yaml")


@lru_cache(maxsize=1)
def audit_perturbations() -> tuple[Mapping[str, Any], ...]:
    """Each entry: {physics setting: value}; the names are checked against the settings."""
    from cubeworld.formats.yamlfile import read_yaml
    from cubeworld.stimuli.core.settings import check_perturbations
    from cubeworld.stimuli.errors import StimuliError

    data = read_yaml(PERTURBATIONS_FILE, StimuliError)
    entries = data.get("perturbations") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise StimuliError(f"{PERTURBATIONS_FILE}: expected a non-empty list 'perturbations'")
    check_perturbations(entries, f"{PERTURBATIONS_FILE.name}: perturbations")
    return tuple(dict(change) for change in entries)


def describe(change: Mapping[str, Any]) -> str:
    """'timestep=0.001', 'solref=0.02 1' -- one perturbation in a table's header."""

    def fmt(v: Any) -> str:
        return (
            " ".join(f"{x:g}" for x in v)
            if isinstance(v, (list, tuple))
            else (f"{v:g}" if isinstance(v, float) else str(v))
        )

    return ", ".join(f"{k}={fmt(v)}" for k, v in change.items())
