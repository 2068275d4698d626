"""GRPO: a VLM's answers reinforced by the simulated label, with TRL's `GRPOTrainer`.

`GrpoTrainer` is the VLM's second plug-in to the one epoch loop
(`cubeworld.trainer.EpochTrainer`), beside supervised fine-tuning (`SftTrainer`): the
loop keeps what every run has (the run folder, resuming, checkpoints, the per-epoch
evaluation, state.json, log.jsonl); this module fills the hooks with TRL.

Per item of a step, TRL samples `num_generations` completions of the item's prompt (the
study's exact prompt, or the step-by-step one: `grpo_mode`) at `temperature`, up to
`max_completion_tokens`. Each completion is rewarded 1 when the answer read from it by
`cubeworld.models.modes.extract_answer` -- the very rule the free and step scoring modes
use -- is the item's label, else 0. The label is the simulator's ground truth, or, for a
human-label condition, the human majority answer the data draw gives (as supervised
fine-tuning uses). The completions' advantages are their rewards against their group's
mean (scaled by its spread, TRL's default); `beta` weighs a KL term against the starting
model (0 by default, no reference pass).

What is trained: LoRA adapters on the targets the architecture walk finds
(`cubeworld.models.lora`, seeded as supervised runs are), on a 4-bit base for `qlora`
(`grpo_adapter: auto` = qlora on CUDA, the follow-up's 4-bit, and lora on the CPU).

Epochs: each epoch TRL's trainer runs once over the run's pairs in the epoch's seeded
order (`cubeworld.trainer.data.epoch_order`); the optimiser and the schedule are this
plug-in's and carry over from epoch to epoch, so `train()` per epoch is one long run cut
at epoch boundaries. A step takes `batch_size` items (x `grad_accum`); an epoch's last
incomplete step is left out (TRL keeps only whole groups), and state.json says how many
pairs an epoch used. A checkpoint holds the adapter (the reference copy TRL keeps for
beta > 0 is not saved: it is the starting adapter), its training_state.pt the optimiser,
the schedule, TRL's micro-step counter and the RNG states, so a killed run resumes to
what an uninterrupted run gives (tested).

vLLM: `use_vllm: true` samples with vLLM in TRL's colocate mode (CUDA, `pip install
'trl[vllm]'`); it cannot run on this CPU-only machine and is refused here.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cubeworld.formats.answers import NO, YES
from cubeworld.formats.sets import StimulusSet
from cubeworld.models.config import FinetuneConfig
from cubeworld.models.errors import BackendError, ModelsError
from cubeworld.models.loading import ModelBundle, default_device, load_model
from cubeworld.models.modes import extract_answer, new_tokens, prompt_for
from cubeworld.models.training import _wrap_for_training, effective_settings, score_run_epoch
from cubeworld.trainer.data import TrainingData, build_training_data, epoch_order
from cubeworld.trainer.loop import EpochTrainer

# TRL releases this plug-in is written for (`GRPOTrainer`'s arguments, its micro-step
# counter `_step`, reward functions with `log_metric`): checked before a run starts.
TRL_RANGE = (">=1.16", "<2")
REWARD_NAME = "label_reward"


def resolve_grpo_adapter(config: FinetuneConfig, device: str) -> str:
    """auto: QLoRA on CUDA (the follow-up's 4-bit base), LoRA on the CPU."""
    if config.grpo_adapter != "auto":
        return config.grpo_adapter
    return "qlora" if device.startswith("cuda") else "lora"


def check_trl() -> str:
    """TRL's version, when it is installed and in `TRL_RANGE`; else a BackendError."""
    from importlib import metadata

    from packaging.specifiers import SpecifierSet

    wanted = ",".join(TRL_RANGE)
    try:
        version = metadata.version("trl")
    except metadata.PackageNotFoundError:
        raise BackendError(f"method grpo needs TRL: pip install 'trl{wanted}'") from None
    if version not in SpecifierSet(wanted):
        raise BackendError(f"method grpo is written for TRL {wanted}; TRL {version} is installed")
    return version


def check_vllm(device: str) -> None:
    """vLLM samples on CUDA only, and must be installed."""
    if not device.startswith("cuda"):
        raise BackendError("use_vllm: vLLM samples on a CUDA GPU only; leave use_vllm out on the CPU")
    from importlib.util import find_spec

    if find_spec("vllm") is None:
        raise BackendError("use_vllm: vLLM is not installed (pip install 'trl[vllm]')")


def label_rewards(completions: Sequence[Any], answers: Sequence[str]) -> tuple[list[float], int]:
    """1.0 where the answer read from a completion is the label, else 0.0; and how many
    completions had no readable answer. A completion is TRL's conversational form (a list
    holding the assistant message) or plain text."""
    rewards, failed = [], 0
    for completion, label in zip(completions, answers, strict=True):
        text = completion[-1]["content"] if isinstance(completion, list) else completion
        found = extract_answer(text if isinstance(text, str) else "")
        failed += not found.ok
        rewards.append(1.0 if found.answer == label else 0.0)
    return rewards, failed


class GrpoTrainer(EpochTrainer):
    """GRPO of a VLM on its training pairs, rewarded by their labels: the VLM's RL plug-in."""

    error = ModelsError

    def __init__(self, config: FinetuneConfig):
        super().__init__(config)
        self.config: FinetuneConfig = config
        self.device = config.device or default_device()
        self._losses: list[float] = []
        self._epoch = 0
        self._bar: Any = None

    # -- hooks ------------------------------------------------------------------------------
    def prepare(self) -> None:
        cfg = self.config
        self.trl_version = check_trl()
        self.adapter = resolve_grpo_adapter(cfg, self.device)
        if cfg.use_vllm:
            check_vllm(self.device)
        self.data: TrainingData = build_training_data(cfg, cfg.label_policy)
        per_step = cfg.batch_size * cfg.grad_accum
        self.steps_per_epoch = len(self.data.items) // per_step
        if self.steps_per_epoch == 0:
            raise ModelsError(
                f"{len(self.data.items)} training pair(s), fewer than one GRPO step takes "
                f"(batch_size x grad_accum = {per_step}); lower batch_size or draw more pairs"
            )
        self.completion_tokens = new_tokens(cfg.grpo_mode, cfg.max_completion_tokens)

    def build(self, resume_from: Path | None) -> None:
        import torch
        from transformers import get_scheduler

        cfg = self.config
        bundle = load_model(
            cfg.model,
            quantize="4bit" if self.adapter == "qlora" else None,
            device=self.device,
            max_pixels=cfg.pixel_budget,
            dtype=cfg.dtype,
        )
        self.bundle: ModelBundle = _wrap_for_training(bundle, cfg, self.adapter)
        params = [p for p in self.bundle.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = get_scheduler(
            cfg.scheduler,
            self.optimizer,
            num_warmup_steps=cfg.warmup_steps,
            num_training_steps=self.steps_per_epoch * cfg.epochs,
        )
        self.trl = self._grpo_trainer()
        if resume_from is not None:
            # After TRL's set-up: with beta > 0 it copies the adapter as its frozen reference,
            # which must stay the starting adapter, not the one trained so far.
            load_adapter_weights(self.bundle.model, resume_from)

    def train_epoch(self, epoch: int) -> float:
        from tqdm.auto import tqdm

        cfg = self.config
        self.trl.train_dataset = self._dataset(epoch)
        self._epoch, self._losses = epoch, []
        self._bar = tqdm(
            total=self.steps_per_epoch, desc=f"epoch {epoch}/{cfg.epochs} (grpo)", unit="step", disable=not cfg.progress
        )
        try:
            self.trl.train()
        finally:
            self._bar.close()
        return sum(self._losses) / max(len(self._losses), 1)

    def save(self, folder: Path, epoch: int) -> None:
        """The trained adapter (not TRL's reference copy)."""
        self.bundle.model.save_pretrained(folder, selected_adapters=["default"])

    def training_state(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "trl_step": int(self.trl._step),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.trl._step = int(state["trl_step"])

    def evaluate(self, epoch: int, tables: Sequence[tuple[StimulusSet, Path]]) -> None:
        score_run_epoch(self.bundle, self.config, self.adapter_label, epoch, tables)

    def state_record(self) -> dict[str, Any]:
        cfg, bundle = self.config, self.bundle
        per_step = cfg.batch_size * cfg.grad_accum
        effective = effective_settings(bundle, cfg, "grpo", "trl", self.device)
        effective["adapter"] = self.adapter
        return {
            "method": "grpo",
            "backend": "trl",
            "device": self.device,
            "data": self.data.summary,
            "max_pixels": bundle.max_pixels,
            "answer_tokens": {"yes": bundle.yes_id, "no": bundle.no_id},
            "grpo": {
                "adapter": self.adapter,
                "num_generations": cfg.num_generations,
                "beta": cfg.beta,
                "temperature": cfg.temperature,
                "max_completion_tokens": self.completion_tokens,
                "grpo_mode": cfg.grpo_mode,
                "use_vllm": cfg.use_vllm,
                "reward": "1 if the answer read from a completion (extract_answer) is the pair's label, else 0",
                "items_per_step": per_step,
                "completions_per_step": per_step * cfg.num_generations,
                "steps_per_epoch": self.steps_per_epoch,
                "pairs_per_epoch": self.steps_per_epoch * per_step,
                "pairs_left_out_per_epoch": len(self.data.items) - self.steps_per_epoch * per_step,
                "trl_version": self.trl_version,
            },
            "effective": effective,
        }

    # -- TRL ------------------------------------------------------------------------------
    def _grpo_trainer(self) -> Any:
        """TRL's trainer over this plug-in's model, optimiser, schedule and reward."""
        from transformers import PrinterCallback, ProgressCallback
        from trl import GRPOConfig
        from trl import GRPOTrainer as TrlGrpoTrainer

        cfg = self.config
        scratch = tempfile.mkdtemp(prefix="cubeworld-grpo-")  # TRL's output_dir: nothing is saved there
        weakref.finalize(self, shutil.rmtree, scratch, True)
        args = GRPOConfig(
            output_dir=scratch,
            per_device_train_batch_size=cfg.batch_size * cfg.num_generations,
            gradient_accumulation_steps=cfg.grad_accum,
            num_generations=cfg.num_generations,
            max_completion_length=self.completion_tokens,
            temperature=cfg.temperature,
            beta=cfg.beta,
            learning_rate=cfg.lr,
            weight_decay=cfg.weight_decay,
            max_grad_norm=cfg.max_grad_norm,
            num_train_epochs=1,
            shuffle_dataset=False,  # the order is the epoch's, drawn here
            seed=cfg.seed,
            logging_steps=1,
            save_strategy="no",
            eval_strategy="no",
            report_to="none",
            disable_tqdm=True,
            bf16=False,  # the model computes in the dtype it was loaded in, as supervised runs do
            fp16=False,
            gradient_checkpointing=False,  # QLoRA's k-bit preparation turns it on for the 4-bit base
            dataloader_pin_memory=False,
            use_cpu=self.device == "cpu",
            use_vllm=cfg.use_vllm,
            vllm_mode="colocate",
        )
        trainer = TrlGrpoTrainer(
            model=self.bundle.model,
            reward_funcs=self._reward,
            args=args,
            train_dataset=self._dataset(1),
            processing_class=self.bundle.processor,
            optimizers=(self.optimizer, self.scheduler),
        )
        for cb in (PrinterCallback, ProgressCallback):
            trainer.remove_callback(cb)
        trainer.add_callback(_StepRecords(self))
        return trainer

    def _reward(self, prompts: Sequence[Any], completions: Sequence[Any], answer: Sequence[str], **kw: Any) -> list:
        rewards, failed = label_rewards(completions, answer)
        log_metric = kw.get("log_metric")
        if log_metric is not None:
            log_metric("extraction_failed", failed / max(len(rewards), 1))
        return rewards

    _reward.__name__ = REWARD_NAME  # TRL names the reward's log entries after the function

    def _dataset(self, epoch: int) -> Any:
        """The epoch's pairs in its seeded order, as TRL reads them: a conversational prompt
        (TRL puts the image before the text, as scoring does), the image file, the label."""
        import datasets

        cfg = self.config
        items = self.data.items
        ordered = [items[i] for i in epoch_order(len(items), cfg.seed, epoch)]
        features = datasets.Features(
            {
                "prompt": datasets.List({"role": datasets.Value("string"), "content": datasets.Value("string")}),
                "image": datasets.Image(mode="RGB"),
                "answer": datasets.Value("string"),
                "stimulus_id": datasets.Value("string"),
            }
        )
        return datasets.Dataset.from_dict(
            {
                "prompt": [[{"role": "user", "content": prompt_for(it.prompt, cfg.grpo_mode)}] for it in ordered],
                "image": [str(it.image) for it in ordered],
                "answer": [YES if it.label else NO for it in ordered],
                "stimulus_id": [it.stimulus_id for it in ordered],
            },
            features=features,
        )

    def _record(self, logs: dict[str, Any]) -> None:
        """One optimiser step in log.jsonl: loss, learning rate, the mean reward of the
        step's completions (and its spread), how many had no readable answer, and the KL."""
        loss = float(logs["loss"])
        self._losses.append(loss)
        extra = {
            name: float(logs[key])
            for name, key in (
                ("reward", "reward"),
                ("reward_std", "reward_std"),
                ("extraction_failed", "extraction_failed"),
                ("kl", "kl"),
                ("completion_length", "completions/mean_length"),
            )
            if key in logs and logs[key] is not None and not math.isnan(float(logs[key]))
        }
        lr = float(logs.get("learning_rate", self.scheduler.get_last_lr()[0]))
        self.log_step(self._epoch, loss, lr, **extra)
        if self._bar is not None:
            self._bar.update(1)
            if "reward" in extra:
                self._bar.set_postfix(reward=f"{extra['reward']:.3f}")


def load_adapter_weights(model: Any, folder: Path) -> None:
    """The adapter weights saved in `folder` into the model's "default" adapter."""
    from peft import set_peft_model_state_dict
    from peft.utils import load_peft_weights

    result = set_peft_model_state_dict(model, load_peft_weights(str(folder)), adapter_name="default")
    unexpected = list(getattr(result, "unexpected_keys", []) or [])
    if unexpected:
        raise ModelsError(f"{folder}: adapter weights this model does not have: {unexpected[:3]}")


def _step_records_class() -> type:
    from transformers import TrainerCallback

    class StepRecords(TrainerCallback):
        """Hands TRL's per-step logs to the plug-in (log.jsonl, the progress bar)."""

        def __init__(self, plug: GrpoTrainer):
            self.plug = plug

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                self.plug._record(logs)

    return StepRecords


def _StepRecords(plug: GrpoTrainer) -> Any:  # noqa: N802 - a class made on first use (transformers is heavy)
    return _step_records_class()(plug)
