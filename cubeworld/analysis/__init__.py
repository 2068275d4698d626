"""Analysis stage: accuracy with Wilson intervals, error consistency, figures and report.

Structured after bethgelab/model-vs-human: `loading` (checked inputs), `metrics` (the
statistics on arrays), `tables` (DataFrames of results), `plotting` (figures), `report`
(the HTML page), `pipeline` (all of it: `analyze`, as `cubeworld analyze` runs it).
"""

from cubeworld.lazy import lazy_exports

# Names are loaded on first use (PEP 562), so that `cubeworld --help` and the other
# stages' commands do not pay for matplotlib/seaborn/statsmodels at start-up.
_EXPORTS = {
    "analyze": "cubeworld.analysis.pipeline",
    "AnalysisData": "cubeworld.analysis.loading",
    "AnalysisInputError": "cubeworld.analysis.loading",
    "load_inputs": "cubeworld.analysis.loading",
    "Consistency": "cubeworld.analysis.metrics",
    "DegenerateKappaWarning": "cubeworld.analysis.metrics",
    "KappaDifference": "cubeworld.analysis.metrics",
    "KappaEstimate": "cubeworld.analysis.metrics",
    "answer_kappa": "cubeworld.analysis.metrics",
    "cohen_kappa": "cubeworld.analysis.metrics",
    "error_consistency": "cubeworld.analysis.metrics",
    "expected_consistency": "cubeworld.analysis.metrics",
    "human_human_kappa": "cubeworld.analysis.metrics",
    "item_bootstrap_mean_kappa": "cubeworld.analysis.metrics",
    "kappa_bounds": "cubeworld.analysis.metrics",
    "kappa_to_humans": "cubeworld.analysis.metrics",
    "kappa_to_truth": "cubeworld.analysis.metrics",
    "paired_kappa_difference": "cubeworld.analysis.metrics",
    "pairwise_human_kappas": "cubeworld.analysis.metrics",
    "wilson_interval": "cubeworld.analysis.metrics",
    "accuracy_table": "cubeworld.analysis.tables",
    "epoch_table": "cubeworld.analysis.tables",
    "human_accuracy_table": "cubeworld.analysis.tables",
    "kappa_table": "cubeworld.analysis.tables",
    "select_epoch": "cubeworld.analysis.tables",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
