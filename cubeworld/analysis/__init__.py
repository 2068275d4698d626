"""Analysis stage: accuracy, error consistency and its significance, graded alignment,
calibration, difficulty curves, figures and report.

`loading` (checked inputs), statistics on arrays (`metrics`: accuracy and kappa;
`significance`: exact p-values; `correlation`: graded alignment and the split-half
ceiling; `calibration`; `psychometric`: logistic fits), `tables` (DataFrames of results),
`plotting` (figures), `report` (the HTML page). Each analysis the report shows is a unit
(`unit.Analysis`) registered in `units.ANALYSES`; `pipeline.analyze` runs them, as
`cubeworld analyze` does. See README.md in this folder.
"""

from cubeworld.lazy import lazy_exports

# Names are loaded on first use (PEP 562), so that `cubeworld --help` and the other
# stages' commands do not pay for matplotlib/seaborn/statsmodels at start-up.
_EXPORTS = {
    "analyze": "cubeworld.analysis.pipeline",
    "ANALYSES": "cubeworld.analysis.units",
    "Analysis": "cubeworld.analysis.unit",
    "AnalysisContext": "cubeworld.analysis.unit",
    "AnalysisOutput": "cubeworld.analysis.unit",
    "FigureOut": "cubeworld.analysis.unit",
    "Finding": "cubeworld.analysis.unit",
    "TableOut": "cubeworld.analysis.unit",
    "Exclusions": "cubeworld.analysis.loading",
    "SetInfo": "cubeworld.analysis.loading",
    "consistency_p_value": "cubeworld.analysis.significance",
    "pooled_consistency_p_value": "cubeworld.analysis.significance",
    "mean_kappa_test": "cubeworld.analysis.significance",
    "ConstantObserverWarning": "cubeworld.analysis.correlation",
    "alignment": "cubeworld.analysis.correlation",
    "split_half_ceiling": "cubeworld.analysis.correlation",
    "spearman_brown": "cubeworld.analysis.correlation",
    "weighted_pearson": "cubeworld.analysis.correlation",
    "weighted_spearman": "cubeworld.analysis.correlation",
    "brier_score": "cubeworld.analysis.calibration",
    "calibration_scores": "cubeworld.analysis.calibration",
    "log_loss": "cubeworld.analysis.calibration",
    "reliability_bins": "cubeworld.analysis.calibration",
    "PsychometricFit": "cubeworld.analysis.psychometric",
    "fit_psychometric": "cubeworld.analysis.psychometric",
    "kappa_results": "cubeworld.analysis.tables",
    "kappa_differences_table": "cubeworld.analysis.tables",
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
    "bootstrap_mean_kappa": "cubeworld.analysis.metrics",
    "item_weights": "cubeworld.analysis.metrics",
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
