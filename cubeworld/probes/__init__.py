"""The probes stage: is a quantity decodable from a model's internals, and does it use it?

Public API (see docs/CONTRACTS.md):

- `fit_probes(activations, sets, config=None, *, predictions=None, work=None, progress=True)
  -> ProbeResults`: cross-validated probes (grouped by stimulus id) of every point and pool
  of an activations cache, with intervals over items, a shuffled-value chance level, Holm-
  corrected one-sided tests, and the observer's accuracy and kappa on the same items.
- `probe_model(model, sets, out, config=None, *, adapter=None, ...)`: extraction (cached),
  the model's answers and `fit_probes`, written to `out` (what `cubeworld probe` runs).
- `ProbeConfig`: the settings; `ProbeResults` / `ProbeRow`: what was found;
  `PROBE_TARGETS`: what a probe can predict (falls, margin); `select_observer`: one
  observer's rows of a prediction table for the probed items.

Names are imported lazily so that `cubeworld --help` does not import scikit-learn.
"""

from __future__ import annotations

from cubeworld.lazy import lazy_exports

_EXPORTS = {
    "fit_probes": "cubeworld.probes.fit",
    "probe_model": "cubeworld.probes.command",
    "ProbeConfig": "cubeworld.probes.config",
    "ProbeResults": "cubeworld.probes.results",
    "ProbeRow": "cubeworld.probes.results",
    "read_results_rows": "cubeworld.probes.results",
    "ProbeTarget": "cubeworld.probes.targets",
    "PROBE_TARGETS": "cubeworld.probes.targets",
    "ProbeError": "cubeworld.probes.errors",
    "select_observer": "cubeworld.probes.behaviour",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
