"""The CNN's plug-in to the epoch loop, and its scorer for the table loop.

Training: the run's pairs as one uint8 image tensor in memory (decoded once), batches in
the epoch's fixed order (`cubeworld.trainer.data.epoch_order`), random horizontal flips
drawn from a generator of the run's own (saved with the checkpoints), AdamW with a
linear warm-up and cosine decay to 0, and after each epoch the BatchNorm statistics
re-estimated for the new weights. The epoch loop, resume and checkpoints are the base's.

Scoring: P(Yes) = softmax(logits)[Yes], averaged over the image and its mirror image
(`flip_average`), in batches within each set; decoded images are cached across epochs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import groupby
from pathlib import Path
from typing import Any

from cubeworld.formats.predictions import OBSERVER_COLUMNS
from cubeworld.formats.sets import StimulusSet
from cubeworld.formats.tables import Answer, Emit, Item, fill_tables, versions
from cubeworld.observers.base import ObserverError
from cubeworld.observers.cnn_config import SCRATCH, CnnConfig, CnnScoring, check_images
from cubeworld.observers.cnn_net import architecture, build_network, load_images, load_network, save_network
from cubeworld.trainer.data import build_training_data, epoch_order
from cubeworld.trainer.loop import EpochTrainer


def augment(batch, generator):
    """Random horizontal flips, drawn from `generator`: the physics is mirror-symmetric, so
    a flipped stimulus keeps its label. (Shifts of a few pixels were tried and slowed
    learning: the judgement rests on offsets of a few pixels.)"""
    import torch

    x = batch.float() / 255.0
    flip = torch.rand(len(x), generator=generator) < 0.5
    x[flip] = x[flip].flip(-1)
    return x


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


def _lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up to the peak, then cosine decay to zero (a one-cycle schedule)."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


class CnnScorer:
    """A CNN as the table loop uses it. `cache` (kept by a trainer across epochs) holds
    each set's decoded images."""

    def __init__(self, net, arch: dict[str, Any], scoring: CnnScoring, cache: dict | None = None):
        self.net, self.scoring, self.cache = net, scoring, cache
        self.size = int(arch["image_size"])
        self.settings: Mapping[str, Any] = {"dtype": "float32"}
        self.columns: Mapping[str, Any] = {
            "p_other": 0.0,
            "image_size": f"{self.size}x{self.size}",
            "batch_size": scoring.batch_size,
            **versions(("torch",)),
        }

    def score(self, items: Sequence[Item], emit: Emit) -> None:
        was_training = self.net.training
        self.net.eval()
        try:
            for _, group in groupby(items, key=lambda item: id(item[0])):  # batches within a set
                todo = list(group)
                for i in range(0, len(todo), self.scoring.batch_size):
                    emit(self._batch(todo[i : i + self.scoring.batch_size]))
        finally:
            if was_training:
                self.net.train()

    def _batch(self, chunk: Sequence[Item]):
        import torch

        s = chunk[0][0]
        x = self._images(s, [row for _, row in chunk]).float() / 255.0
        with torch.inference_mode():
            prob = torch.softmax(self.net(x).float(), dim=1)
            if self.scoring.flip_average:
                prob = (prob + torch.softmax(self.net(x.flip(-1)).float(), dim=1)) / 2
            logp = torch.log(prob)
        return [
            (s, row, Answer(math.exp(lp_yes), {"logp_yes": f"{lp_yes:.8g}", "logp_no": f"{lp_no:.8g}"}))
            for (_, row), (lp_no, lp_yes) in zip(chunk, logp.tolist())
        ]

    def _images(self, s: StimulusSet, rows):
        """The rows' images as a uint8 batch, decoded once per set when a cache is given."""
        import torch

        if self.cache is None:
            return load_images([s.root / r.file_name for r in rows], self.size)
        key = (str(s.root), self.size)
        if key not in self.cache:
            self.cache[key] = (
                {r.stimulus_id: i for i, r in enumerate(s.rows)},
                load_images([s.root / r.file_name for r in s.rows], self.size),
            )
        index, images = self.cache[key]
        return images[torch.tensor([index[r.stimulus_id] for r in rows], dtype=torch.long)]


class CnnTrainer(EpochTrainer):
    """A CNN trained from scratch (or from a checkpoint): the CNN's trainer plug-in."""

    error = ObserverError
    checkpoint_before_training = True  # its random initialisation is an observer too

    def __init__(self, config: CnnConfig):
        super().__init__(config.checked())
        self.config: CnnConfig = self.config
        self.arch = architecture(config.channels, config.image_size, config.stem_stride, config.dropout)
        self.decoded: dict = {}  # evaluation images, decoded once for every epoch

    def prepare(self) -> None:
        import torch

        from cubeworld.formats.sets import load_set

        cfg = self.config
        for s in self.eval_sets:
            check_images(s, role="evaluation")
        for part in [cfg.train, *[m.set for m in cfg.mix]]:
            check_images(load_set(part, check_images=False))
        self.data = build_training_data(cfg, cfg.label_policy)
        self.images = load_images([it.image for it in self.data.items], cfg.image_size)
        self.labels = torch.tensor([int(bool(it.label)) for it in self.data.items], dtype=torch.long)

    def build(self, resume_from: Path | None) -> None:
        import torch

        cfg = self.config
        self.generator = torch.Generator().manual_seed(int(cfg.seed))
        if cfg.model == SCRATCH:
            self.net = build_network(self.arch)
        else:
            self.net, start = load_network(Path(cfg.model))
            if start["channels"] != self.arch["channels"] or start["stem_stride"] != self.arch["stem_stride"]:
                raise ObserverError(f"{cfg.model}: its architecture {start} differs from the run's {self.arch}")
        if resume_from is not None:
            from cubeworld.observers.cnn_net import WEIGHTS

            self.net.load_state_dict(torch.load(resume_from / WEIGHTS, map_location="cpu", weights_only=True))
        self.optimizer = torch.optim.AdamW(self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        total = math.ceil(len(self.labels) / cfg.batch_size) * cfg.epochs
        warmup = max(1, round(cfg.warmup_fraction * total))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: _lr_factor(s, total, warmup))

    def train_epoch(self, epoch: int) -> float:
        import torch
        import torch.nn.functional as F
        from tqdm.auto import tqdm

        cfg, net = self.config, self.net
        n = len(self.labels)
        net.train()
        order = torch.tensor(epoch_order(n, cfg.seed, epoch), dtype=torch.long)
        bar = tqdm(total=n, desc=f"cnn epoch {epoch}/{cfg.epochs}", unit="img", disable=not cfg.progress)
        losses = []
        for i in range(0, n, cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            x = augment(self.images[idx], self.generator) if cfg.augment else self.images[idx].float() / 255.0
            loss = F.cross_entropy(net(x), self.labels[idx])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            losses.append(float(loss.detach()))
            self.log_step(epoch, losses[-1], float(self.scheduler.get_last_lr()[0]))
            bar.update(len(idx))
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
        bar.close()
        recalibrate_batchnorm(net, self.images, cfg.seed, epoch)
        return sum(losses) / max(len(losses), 1)

    def save(self, folder: Path, epoch: int) -> None:
        save_network(folder, self.net, self.arch)

    def training_state(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}

    def rng_extras(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def restore(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["rng"]["generator"])

    def evaluate(self, epoch: int, tables: Sequence[tuple[StimulusSet, Path]]) -> None:
        cfg = self.config
        who = {
            "model": cfg.model_label or ("cnn" if cfg.model == SCRATCH else str(cfg.model)),
            "adapter": self.adapter_label,
            "condition": cfg.condition,
            "seed": cfg.seed,
            "epoch": epoch,
        }
        scorer = CnnScorer(self.net, self.arch, cfg.scoring(), cache=self.decoded)
        fill_tables(
            tables,
            who,
            kind="cnn",
            open_scorer=lambda: scorer,
            extra_columns=OBSERVER_COLUMNS,
            progress=cfg.progress,
            desc="cnn scoring",
        )

    def state_record(self) -> dict[str, Any]:
        from cubeworld.observers.cnn_net import parameter_count

        return {
            "kind": "cnn",
            "data": self.data.summary,
            "parameters": parameter_count(self.net),
            "architecture": self.arch,
        }
