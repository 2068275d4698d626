"""Analysis stage: accuracy with Wilson intervals, error consistency, figures and report.

Structured after bethgelab/model-vs-human: `loading` (checked inputs), `metrics` (the
statistics on arrays), `tables` (DataFrames of results), `plotting` (figures), `report`
(the HTML page), `pipeline` (all of it: `analyze`, as `cubeworld analyze` runs it).
"""

import importlib

# Names are loaded on first use (PEP 562), so that `cubeworld --help` and the other
# stages' commands do not pay for matplotlib/seaborn/statsmodels at start-up.
_EXPORTS = {
    "analyze": "pipeline",
    "AnalysisData": "loading",
    "AnalysisInputError": "loading",
    "load_inputs": "loading",
    "Consistency": "metrics",
    "DegenerateKappaWarning": "metrics",
    "KappaDifference": "metrics",
    "KappaEstimate": "metrics",
    "answer_kappa": "metrics",
    "cohen_kappa": "metrics",
    "error_consistency": "metrics",
    "expected_consistency": "metrics",
    "human_human_kappa": "metrics",
    "item_bootstrap_mean_kappa": "metrics",
    "kappa_bounds": "metrics",
    "kappa_to_humans": "metrics",
    "kappa_to_truth": "metrics",
    "paired_kappa_difference": "metrics",
    "pairwise_human_kappas": "metrics",
    "wilson_interval": "metrics",
    "accuracy_table": "tables",
    "epoch_table": "tables",
    "human_accuracy_table": "tables",
    "kappa_table": "tables",
    "select_epoch": "tables",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        module = importlib.import_module(f"cubeworld.analysis.{_EXPORTS[name]}")
        value = getattr(module, name)
        globals()[name] = value  # cache: later look-ups skip this function
        return value
    raise AttributeError(f"module 'cubeworld.analysis' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
