"""Activations of a VLM at named points, pooled per item and cached on disk for probes.

Why: a probe asks whether a quantity (the label, a stability margin) is decodable from a
model's internals, layer by layer, next to whether the model uses it (its answers). Probes
are cheap; forward passes of a VLM are not, and several probes (targets, folds, regularisers)
read the same activations. So one extraction writes every requested point once, and probes
read the arrays memory-mapped.

Points are named by the model's family (`ModelFamily.activation_points`): "vision.N" (vision
block N), "projector" (Qwen's merger, Idefics3's connector, LLaVA's and Gemma 3's projector),
"deepstack.N" (Qwen3-VL) and "decoder.N" (decoder layer N). Each point's output is read by a
forward hook on the real module during the same forward pass that scoring makes (the chat
template, left padding, the answer position last), and pooled per item:

- vision and projector points: `image`, the mean over every token the encoder produced for
  the item's image (all its patches, tiles or crops; the family says which rows are whose);
- decoder points: `image`, the mean over the image-token positions of the text sequence, and
  `answer`, the last prompt position, where P(Yes) is read.

A decoder point is the layer's output as `output_hidden_states` reports it (hidden_states
[N + 1]; the last layer's is before the final norm). In Qwen3-VL that is before the DeepStack
features are added after it at the image positions; the answer position is unaffected.

On disk (`out/`): one float16 `.npy` per point and pool, `POINT@POOL.npy`, of shape
(items, width), written through `np.lib.format.open_memmap`; `index.json`, written once
(model, adapter, the sets' identity, the item ids in row order, points, shapes, settings);
and `progress.json` (`done`: how many rows are final, `complete`, and per array how many
values were clipped to float16's range or were not finite). The progress file is rewritten
atomically after each batch, once the arrays are flushed: rows beyond `done` are never
trusted, so a killed extraction resumes at `done`, and a complete one is reused without
loading the model. Values beyond float16's range are clipped and counted, never silently
turned into infinities.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from cubeworld.formats.atomic import atomic_write_json
from cubeworld.formats.sets import METADATA_FILE, StimulusSet
from cubeworld.formats.tables import versions
from cubeworld.models.errors import ModelsError
from cubeworld.models.families.base import STAGES, ActivationPoint
from cubeworld.models.inputs import encode_prompts, example_of, prefetch, to_device
from cubeworld.models.loading import ModelBundle, chat_template_of, load_model
from cubeworld.models.scoring import _as_sets, sha256_text

INDEX_FILE = "index.json"
PROGRESS_FILE = "progress.json"
PROGRESS_KEYS = ("done", "complete", "clipped", "nonfinite")  # progress.json; the rest is index.json
FORMAT = "cubeworld-activations"
VERSION = 1
POOLS: dict[str, tuple[str, ...]] = {"vision": ("image",), "projector": ("image",), "decoder": ("image", "answer")}
FLOAT16_MAX = 65504.0
ALL = "all"


class ActivationsError(ModelsError):
    """An extraction that cannot run or resume as asked; the message names the folder or point."""


def array_key(point: str, pool: str) -> str:
    """The name of one cached array: `POINT@POOL` (also its file name, plus `.npy`)."""
    return f"{point}@{pool}"


def list_points(model: ModelBundle) -> list[ActivationPoint]:
    """Every activation point of a loaded model, in forward order within each stage."""
    return model.family.activation_points(model.model)


def select_points(available: Sequence[ActivationPoint], wanted: str | Iterable[str] | None) -> list[ActivationPoint]:
    """The points asked for: None or "all" (every point), or names and stage names ("vision",
    "projector", "decoder" select every point of that stage), in the model's order."""
    if wanted is None or wanted == ALL:
        return list(available)
    names = [wanted] if isinstance(wanted, str) else list(wanted)
    if not names:
        raise ActivationsError("no activation point asked for (give names, a stage, or 'all')")
    known = {p.name for p in available}
    for name in names:
        if name not in known and name not in STAGES:
            raise ActivationsError(
                f"unknown activation point {name!r}; this model has: {', '.join(p.name for p in available)} "
                f"(or a stage: {', '.join(STAGES)})"
            )
    chosen = set(names)
    return [p for p in available if p.name in chosen or p.stage in chosen]


def set_identity(s: StimulusSet) -> dict[str, Any]:
    """What makes two sets the same for a cache: name, row count, SHA-256 of metadata.jsonl."""
    digest = hashlib.sha256((Path(s.root) / METADATA_FILE).read_bytes()).hexdigest()
    return {"name": s.name, "items": len(s), "metadata_sha256": digest}


@dataclass
class _Batch:
    """What the hooks need to pool one batch: image-token mask, rows per image per stage."""

    image_mask: Any  # (batch, seq) bool, or None when the model has no image-token id
    rows: dict[str, list[int]]


class _Recorder:
    """Forward hooks on the points' modules that pool each output as it is produced."""

    def __init__(self, points: Sequence[ActivationPoint]) -> None:
        self.points = list(points)
        self.batch: _Batch | None = None
        self.pooled: dict[str, Any] = {}
        self.handles: list[Any] = []

    def attach(self, base: Any) -> None:
        for point in self.points:
            self.handles.append(base.get_submodule(point.module).register_forward_hook(partial(self._hook, point)))

    def detach(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def _hook(self, point: ActivationPoint, module: Any, args: Any, output: Any) -> None:
        import torch

        t = output[0] if isinstance(output, (tuple, list)) else output
        if not isinstance(t, torch.Tensor):  # a ModelOutput
            t = t[0]
        t = t.detach().float()
        batch = self.batch
        assert batch is not None
        if point.stage == "decoder":
            self._put(point, "answer", t[:, -1, :])
            if batch.image_mask is not None:
                mask = batch.image_mask.to(t.device, t.dtype)
                self._put(point, "image", (t * mask[..., None]).sum(1) / mask.sum(1).clamp(min=1)[:, None])
            return
        rows = batch.rows[point.stage]
        if sum(rows) != t.shape[0]:
            raise ActivationsError(
                f"activation point {point.name!r} ({point.module}): its output has {t.shape[0]} rows, "
                f"but the family counts {sum(rows)} for this batch's images ({rows})"
            )
        width = t.shape[-1]
        parts = torch.split(t, rows, dim=0)
        self._put(point, "image", torch.stack([p.reshape(-1, width).mean(0) for p in parts]))

    def _put(self, point: ActivationPoint, pool: str, value: Any) -> None:
        key = array_key(point.name, pool)
        if key in self.pooled:
            raise ActivationsError(f"activation point {point.name!r} ran twice in one forward pass")
        self.pooled[key] = value.cpu()


def _image_token_id(config: Any) -> int | None:
    for attr in ("image_token_id", "image_token_index"):
        value = getattr(config, attr, None)
        if isinstance(value, int):
            return value
    return None


def _settings(bundle: ModelBundle) -> dict[str, Any]:
    return {
        "family": bundle.family.name or "generic",
        "model_type": bundle.info.get("model_type", ""),
        "dtype": bundle.dtype,
        "quantize": bundle.quantize or "none",
        "max_pixels": bundle.max_pixels or "",
        "template_sha256": sha256_text(chat_template_of(bundle.processor)),
        **versions(),
    }


def _read_index(out: Path) -> dict[str, Any] | None:
    path = out / INDEX_FILE
    if not path.is_file():
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ActivationsError(
                f"{out}: exists and is not an activations folder (no {INDEX_FILE}); give another out"
            )
        return None
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ActivationsError(f"{path}: cannot read the index ({e})") from None
    if index.get("format") != FORMAT:
        raise ActivationsError(f"{path}: not an activations index (format {index.get('format')!r})")
    index.update(done=0, complete=False, clipped=dict.fromkeys(index["arrays"], 0))
    index["nonfinite"] = dict.fromkeys(index["arrays"], 0)
    progress = out / PROGRESS_FILE
    if progress.is_file():  # absent: killed between writing the index and the first batch
        try:
            index.update(json.loads(progress.read_text(encoding="utf-8")))
        except (OSError, ValueError) as e:
            raise ActivationsError(f"{progress}: cannot read the progress ({e})") from None
    return index


def _check_same(out: Path, saved: dict[str, Any], new: dict[str, Any]) -> None:
    for key, value in new.items():
        if saved.get(key) != value:
            raise ActivationsError(
                f"{out}: the activations there were extracted with {key}={saved.get(key)!r}, now {value!r}; "
                "give another out for a different extraction"
            )


def extract_activations(
    model: str | Path | ModelBundle,
    sets: Any,
    points: str | Iterable[str] | None,
    out: str | Path,
    *,
    adapter: str | Path | None = None,
    batch_size: int = 8,
    image_size: int | None = None,
    max_pixels: int | None = None,
    quantize: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    num_workers: int = 0,
    progress: bool = True,
    model_label: str | None = None,
    adapter_label: str | None = None,
) -> Path:
    """Extract pooled activations of every item of `sets` at `points` into the folder `out`.

    model: a hub id / folder (loaded with `load_model`, with `adapter`, `quantize`, `device`,
        `dtype` and the image size) or a loaded `ModelBundle` (its own adapter and dtype).
    sets: stimulus set folders or `StimulusSet`s; rows are cached in set order, then row order.
    points: None or "all", or point names and stage names (`select_points`).
    out: the cache folder. An extraction there with the same model, adapter, sets and points
        resumes where it stopped (or, complete, returns at once without loading the model);
        another one is refused, naming what differs. Returns `out`.
    model_label / adapter_label: what the index records (default: the model id or folder
        and the adapter path).
    """
    from tqdm.auto import tqdm

    if int(batch_size) < 1:
        raise ActivationsError(f"batch_size must be at least 1, got {batch_size}")
    out = Path(out)
    stim_sets = _as_sets(sets)
    given = model if isinstance(model, ModelBundle) else None
    if model_label is None:
        model_label = given.name if given is not None else str(model)
    if adapter_label is None:
        adapter_label = given.adapter if given is not None else (str(adapter) if adapter else "")
    requested = ALL if points is None or points == ALL else ([points] if isinstance(points, str) else list(points))
    identity = {
        "model": model_label,
        "adapter": adapter_label,
        "sets": [set_identity(s) for s in stim_sets],
        "points_requested": requested,
    }
    index = _read_index(out)
    if index is not None:
        _check_same(out, index, identity)
        if index.get("complete"):
            return out
    todo = [(s, row) for s in stim_sets for row in s.rows]
    if not todo:
        raise ActivationsError("the sets hold no items to extract activations of")
    if given is not None:
        bundle = given
        bundle.set_image_size(image_size, max_pixels)
    else:
        bundle = load_model(
            str(model),
            adapter=adapter,
            quantize=quantize,
            device=device,
            image_size=image_size,
            max_pixels=max_pixels,
            dtype=dtype,
        )
    run = _Run(bundle, select_points(list_points(bundle), requested), out, identity, index, batch_size)
    start = int(index["done"]) if index is not None else 0
    chunks = [todo[i : i + batch_size] for i in range(start, len(todo), batch_size)]
    bar = tqdm(
        total=len(todo),
        initial=start,
        desc=f"activations {Path(str(bundle.name)).name}",
        unit="img",
        disable=not progress,
    )
    was_training = bundle.model.training
    bundle.model.eval()
    items = [(s.name, row.stimulus_id) for s, row in todo]
    run.recorder.attach(run.base)
    try:
        done = start
        for chunk, batch in prefetch(chunks, partial(_encode_chunk, bundle.processor), num_workers):
            run.write(done, items, run.forward(batch))
            done += len(chunk)
            run.commit(done, len(todo))
            bar.update(len(chunk))
    finally:
        run.recorder.detach()
        bar.close()
        if was_training:
            bundle.model.train()
    return out


class _Run:
    """One extraction in progress: the hooks, the open arrays and the index they commit to."""

    def __init__(
        self,
        bundle: ModelBundle,
        chosen: list[ActivationPoint],
        out: Path,
        identity: dict[str, Any],
        index: dict[str, Any] | None,
        batch_size: int,
    ) -> None:
        import numpy as np

        self.bundle, self.chosen, self.out, self.identity, self.batch_size = bundle, chosen, out, identity, batch_size
        self.settings = _settings(bundle)
        model = bundle.model
        self.base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.image_token = _image_token_id(self.base.config)
        keys = [array_key(p.name, pool) for p in chosen for pool in POOLS[p.stage]]
        if self.image_token is None:  # a config that names no image token: no decoder image pool
            keys = [k for k in keys if not (k.endswith("@image") and k.startswith("decoder."))]
        self.keys = keys
        self.recorder = _Recorder(chosen)
        self.index = index
        self.arrays: dict[str, Any] = {}
        if index is not None:
            _check_same(out, index, {"points": [p.name for p in chosen], "settings_fixed": _fixed(self.settings)})
            for key in keys:
                self.arrays[key] = np.lib.format.open_memmap(out / index["arrays"][key]["file"], mode="r+")

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        """The pooled activations of one encoded batch, key -> (batch, width) tensor."""
        import torch

        needs_rows = any(p.stage != "decoder" for p in self.chosen)
        family, config = self.bundle.family, self.base.config
        self.recorder.batch = _Batch(
            image_mask=(batch["input_ids"] == self.image_token) if self.image_token is not None else None,
            rows={stage: family.image_rows(batch, stage, config) for stage in ("vision", "projector")}
            if needs_rows
            else {},
        )
        self.recorder.pooled = {}
        device_batch = to_device(batch, self.bundle.device)
        if "pixel_values" in device_batch:
            device_batch["pixel_values"] = device_batch["pixel_values"].to(_float_dtype(self.bundle.model))
        with torch.inference_mode():
            self.bundle.model(**device_batch, logits_to_keep=1, use_cache=False)
        missing = [k for k in self.keys if k not in self.recorder.pooled]
        if missing:
            raise ActivationsError(f"activation point(s) {missing} did not run in the forward pass")
        return self.recorder.pooled

    def write(self, row: int, items: Sequence[tuple[str, str]], pooled: dict[str, Any]) -> None:
        """Put one batch's rows into the arrays (created, with the index, at the first batch)."""
        import numpy as np

        if self.index is None:
            self.index = _new_index(
                self.identity, self.chosen, self.keys, pooled, items, self.settings, self.batch_size
            )
            _check_space(self.out, self.index)
            for key in self.keys:
                spec = self.index["arrays"][key]
                self.arrays[key] = np.lib.format.open_memmap(
                    self.out / spec["file"], mode="w+", dtype=np.float16, shape=tuple(spec["shape"])
                )
            # Written once; the item ids make it the large file, so progress goes elsewhere.
            atomic_write_json(self.out / INDEX_FILE, {k: v for k, v in self.index.items() if k not in PROGRESS_KEYS})
        for key in self.keys:
            values = pooled[key].numpy()
            self.index["clipped"][key] += int((np.abs(values) > FLOAT16_MAX).sum())
            self.index["nonfinite"][key] += int((~np.isfinite(values)).sum())
            self.arrays[key][row : row + len(values)] = np.clip(values, -FLOAT16_MAX, FLOAT16_MAX).astype(np.float16)

    def commit(self, done: int, total: int) -> None:
        """Flush the arrays, then record `done` rows as final (progress.json is the commit point)."""
        assert self.index is not None
        for array in self.arrays.values():
            array.flush()
        self.index["done"] = done
        self.index["complete"] = done == total
        atomic_write_json(self.out / PROGRESS_FILE, {k: self.index[k] for k in PROGRESS_KEYS})


def _fixed(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings a resumed extraction must share (package versions may differ)."""
    return {k: v for k, v in settings.items() if not k.endswith("_version")}


def _float_dtype(model: Any) -> Any:
    return next(p for p in model.parameters() if p.is_floating_point()).dtype


def _encode_chunk(processor: Any, chunk: Sequence[tuple[StimulusSet, Any]]) -> dict[str, Any]:
    return encode_prompts(processor, [example_of(s.root, row) for s, row in chunk])


def _new_index(
    identity: dict[str, Any],
    chosen: Sequence[ActivationPoint],
    keys: Sequence[str],
    pooled: dict[str, Any],
    items: Sequence[tuple[str, str]],
    settings: dict[str, Any],
    batch_size: int,
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        **identity,
        "points": [p.name for p in chosen],
        "point_modules": {p.name: p.module for p in chosen},
        "point_stages": {p.name: p.stage for p in chosen},
        "items": [list(item) for item in items],
        "arrays": {
            key: {"file": f"{key}.npy", "shape": [len(items), int(pooled[key].shape[-1])], "dtype": "float16"}
            for key in keys
        },
        "settings": settings,
        "settings_fixed": _fixed(settings),
        "batch_size": int(batch_size),
        "done": 0,
        "complete": False,
        "clipped": {key: 0 for key in keys},
        "nonfinite": {key: 0 for key in keys},
    }


def _check_space(out: Path, index: dict[str, Any]) -> None:
    """Refuse before writing when the arrays would not fit on the disk."""
    need = sum(2 * spec["shape"][0] * spec["shape"][1] for spec in index["arrays"].values())
    out.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(out).free
    if need > free:
        raise ActivationsError(
            f"{out}: the activations need {need / 1e9:.2f} GB, the disk has {free / 1e9:.2f} GB free"
        )


@dataclass
class Activations:
    """A cache folder written by `extract_activations`, for probes to read.

    `items` are (set, stimulus_id) in row order; `array(point, pool)` is that point's
    (items, width) float16 array, memory-mapped read-only.
    """

    root: Path
    index: dict[str, Any]

    @property
    def items(self) -> list[tuple[str, str]]:
        return [(s, i) for s, i in self.index["items"]]

    @property
    def points(self) -> list[str]:
        return list(self.index["points"])

    @property
    def keys(self) -> list[str]:
        """Every cached array, `POINT@POOL`."""
        return list(self.index["arrays"])

    def array(self, point: str, pool: str = "answer") -> Any:
        import numpy as np

        key = array_key(point, pool)
        spec = self.index["arrays"].get(key)
        if spec is None:
            raise ActivationsError(f"{self.root}: no activations {key!r} (cached: {', '.join(self.keys)})")
        return np.load(self.root / spec["file"], mmap_mode="r")


def load_activations(out: str | Path) -> Activations:
    """The complete extraction in `out`; an unfinished one is an error naming how far it got."""
    out = Path(out)
    index = _read_index(out)
    if index is None:
        raise ActivationsError(f"{out}: no activations there (no {INDEX_FILE})")
    if not index.get("complete"):
        total = sum(s["items"] for s in index["sets"])
        raise ActivationsError(
            f"{out}: the extraction stopped after {index.get('done', 0)} of {total} items; run it again to finish"
        )
    return Activations(out, index)
