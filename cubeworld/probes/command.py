"""The probe of one model, end to end: activations (cached), the model's answers, the probes.

What `cubeworld probe` runs, as a library call (`probe_model`) so a study step can run it
too. Each expensive step is reused when its output is already there, so a killed or
repeated probe loads the model only if something is missing:

1. activations of the requested points into `--activations` (default `OUT/activations`):
   `extract_activations` resumes an unfinished cache; a complete one that holds the points
   asked for is reused as it is (another model, adapter, set or fewer points there is an
   error naming the difference);
2. the model's answers on the same items: `--predictions` (a table holding them), or the
   model's scoring into `OUT/predictions.csv` (`cubeworld.models.evaluate`, resumable);
3. `fit_probes` (its resume log in `OUT/fits/`), written to `OUT/probes.csv`,
   `OUT/probes.json`, `OUT/probe_predictions.csv` and the figure `OUT/probes.png`.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cubeworld.probes.config import ProbeConfig
from cubeworld.probes.errors import ProbeError
from cubeworld.probes.results import ProbeResults

ACTIVATIONS_DIR = "activations"
PREDICTIONS_FILE = "predictions.csv"
FITS_DIR = "fits"


def probe_model(
    model: str,
    sets: Sequence[str | Path],
    out: str | Path,
    config: ProbeConfig | None = None,
    *,
    adapter: str | Path | None = None,
    activations: str | Path | None = None,
    predictions: str | Path | None = None,
    batch_size: int = 8,
    image_size: int | None = None,
    max_pixels: int | None = None,
    quantize: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    progress: bool = True,
) -> tuple[ProbeResults, dict[str, Path]]:
    """Probe `model` (+ `adapter`) on `sets`; write the results into `out`. Returns the
    results and the paths written. Everything given is checked before the model loads."""
    from cubeworld.formats.predictions import read_predictions
    from cubeworld.formats.sets import load_set
    from cubeworld.models.loading import pixel_budget
    from cubeworld.probes.behaviour import select_observer
    from cubeworld.probes.fit import fit_probes

    config = config or ProbeConfig()
    if not 1 <= int(batch_size) <= 1024:
        raise ProbeError(f"batch_size must be between 1 and 1024, got {batch_size}")
    pixel_budget(image_size, max_pixels)
    loaded = [load_set(s) for s in sets]
    if not loaded:
        raise ProbeError("no stimulus set given to probe")
    names = [s.name for s in loaded]
    if len(set(names)) != len(names):
        raise ProbeError(f"two sets share the name {sorted(n for n in names if names.count(n) > 1)[0]!r}")
    out = Path(out)
    cache_dir = Path(activations) if activations is not None else out / ACTIVATIONS_DIR
    adapter_label = str(adapter) if adapter else ""
    table = read_predictions(predictions) if predictions is not None else None
    items = [(s.name, r.stimulus_id) for s in loaded for r in s.rows]
    requested = list(config.points) or None

    held: dict[str, Any] = {}

    def bundle() -> Any:
        if "model" not in held:
            from cubeworld.models.loading import load_model

            held["model"] = load_model(
                model,
                adapter=adapter,
                quantize=quantize,
                device=device,
                image_size=image_size,
                max_pixels=max_pixels,
                dtype=dtype,
            )
        return held["model"]

    if not _cache_ready(cache_dir, model, adapter_label, loaded, requested):
        from cubeworld.models.activations import extract_activations

        extract_activations(
            bundle(),
            loaded,
            requested,
            cache_dir,
            batch_size=batch_size,
            progress=progress,
            model_label=model,
            adapter_label=adapter_label,
        )
    if table is not None:
        answers = select_observer(table, items, model=model, adapter=adapter_label, source=str(predictions))
    else:
        scored = out / PREDICTIONS_FILE
        if not _scored(scored, items, model, adapter_label):
            from cubeworld.models.scoring import evaluate

            evaluate(
                bundle(),
                loaded,
                scored,
                batch_size=batch_size,
                progress=progress,
                model_label=model,
                adapter_label=adapter_label,
            )
        answers = select_observer(scored, items, model=model, adapter=adapter_label)
    held.clear()  # the model is not needed to fit probes: free its memory first
    gc.collect()
    results = fit_probes(cache_dir, loaded, config, predictions=answers, work=out / FITS_DIR, progress=progress)
    return results, results.write(out)


def _cache_ready(cache_dir: Path, model: str, adapter: str, sets: Sequence[Any], requested: list[str] | None) -> bool:
    """True when `cache_dir` holds a complete extraction of this model, adapter and these
    sets with every point asked for; False when there is none or it is unfinished (the
    extraction resumes it); an error when it holds another extraction."""
    from cubeworld.models.activations import INDEX_FILE, ActivationsError, load_activations, set_identity

    if not (cache_dir / INDEX_FILE).is_file():
        return False
    try:
        acts = load_activations(cache_dir)
    except ActivationsError:
        return False  # unfinished: extract_activations resumes it, or names what differs
    identities = [set_identity(s) for s in sets]
    want: dict[str, Any] = {"model": model, "adapter": adapter, "sets": identities}
    for key, value in want.items():
        if acts.index.get(key) != value:
            shown = value if key != "sets" else [s["name"] for s in identities]
            had = acts.index.get(key) if key != "sets" else [s["name"] for s in acts.index.get(key, [])]
            raise ProbeError(
                f"{cache_dir}: holds activations of {key}={had!r}, this probe asks for {shown!r} "
                "(or the sets' metadata changed); give --activations another folder"
            )
    cached = acts.index.get("points_requested") or []
    stages = set(acts.index.get("point_stages", {}).values())
    if cached == "all":  # every point of the model is there: a name it lacks is unknown
        for name in requested or []:
            if name not in acts.points and name not in stages:
                raise ProbeError(
                    f"points: {name!r} is not a point of {model}; it has {', '.join(acts.points)} "
                    f"(or a stage: {', '.join(sorted(stages))})"
                )
        return True
    # A stage counts as covered only if it was asked for as a stage (then all its points are there).
    if requested is None or not all(name in acts.points or name in cached for name in requested):
        raise ProbeError(
            f"{cache_dir}: holds the points {', '.join(acts.points)}, not all of {requested or 'all'}; "
            "give --activations another folder"
        )
    return True


def _scored(path: Path, items: Sequence[tuple[str, str]], model: str, adapter: str) -> bool:
    """True when the table at `path` already holds this model's answer to every item."""
    from cubeworld.probes.behaviour import select_observer

    if not path.is_file():
        return False
    try:
        select_observer(path, items, model=model, adapter=adapter)
    except ProbeError:
        return False
    return True
