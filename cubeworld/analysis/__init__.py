"""Analysis stage: accuracy with Wilson intervals, error consistency, figures and report.

Structured after bethgelab/model-vs-human: `loading` (checked inputs), `metrics` (the
statistics on arrays), `tables` (DataFrames of results), `plotting` (figures), `report`
(the HTML page), `analyze` (all of it, as `cubeworld analyze` runs it).
"""

from cubeworld.analysis.analyze import analyze
from cubeworld.analysis.loading import AnalysisData, AnalysisInputError, load_inputs
from cubeworld.analysis.metrics import (
    Consistency,
    DegenerateKappaWarning,
    KappaDifference,
    KappaEstimate,
    answer_kappa,
    cohen_kappa,
    error_consistency,
    expected_consistency,
    human_human_kappa,
    item_bootstrap_mean_kappa,
    kappa_bounds,
    kappa_to_humans,
    kappa_to_truth,
    paired_kappa_difference,
    pairwise_human_kappas,
    wilson_interval,
)
from cubeworld.analysis.tables import (
    accuracy_table,
    epoch_table,
    human_accuracy_table,
    kappa_table,
    select_epoch,
)

__all__ = [
    "AnalysisData",
    "AnalysisInputError",
    "Consistency",
    "DegenerateKappaWarning",
    "KappaDifference",
    "KappaEstimate",
    "accuracy_table",
    "analyze",
    "answer_kappa",
    "cohen_kappa",
    "epoch_table",
    "error_consistency",
    "expected_consistency",
    "human_accuracy_table",
    "human_human_kappa",
    "item_bootstrap_mean_kappa",
    "kappa_bounds",
    "kappa_table",
    "kappa_to_humans",
    "kappa_to_truth",
    "load_inputs",
    "paired_kappa_difference",
    "pairwise_human_kappas",
    "select_epoch",
    "wilson_interval",
]
