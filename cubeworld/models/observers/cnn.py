"""The CNN observer kind: a convolutional image classifier trained from scratch.

Why: the study's VLMs are compared with what a network that is known to learn does on the
same grid. Lerer, Gross & Fergus (2016) trained CNNs on rendered towers; this kind trains
`cnn_net.BlockCNN` on the study's own splits, with the same machinery as the VLMs:

- the training pairs come from `cubeworld.models.data.build_training_data` (the same draw,
  joint mixtures and human labels as a VLM run with the same seed);
- the pair order of each epoch is `models.data.epoch_order(n, seed, epoch)`;
- the run folder has the same layout as `models.training` (state.json, log.jsonl,
  checkpoints/epoch-K/ with the optimizer, scheduler and RNG state, predictions/epoch-K/),
  so a killed run resumes from its last epoch and gives the numbers an uninterrupted run
  gives; epoch 0 (the random initialisation) is checkpointed and scored too;
- predictions go through `PredictionWriter` (row-by-row resume) with contract C's columns.

It reads only images: any set with images works, photos included (Lerer100). A set whose
images are missing is refused before anything is written.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

from cubeworld.formats.yamlfile import read_yaml
from cubeworld.models.observers import KIND_FILE
from cubeworld.models.observers.base import (
    EvaluationJob,
    ObserverError,
    ObserverKind,
    ObserverSettingError,
    TrainingJob,
    draw_size,
    versions,
)
from cubeworld.models.resume import STATE_FILE, saved_state

DEFAULTS_FILE = Path(__file__).with_name("cnn.yaml")
SCRATCH = "scratch"
LOG_FILE = "log.jsonl"
WEIGHTS = "model.pt"
TRAINING_STATE = "training_state.pt"


@lru_cache(maxsize=1)
def load_defaults() -> dict[str, Any]:
    return read_yaml(DEFAULTS_FILE, ObserverError)


def _d(key: str):
    value = load_defaults()["training"][key]
    if isinstance(value, list):
        return field(default_factory=lambda: list(value))
    return field(default=value)


@dataclass(frozen=True)
class MixPart:
    """A further training set and its share of `max_items` (duck-types models.MixSource)."""

    set: str
    fraction: float


@dataclass
class CnnConfig:
    """One CNN training run. Field names shared with `FinetuneConfig` mean the same thing;
    `models.data.build_training_data` reads train / mix / labels / label_policy / seed /
    max_items / train_fraction from it."""

    train: str
    out: str
    model: str = SCRATCH  # "scratch", or a CNN checkpoint folder to start from
    mix: list[MixPart] = field(default_factory=list)
    labels: str | None = None
    label_policy: str = _d("label_policy")
    epochs: int = _d("epochs")
    max_items: int = _d("max_items")
    seed: int = 0
    lr: float = _d("lr")
    warmup_fraction: float = _d("warmup_fraction")
    weight_decay: float = _d("weight_decay")
    batch_size: int = _d("batch_size")
    image_size: int = _d("image_size")
    channels: list[int] = _d("channels")
    stem_stride: int = _d("stem_stride")
    dropout: float = _d("dropout")
    augment: bool = _d("augment")
    eval_sets: list[str] = field(default_factory=list)
    eval_batch_size: int = load_defaults()["scoring"]["batch_size"]
    flip_average: bool = load_defaults()["scoring"]["flip_average"]
    condition: str = ""
    model_label: str | None = None
    adapter_label: str | None = None
    progress: bool = True

    # Fields that may differ when a run is resumed (they do not change what is learned).
    RESUMABLE_CHANGES = (
        "out",
        "progress",
        "eval_sets",
        "eval_batch_size",
        "flip_average",
        "model_label",
        "adapter_label",
        "epochs",
    )

    def __post_init__(self) -> None:
        self.mix = [
            m
            if isinstance(m, MixPart)
            else MixPart(**m)
            if isinstance(m, dict)
            else MixPart(str(m.set), float(m.fraction))
            for m in self.mix
        ]
        self.channels = [int(c) for c in self.channels]
        self.eval_sets = [str(s) for s in self.eval_sets]
        check_training_values(asdict(self))

    @property
    def train_fraction(self) -> float:
        return 1.0 - sum(m.fraction for m in self.mix)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Settings a study or the CLI may give under `training:` (the rest is the study's).
TRAINING_KEYS = frozenset(
    {
        "epochs",
        "lr",
        "warmup_fraction",
        "weight_decay",
        "batch_size",
        "image_size",
        "channels",
        "stem_stride",
        "dropout",
        "augment",
        "label_policy",
    }
)
SCORING_KEYS = frozenset({"batch_size", "flip_average"})


def check_training_values(values: Mapping[str, Any]) -> None:
    """Raise ObserverSettingError("training.KEY", ...) for a value out of range."""

    def positive_int(k: str) -> None:
        v = values[k]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ObserverSettingError(f"training.{k}", f"expected a positive integer, got {v!r}")

    for k in ("epochs", "max_items", "batch_size", "image_size"):
        if k in values:
            positive_int(k)
    if "image_size" in values and values["image_size"] < 16:
        raise ObserverSettingError("training.image_size", f"at least 16 px, got {values['image_size']}")
    for k in ("lr", "weight_decay", "dropout", "warmup_fraction"):
        if k in values:
            v = values[k]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or (k == "lr" and v == 0):
                raise ObserverSettingError(
                    f"training.{k}", f"expected a {'positive' if k == 'lr' else 'non-negative'} number, got {v!r}"
                )
            if k in ("dropout", "warmup_fraction") and v >= 1:
                raise ObserverSettingError(f"training.{k}", f"expected a number below 1, got {v!r}")
    if "channels" in values:
        c = values["channels"]
        if (
            not isinstance(c, (list, tuple))
            or not c
            or any(isinstance(x, bool) or not isinstance(x, int) or x < 1 for x in c)
        ):
            raise ObserverSettingError("training.channels", f"expected a list of positive integers, got {c!r}")
    if "stem_stride" in values and values["stem_stride"] not in (1, 2):
        raise ObserverSettingError("training.stem_stride", f"expected 1 or 2, got {values['stem_stride']!r}")
    if "augment" in values and not isinstance(values["augment"], bool):
        raise ObserverSettingError("training.augment", f"expected true or false, got {values['augment']!r}")
    if "label_policy" in values and values["label_policy"] not in ("majority", "each"):
        raise ObserverSettingError(
            "training.label_policy", f"expected majority or each, got {values['label_policy']!r}"
        )


# -- images ----------------------------------------------------------------------------


def load_images(paths, size: int):
    """uint8 tensor (N, 3, size, size): each image as RGB, resized (bilinear) if needed."""
    import numpy as np
    import torch
    from PIL import Image

    arrays = []
    for p in paths:
        try:
            with Image.open(p) as im:
                im = im.convert("RGB")
                if im.size != (size, size):
                    im = im.resize((size, size), Image.BILINEAR)
                arrays.append(np.asarray(im, dtype=np.uint8))
        except (OSError, ValueError) as e:
            raise ObserverError(f"{p}: cannot read the image ({e})") from None
    if not arrays:
        return torch.zeros((0, 3, size, size), dtype=torch.uint8)
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def augment(batch, generator):
    """Random horizontal flips, drawn from `generator`: the physics is mirror-symmetric, so
    a flipped stimulus keeps its label. (Shifts of a few pixels were tried and slowed
    learning: the judgement rests on offsets of a few pixels.)"""
    import torch

    x = batch.float() / 255.0
    flip = torch.rand(len(x), generator=generator) < 0.5
    x[flip] = x[flip].flip(-1)
    return x


# -- checkpoints -----------------------------------------------------------------------


def _architecture(config: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "kind": "cnn",
        "channels": list(config["channels"]),
        "image_size": int(config["image_size"]),
        "stem_stride": int(config["stem_stride"]),
        "dropout": float(config["dropout"]),
    }


def build_network(arch: Mapping[str, Any]):
    from cubeworld.models.observers.cnn_net import BlockCNN

    return BlockCNN(channels=arch["channels"], dropout=arch["dropout"], stem_stride=arch["stem_stride"])


def load_network(folder: Path):
    """A CNN checkpoint folder -> (network in eval mode, architecture dict)."""
    import torch

    marker = folder / KIND_FILE
    if not marker.is_file() or not (folder / WEIGHTS).is_file():
        raise ObserverError(f"{folder}: not a CNN checkpoint ({KIND_FILE} and {WEIGHTS} expected)")
    arch = json.loads(marker.read_text(encoding="utf-8"))
    net = build_network(arch)
    net.load_state_dict(torch.load(folder / WEIGHTS, map_location="cpu", weights_only=True))
    net.eval()
    return net, arch


def _rng_state(generator) -> dict[str, Any]:
    import random

    import numpy as np
    import torch

    return {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "generator": generator.get_state(),
    }


def _set_rng_state(state: Mapping[str, Any], generator) -> None:
    import random

    import numpy as np
    import torch

    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    generator.set_state(state["generator"])


def _save_checkpoint(dest: Path, net, arch: dict, training_state: dict | None) -> None:
    """Weights, architecture marker and resume state, written aside then moved into place."""
    import torch

    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    torch.save(net.state_dict(), tmp / WEIGHTS)
    (tmp / KIND_FILE).write_text(json.dumps(arch, indent=2), encoding="utf-8")
    if training_state is not None:
        torch.save(training_state, tmp / TRAINING_STATE)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def recalibrate_batchnorm(net, images, seed: int, epoch: int, n: int = 512, batch: int = 64) -> None:
    """Re-estimate every BatchNorm layer's running statistics for the current weights, as
    the plain average over up to `n` training images (no augmentation, no gradient).

    Why: with few images and a learning rate that moves the weights fast, the running
    averages lag behind the weights, and scores in eval mode swing from epoch to epoch
    (measured: 0.72 -> 0.51 -> 0.72 on 2-4 block towers in consecutive epochs). Averaging
    the statistics afresh ("precise BN") makes each epoch's checkpoint score what its
    weights learned. The images are drawn with a generator seeded by (seed, epoch), so a
    resumed run recalibrates exactly as an uninterrupted one.
    """
    import torch
    from torch import nn

    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    if not norms or len(images) == 0:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    g = torch.Generator().manual_seed(int(seed) * 100_003 + int(epoch))
    idx = torch.randperm(len(images), generator=g)[:n]
    was_training = net.training
    net.train()
    with torch.no_grad():
        for i in range(0, len(idx), batch):
            net(images[idx[i : i + batch]].float() / 255.0)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    net.train(was_training)


def checkpoint_dir(out: Path, epoch: int) -> Path:
    return out / "checkpoints" / f"epoch-{epoch}"


def predictions_path(out: Path, epoch: int, set_name: str) -> Path:
    return out / "predictions" / f"epoch-{epoch}" / f"{set_name}.csv"


# -- scoring ---------------------------------------------------------------------------


def score_sets(
    net,
    arch: Mapping[str, Any],
    tables,
    *,
    model_label: str,
    adapter_label: str,
    condition: str,
    seed: int | None,
    epoch: int,
    batch_size: int,
    progress: bool = True,
    cache: dict | None = None,
    flip_average: bool = True,
) -> list[Path]:
    """Write P(Yes) = softmax(logits)[Yes] for every stimulus of each (set, table) pair.
    Several sets may share one table (the command line writes one); rows already in a
    table are kept, so a killed scoring resumes. `cache` (a dict the caller keeps) holds
    decoded images across calls: a training run scores the same sets after every epoch.
    flip_average: P(Yes) is the mean over the image and its mirror image."""
    from cubeworld.formats.predictions import OBSERVER_COLUMNS, PredictionWriter
    from cubeworld.formats.sets import load_set

    size = int(arch["image_size"])
    base = {
        "model": model_label,
        "adapter": adapter_label,
        "condition": condition,
        "seed": "" if seed is None else int(seed),
        "epoch": int(epoch),
        "kind": "cnn",
        "p_other": 0.0,
        "image_size": f"{size}x{size}",
        "dtype": "float32",
        "batch_size": batch_size,
        **versions(),
    }
    base["transformers_version"] = base["peft_version"] = ""  # not used by a CNN
    by_table: dict[Path, list[Path]] = {}
    for set_dir, table in tables:
        by_table.setdefault(Path(table), []).append(Path(set_dir))
    was_training = net.training
    net.eval()
    out = []
    try:
        for table, set_dirs in by_table.items():
            writer = PredictionWriter(table, extra_columns=OBSERVER_COLUMNS)
            for set_dir in set_dirs:
                _score_set(net, size, base, load_set(set_dir), writer, batch_size, progress, cache, flip_average)
            out.append(writer.finish())
    finally:
        if was_training:
            net.train()
    return out


def _score_set(
    net,
    size: int,
    base: dict,
    s,
    writer,
    batch_size: int,
    progress: bool,
    cache: dict | None = None,
    flip_average: bool = True,
) -> None:
    import torch
    from tqdm.auto import tqdm

    from cubeworld.formats.answers import NO, YES
    from cubeworld.formats.predictions import PredictionWriter

    done = writer.done_keys()
    todo = [
        r for r in s.rows if PredictionWriter.key_of({**base, "stimulus_id": r.stimulus_id, "set": s.name}) not in done
    ]
    bar = tqdm(total=len(todo), desc=f"cnn scoring {s.name}", unit="img", disable=not progress)
    for i in range(0, len(todo), batch_size):
        chunk = todo[i : i + batch_size]
        x = _images(s, chunk, size, cache).float() / 255.0
        with torch.inference_mode():
            prob = torch.softmax(net(x).float(), dim=1)
            if flip_average:
                prob = (prob + torch.softmax(net(x.flip(-1)).float(), dim=1)) / 2
            logp = torch.log(prob)
        rows = []
        for r, (lp_no, lp_yes) in zip(chunk, logp.tolist()):
            p = math.exp(lp_yes)
            answer = YES if p >= 0.5 else NO
            rows.append(
                {
                    **base,
                    "stimulus_id": r.stimulus_id,
                    "set": s.name,
                    "domain": r.domain,
                    "n_blocks": r.n_blocks,
                    "falls": r.falls,
                    "p_yes": f"{p:.8g}",
                    "answer": answer,
                    "correct": answer == r.answer,
                    "logp_yes": f"{lp_yes:.8g}",
                    "logp_no": f"{lp_no:.8g}",
                }
            )
        writer.append(rows)
        bar.update(len(chunk))
    bar.close()


def _images(s, rows, size: int, cache: dict | None):
    """The rows' images as a uint8 batch, decoded once per set when a cache is given."""
    import torch

    if cache is None:
        return load_images([s.root / r.file_name for r in rows], size)
    key = (str(s.root), size)
    if key not in cache:
        cache[key] = (
            {r.stimulus_id: i for i, r in enumerate(s.rows)},
            load_images([s.root / r.file_name for r in s.rows], size),
        )
    index, images = cache[key]
    return images[torch.tensor([index[r.stimulus_id] for r in rows], dtype=torch.long)]


# -- training --------------------------------------------------------------------------


def _lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up to the peak, then cosine decay to zero (a one-cycle schedule)."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def train_cnn(config: CnnConfig) -> Path:
    """Train (or resume, or skip when finished) the CNN run described by `config`."""
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    from cubeworld.formats.atomic import append_jsonl, atomic_write_json, read_jsonl, write_jsonl
    from cubeworld.formats.sets import load_set
    from cubeworld.models.data import build_training_data, epoch_order

    out = Path(config.out)
    state_path = out / STATE_FILE
    state = saved_state(out, config, ObserverError)
    if state and state.get("last_epoch", 0) >= config.epochs:
        return out
    eval_sets = [load_set(d) for d in config.eval_sets]  # bad eval sets fail before training
    for s in eval_sets:
        CNN.check_training_set(s, role="evaluation")
    for part in [config.train, *[m.set for m in config.mix]]:
        CNN.check_training_set(load_set(part, check_images=False))
    data = build_training_data(config)  # type: ignore[arg-type]  (duck-typed config)
    arch = _architecture(config.to_dict())
    label = config.model_label or ("cnn" if config.model == SCRATCH else str(config.model))
    adapter_label = config.adapter_label if config.adapter_label is not None else out.name
    out.mkdir(parents=True, exist_ok=True)
    last_epoch = int(state["last_epoch"]) if state else 0
    if (out / LOG_FILE).exists():  # drop log records of an epoch a kill cut short
        write_jsonl(out / LOG_FILE, [r for r in read_jsonl(out / LOG_FILE) if int(r.get("epoch", 0)) <= last_epoch])
    for stale in (out / "checkpoints").glob(".epoch-*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)

    images = load_images([it.image for it in data.items], config.image_size)
    labels = torch.tensor([int(bool(it.label)) for it in data.items], dtype=torch.long)
    n = len(labels)
    generator = torch.Generator().manual_seed(int(config.seed))
    torch.manual_seed(int(config.seed))
    if config.model == SCRATCH:
        net = build_network(arch)
    else:
        net, start_arch = load_network(Path(config.model))
        if start_arch["channels"] != arch["channels"] or start_arch["stem_stride"] != arch["stem_stride"]:
            raise ObserverError(f"{config.model}: its architecture {start_arch} differs from the run's {arch}")
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(n / config.batch_size)
    total = steps_per_epoch * config.epochs
    warmup = max(1, round(config.warmup_fraction * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, total, warmup))
    step = 0

    decoded: dict = {}  # evaluation images, decoded once for every epoch

    def scores(epoch: int) -> None:
        tables = [(Path(s.root), predictions_path(out, epoch, s.name)) for s in eval_sets]
        score_sets(
            net,
            arch,
            tables,
            model_label=label,
            adapter_label=adapter_label,
            condition=config.condition,
            seed=config.seed,
            epoch=epoch,
            batch_size=config.eval_batch_size,
            progress=config.progress,
            cache=decoded,
            flip_average=config.flip_average,
        )

    def write_state(epoch: int) -> None:
        from cubeworld.models.observers.cnn_net import parameter_count

        atomic_write_json(
            state_path,
            {
                "kind": "cnn",
                "config": config.to_dict(),
                "last_epoch": epoch,
                "finished": epoch >= config.epochs,
                "data": data.summary,
                "parameters": parameter_count(net),
                "architecture": arch,
                "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
        )

    if last_epoch == 0:
        _save_checkpoint(checkpoint_dir(out, 0), net, arch, None)
        scores(0)
        write_state(0)
    else:
        ckpt = checkpoint_dir(out, last_epoch)
        if not (ckpt / TRAINING_STATE).is_file():
            raise ObserverError(
                f"{out}: state.json says epoch {last_epoch} is finished, but "
                f"{ckpt} has no {TRAINING_STATE} to resume from"
            )
        net.load_state_dict(torch.load(ckpt / WEIGHTS, map_location="cpu", weights_only=True))
        ts = torch.load(ckpt / TRAINING_STATE, map_location="cpu", weights_only=False)
        optimizer.load_state_dict(ts["optimizer"])
        scheduler.load_state_dict(ts["scheduler"])
        _set_rng_state(ts["rng"], generator)
        step = int(ts["step"])
        scores(last_epoch)  # the kill may have come between checkpoint and predictions

    for epoch in range(last_epoch + 1, config.epochs + 1):
        net.train()
        order = torch.tensor(epoch_order(n, config.seed, epoch), dtype=torch.long)
        bar = tqdm(total=n, desc=f"cnn epoch {epoch}/{config.epochs}", unit="img", disable=not config.progress)
        losses = []
        for i in range(0, n, config.batch_size):
            idx = order[i : i + config.batch_size]
            x = augment(images[idx], generator) if config.augment else images[idx].float() / 255.0
            loss = F.cross_entropy(net(x), labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            losses.append(float(loss.detach()))
            append_jsonl(
                out / LOG_FILE,
                {"kind": "step", "epoch": epoch, "step": step, "loss": losses[-1], "lr": scheduler.get_last_lr()[0]},
            )
            bar.update(len(idx))
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
        bar.close()
        append_jsonl(
            out / LOG_FILE, {"kind": "epoch", "epoch": epoch, "step": step, "loss": sum(losses) / max(len(losses), 1)}
        )
        recalibrate_batchnorm(net, images, config.seed, epoch)
        _save_checkpoint(
            checkpoint_dir(out, epoch),
            net,
            arch,
            {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": _rng_state(generator),
                "step": step,
                "epoch": epoch,
            },
        )
        scores(epoch)
        write_state(epoch)
    return out


# -- the kind --------------------------------------------------------------------------


class CNNObserver(ObserverKind):
    name = "cnn"
    description = "a small ResNet-style CNN trained from scratch on the images"
    trains = True
    zero_shot = False  # an untrained CNN is chance; its epoch 0 is scored in every run
    default_source = SCRATCH

    def training_keys(self) -> frozenset[str]:
        return TRAINING_KEYS

    def scoring_keys(self) -> frozenset[str]:
        return SCORING_KEYS

    def check_source(self, source: str) -> None:
        if source != SCRATCH and not (Path(source) / KIND_FILE).is_file():
            raise ObserverSettingError(
                "source", f"a cnn observer starts from {SCRATCH!r} or a CNN checkpoint folder, got {source!r}"
            )

    def check_settings(self, training: Mapping[str, Any], scoring: Mapping[str, Any]) -> None:
        super().check_settings(training, scoring)
        check_training_values(training)
        b = scoring.get("batch_size", 1)
        if isinstance(b, bool) or not isinstance(b, int) or b < 1:
            raise ObserverSettingError("scoring.batch_size", f"expected a positive integer, got {b!r}")
        if not isinstance(scoring.get("flip_average", True), bool):
            raise ObserverSettingError(
                "scoring.flip_average", f"expected true or false, got {scoring['flip_average']!r}"
            )

    def effective(self, training: Mapping[str, Any], scoring: Mapping[str, Any]) -> dict[str, Any]:
        d = load_defaults()
        t = {k: v for k, v in d["training"].items() if k != "max_items"}
        t.update(training)
        s = dict(d["scoring"])
        s.update(scoring)
        return {"training": t, "scoring": s}

    def check_training_set(self, stim_set, role: str = "training") -> None:
        """A CNN reads only images: every row's image must exist."""
        missing = [r for r in stim_set.rows if not (stim_set.root / r.file_name).is_file()]
        if missing:
            raise ObserverError(
                f"{stim_set.root}: a cnn observer needs images, but {len(missing)} of "
                f"{len(stim_set.rows)} are missing (e.g. {missing[0].file_name}); it cannot "
                f"use this set for {role}"
            )

    def skip_reason(self, stim_set) -> str | None:
        return None

    def prepare_model(self, source: str, folder: Path, *, seed: int = 0, family: str | None = None) -> str:
        return source

    def config_for(self, job: TrainingJob) -> CnnConfig:
        main, *rest = job.train
        values: dict[str, Any] = dict(job.training)
        values["max_items"], fractions = draw_size(job.train)
        if rest:
            values["mix"] = [MixPart(str(p.set_dir), f) for p, f in zip(rest, fractions)]
        if "batch_size" in job.scoring:
            values["eval_batch_size"] = job.scoring["batch_size"]
        if "flip_average" in job.scoring:
            values["flip_average"] = job.scoring["flip_average"]
        values.update(
            model=str(job.model),
            train=str(main.set_dir),
            out=str(job.out),
            labels=None if main.humans is None else str(main.humans),
            eval_sets=[str(e) for e in job.eval_sets],
            epochs=job.epochs,
            seed=int(job.seed),
            condition=job.condition,
            model_label=job.model_label,
            progress=job.progress,
        )
        return CnnConfig(**values)

    def finetune(self, job: TrainingJob) -> Path:
        return train_cnn(self.config_for(job))

    def evaluate(self, job: EvaluationJob) -> list[Path]:
        """Score with the checkpoint of `job.epoch` of the run, or a checkpoint folder
        given as the model (`cubeworld evaluate --model RUN/checkpoints/epoch-8`)."""
        from cubeworld.formats.sets import load_set

        for set_dir, _ in job.tables:
            self.check_training_set(load_set(set_dir, check_images=False), role="evaluation")
        folder = checkpoint_dir(job.run_dir, job.epoch) if job.run_dir is not None else Path(job.model)
        if job.run_dir is None and job.model == SCRATCH:
            raise ObserverError(
                "a cnn observer scores with a trained checkpoint: give its "
                "folder (RUN/checkpoints/epoch-K) as the model"
            )
        net, arch = load_network(folder)
        scoring = {**load_defaults()["scoring"], **job.scoring}
        return score_sets(
            net,
            arch,
            job.tables,
            model_label=job.model_label or str(job.model),
            adapter_label=job.adapter_label,
            condition=job.condition,
            seed=job.seed,
            epoch=job.epoch,
            batch_size=int(scoring["batch_size"]),
            progress=job.progress,
            flip_average=bool(scoring["flip_average"]),
        )

    def checkpoint_exists(self, run_dir: Path, epoch: int) -> bool:
        return (checkpoint_dir(run_dir, epoch) / WEIGHTS).is_file()

    # -- command line -----------------------------------------------------------------
    def finetune_command(self, given: Mapping[str, Any], config_file: str | Path | None = None) -> Path:
        """`cubeworld finetune --model cnn ...`: the options given (None = not given) plus
        an optional YAML of CnnConfig fields; an option a CNN has no use for is bad input."""
        values = {k: v for k, v in given.items() if v is not None}
        if config_file is not None:
            extra = read_yaml(config_file, ObserverError) or {}
            if not isinstance(extra, dict):
                raise ObserverError(f"{config_file}: expected a mapping of CNN settings")
            values = {**extra, **values}
        model = str(values.pop("model", self.name))
        source = SCRATCH if model == self.name else model
        self.check_source(source)
        values.pop("device", None)  # a CNN trains on the CPU here; the option is harmless
        if "max_pixels" in values:  # --image-size N arrives as N*N
            side = math.isqrt(int(values["max_pixels"]))
            if side * side != int(values.pop("max_pixels")):
                raise ObserverError("--max-pixels: a cnn observer takes square images; give --image-size")
            values["image_size"] = side
        if "mix" in values:
            values["mix"] = [MixPart(str(m.set), float(m.fraction)) for m in values["mix"]]
        names = {f.name for f in fields(CnnConfig)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ObserverError(
                f"{unknown[0]}: not a setting of the cnn observer; it takes {sorted(names - {'out', 'train'})}"
            )
        return train_cnn(CnnConfig(model=source, **values))

    def evaluate_command(self, model: str, sets, out: Path, **kwargs) -> Path:
        if model == self.name:
            raise ObserverError(
                "a cnn observer scores with a trained checkpoint: give its folder (RUN/checkpoints/epoch-K) as --model"
            )
        return super().evaluate_command(model, sets, out, **kwargs)


CNN = CNNObserver()
