"""The registered analyses: one module each, one entry each in `ANALYSES`.

`analyze()` runs every entry (or those named with `--analysis`), and the report shows
their tables, figures, findings and methods in this order. Entries are loaded on first
use, so listing the names imports nothing heavy. To add an analysis, write a module that
defines `ANALYSIS = Analysis(...)` (see `cubeworld.analysis.unit` and the README) and add
one line here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cubeworld.registry import Registry

if TYPE_CHECKING:
    from cubeworld.analysis.unit import Analysis

ANALYSES: Registry[Analysis] = Registry(
    "analysis",
    {
        "accuracy": "cubeworld.analysis.units.accuracy:ANALYSIS",
        "generalisation": "cubeworld.analysis.units.generalisation:ANALYSIS",
        "human_accuracy": "cubeworld.analysis.units.human_accuracy:ANALYSIS",
        "kappa": "cubeworld.analysis.units.kappa:ANALYSIS",
        "kappa_differences": "cubeworld.analysis.units.kappa_differences:ANALYSIS",
        "alignment": "cubeworld.analysis.units.alignment:ANALYSIS",
        "calibration": "cubeworld.analysis.units.calibration:ANALYSIS",
        "difficulty": "cubeworld.analysis.units.difficulty:ANALYSIS",
        "learning_curves": "cubeworld.analysis.units.learning_curves:ANALYSIS",
        "exclusions": "cubeworld.analysis.units.exclusions:ANALYSIS",
        "answer_mass": "cubeworld.analysis.units.answer_mass:ANALYSIS",
        "degenerate": "cubeworld.analysis.units.degenerate:ANALYSIS",
        "human_labels": "cubeworld.analysis.units.human_labels:ANALYSIS",
        "modes": "cubeworld.analysis.units.modes:ANALYSIS",
        "fit_curve": "cubeworld.analysis.units.fit_curve:ANALYSIS",
        "fit_heldout": "cubeworld.analysis.units.fit_heldout:ANALYSIS",
    },
)
