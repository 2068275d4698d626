"""What a probe predicts from activations: one registry entry per quantity.

Why a registry: "is X decodable from the model's internals?" is asked of more than the
label. A target says how to read its value from a set's row, whether it is a class or a
number (which decides the probe: logistic or ridge regression, and its score: accuracy or
R^2), and whether its values compare across domains. A new quantity (the red block's row,
the number of blocks) is one `ProbeTarget` plus one entry in `PROBE_TARGETS`.

This module is light (no numpy, no scikit-learn): configs check target names against it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from cubeworld.registry import Registry

Kind = Literal["classification", "regression"]
ALL_DOMAINS = "all"


@dataclass(frozen=True)
class ProbeTarget:
    """One quantity a probe predicts.

    kind: "classification" (a 0/1 value: logistic regression, scored by accuracy) or
        "regression" (a number: ridge regression, scored by out-of-fold R^2).
    per_domain: fit one probe per domain (the value's measure differs between stimulus
        families, e.g. towers' stability margin vs pyramids' support margin) rather than
        one over every item of the sets.
    value: the target's value for a set's row (`StimulusRow`), or None where the row has
        none (a photo has no margin); such rows are left out of this target's probes.
    """

    name: str
    kind: Kind
    per_domain: bool
    description: str
    value: Callable[[Any], float | None]

    @property
    def metric(self) -> str:
        return "accuracy" if self.kind == "classification" else "r2"


def _falls(row: Any) -> float:
    return 1.0 if row.falls else 0.0


def _margin(row: Any) -> float | None:
    value = row.difficulty
    return None if value is None else float(value)


FALLS = ProbeTarget(
    "falls",
    "classification",
    per_domain=False,
    description="the ground-truth label (True: the answer is Yes), over every item of the sets",
    value=_falls,
)
MARGIN = ProbeTarget(
    "margin",
    "regression",
    per_domain=True,
    description=(
        "the family's signed stability measure, the rows' `difficulty` (towers: the analytic "
        "stability margin, `margin_mm`; pyramids: the support margin; dominoes: the reach margin; "
        "mm, larger = more clearly No), one probe per domain; rows without one are left out"
    ),
    value=_margin,
)

PROBE_TARGETS: Registry[ProbeTarget] = Registry("probe target", {"falls": FALLS, "margin": MARGIN})
