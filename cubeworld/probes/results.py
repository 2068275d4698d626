"""What probes found: one row per target x domain x point x pool, and how to write it.

The table (`probes.csv`, one row per probe; `probes.json`, the same rows with the settings,
the cache's provenance, the observer and the skipped tasks) is what a report reads; the
per-layer figure (`probes.png`) is drawn from it. Columns, in order, are `ProbeRow`'s
fields. Every score has its interval over items (a bootstrap of the stimuli); every probe
is tested one-sidedly against its chance level, Holm-corrected over the probes of a target.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cubeworld.formats.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from cubeworld.probes.config import ProbeConfig
from cubeworld.typed import to_plain

TABLE_FILE = "probes.csv"
JSON_FILE = "probes.json"
FIGURE_FILE = "probes.png"
PREDICTIONS_FILE = "probe_predictions.csv"


@dataclass(frozen=True)
class ProbeRow:
    """One probe: a target on one point's pooled activations, next to the observer's use.

    score: accuracy (falls) or out-of-fold R^2 (margin), [score_low, score_high] its
        bootstrap interval. reference: the chance level tested against (`reference_kind`:
        "shuffled", the mean score of the shuffled-value refits, whose range is
        [shuffled_min, shuffled_max]; or, with no shuffles, "majority" (the larger class's
        share) / "zero" (R^2 = 0)). gain = score - reference, with its interval (each
        resample's score minus the same resample's chance level, so the chance level's own
        variation is in it); p_value: one-sided bootstrap test of gain > 0; p_holm:
        Holm-adjusted over the target's probes; decodable: p_holm < level and the probe is
        not degenerate.
    regularisation: the C (falls) or alpha (margin) each outer fold used.
    probe_degenerate: the probe predicted one class for every item (never "decodable").
    behaviour_*: the observer's accuracy on the same items and its Cohen's kappa with the
        ground truth (NaN without predictions); behaviour_degenerate: it gave one answer to
        every item. gap = probe accuracy - behaviour accuracy, paired over the same
        resamples ("decodable but unused" when its interval is above 0; falls only).
    """

    target: str
    domain: str
    point: str
    stage: str
    pool: str
    metric: str
    items: int
    stimuli: int
    score: float
    score_low: float
    score_high: float
    reference: float
    reference_kind: str
    shuffled_min: float
    shuffled_max: float
    gain: float
    gain_low: float
    gain_high: float
    p_value: float
    p_holm: float
    decodable: bool
    regularisation: str
    not_converged: int
    probe_degenerate: bool
    behaviour_accuracy: float
    behaviour_low: float
    behaviour_high: float
    behaviour_kappa: float
    kappa_low: float
    kappa_high: float
    behaviour_degenerate: bool
    gap: float
    gap_low: float
    gap_high: float


COLUMNS = tuple(f.name for f in dataclasses.fields(ProbeRow))


@dataclass
class ProbeResults:
    """Every probe of one activations cache, with what made them.

    rows: the table. tasks: each task's rows, values, groups and folds (`ProbeTask`), so the
    out-of-fold `predictions[task key][POINT@POOL]` can be checked or reused. skipped: why a
    task was not fitted. cache: the cache's model, adapter, sets and settings. observer: the
    predictions' observer (empty without).
    """

    rows: list[ProbeRow]
    config: ProbeConfig
    cache: dict[str, Any]
    tasks: list[Any] = field(default_factory=list)
    predictions: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    observer: dict[str, str] = field(default_factory=dict)
    items: list[tuple[str, str]] = field(default_factory=list)

    def table(self) -> Any:
        """The rows as a pandas DataFrame (columns in `COLUMNS` order)."""
        import pandas as pd

        return pd.DataFrame([dataclasses.asdict(r) for r in self.rows], columns=list(COLUMNS))

    def row(self, target: str, point: str, pool: str, domain: str | None = None) -> ProbeRow:
        found = [
            r
            for r in self.rows
            if r.target == target and r.point == point and r.pool == pool and (domain is None or r.domain == domain)
        ]
        if len(found) != 1:
            raise KeyError(f"{len(found)} probe rows for {target} {domain or ''} {point}@{pool}")
        return found[0]

    def best(self, target: str, domain: str | None = None) -> ProbeRow | None:
        """The target's best-scoring probe among the decodable, non-degenerate ones (None if none)."""
        candidates = [
            r for r in self.rows if r.target == target and (domain is None or r.domain == domain) and r.decodable
        ]
        return max(candidates, key=lambda r: r.score) if candidates else None

    def summary(self) -> dict[str, Any]:
        """JSON-ready: settings, provenance, observer, skipped tasks and every row."""
        return {
            "format": "cubeworld-probes",
            "version": 1,
            "config": to_plain(self.config),
            "cache": self.cache,
            "observer": self.observer,
            "skipped": list(self.skipped),
            "rows": [{k: _json_number(v) for k, v in dataclasses.asdict(r).items()} for r in self.rows],
        }

    def write(self, out: str | Path, *, figure: bool = True) -> dict[str, Path]:
        """Write the table, the JSON, the out-of-fold predictions and the figure into `out`
        (each atomically); returns their paths."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"table": out / TABLE_FILE, "json": out / JSON_FILE, "predictions": out / PREDICTIONS_FILE}
        atomic_write_text(paths["table"], self.table().to_csv(index=False))
        atomic_write_json(paths["json"], self.summary())
        atomic_write_text(paths["predictions"], self.predictions_table().to_csv(index=False))
        if figure:
            from cubeworld.probes.figure import plot_probes

            paths["figure"] = out / FIGURE_FILE
            atomic_write_bytes(paths["figure"], plot_probes(self))
        return paths

    def predictions_table(self) -> Any:
        """Out-of-fold predictions, long: set, stimulus_id, target, domain, fold, value, then
        one column per POINT@POOL."""
        import pandas as pd

        frames = []
        for task in self.tasks:
            fits = self.predictions.get(task.key, {})
            frame = pd.DataFrame(
                {
                    "set": [self.items[i][0] for i in task.rows],
                    "stimulus_id": [self.items[i][1] for i in task.rows],
                    "target": task.target,
                    "domain": task.domain,
                    "fold": task.folds,
                    "value": task.y,
                }
            )
            for key, values in fits.items():
                frame[key] = values
            frames.append(frame)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _json_number(value: Any) -> Any:
    """NaN as null (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_results_rows(path: str | Path) -> list[ProbeRow]:
    """The rows of a `probes.json` (for a report that reads a finished probe)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    rows: list[dict[str, Any]] = data["rows"]
    out = []
    for row in rows:
        values: dict[str, Any] = {k: (float("nan") if v is None else v) for k, v in row.items()}
        out.append(ProbeRow(**values))
    return out


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (statsmodels' `multipletests`, method "holm")."""
    if not p_values:
        return []
    from statsmodels.stats.multitest import multipletests

    return [float(p) for p in multipletests(list(p_values), method="holm")[1]]
