"""Typed settings of a VLM, each declared once: how it is fed, adapted, scored and fine-tuned.

One frozen dataclass per component, with every default, help text and bound in its field
(`cubeworld.typed`): YAML files, study `training:` / `scoring:` blocks, state.json and the
command line's options are all read from these declarations.

    VlmInputs       how images reach the model: image size (or pixel budget), dtype,
                    device, decoding workers (shared by scoring and fine-tuning)
    VlmScoring      `evaluate()`'s settings: batch size, prompting mode (logprob, free,
                    step) and tokens generated, quantization
    AdapterSettings LoRA / QLoRA: rank, alpha, dropout, target modules; turned into peft's
                    `LoraConfig` by `lora_config` (two hops, as TRL's ModelConfig ->
                    get_peft_config)
    SftSettings     supervised fine-tuning: method, backend, optimiser and schedule, batch
    GrpoSettings    GRPO (`method: grpo`): group size, KL weight, sampling temperature,
                    completion length, what is trained, vLLM
    VlmTraining     SftSettings + GrpoSettings: what a study's per-model `training:` block
                    may set (GRPO's settings are refused unless the method is grpo)
    FinetuneConfig  one fine-tuning run: VlmTraining + the data draw + where it writes

The study's own values (lr 2e-4, r = 16, alpha = 16, 10 epochs, 10,000 pairs) and the
follow-up's group of 16 come from `cubeworld.hyperparameters`, with the papers' words.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from cubeworld.hyperparameters import EPOCHS, GRPO_BETA, GRPO_GENERATIONS, LEARNING_RATE, LORA_ALPHA, LORA_R
from cubeworld.models.errors import ModelsError
from cubeworld.models.modes import DEFAULT_MODE, GENERATING_MODES
from cubeworld.trainer.data import DataDraw, LabelPolicy, MixSource
from cubeworld.trainer.loop import RunSettings
from cubeworld.typed import default_of, from_plain, setting, to_plain

MOST_PIXELS_SIDE = 8192  # an image side no model here is fed at
MOST_BATCH = 4096
MOST_WORKERS = 256
MOST_EPOCHS = 10_000
MOST_NEW_TOKENS = 32_768
MOST_GENERATIONS = 1024

__all__ = [
    "AdapterSettings",
    "FinetuneConfig",
    "GrpoSettings",
    "MixSource",
    "SftSettings",
    "VlmTraining",
    "VlmInputs",
    "VlmScoring",
    "default_of",
    "lora_config",
]


class Typed:
    """`parse` (plain data -> a checked config, errors naming the key) and `to_plain`."""

    @classmethod
    def parse(cls, data: Mapping[str, Any], where: str = "settings") -> Any:
        """`data` (YAML, a state.json's copy, options) as a checked config; a ModelsError
        names the key (and the file and line, for YAML read by `read_yaml`)."""
        return from_plain(cls, data, where, ModelsError)

    def to_plain(self) -> dict[str, Any]:
        return to_plain(self)


@dataclass(frozen=True, kw_only=True)
class VlmInputs(Typed):
    """How images reach a VLM: the one image-size option, the dtype, the device and the
    processes that decode images ahead of the model."""

    image_size: int | None = setting(
        None,
        help="Image size N: a budget of N x N pixels, mapped by the model's family (default: the model's own).",
        minimum=28,
        maximum=MOST_PIXELS_SIDE,
    )
    max_pixels: int | None = setting(
        None,
        help="Image pixel budget (h x w); give this or --image-size.",
        minimum=28 * 28,
        maximum=MOST_PIXELS_SIDE**2,
    )
    dtype: Literal["float32", "bfloat16", "float16"] | None = setting(
        None, help="float32 / bfloat16 / float16 (default: bfloat16 on CUDA, else float32)."
    )
    device: str | None = setting(None, help="cuda / cpu (default: cuda if there).")
    num_workers: int = setting(
        0, help="Processes decoding images ahead of the model.", minimum=0, maximum=MOST_WORKERS, cli="--workers"
    )

    def check_inputs(self) -> None:
        if self.image_size is not None and self.max_pixels is not None:
            raise ValueError(f"give image_size ({self.image_size}) or max_pixels ({self.max_pixels}), not both")

    @property
    def pixel_budget(self) -> int | None:
        """The image-size option as a pixel budget (image_size N = N x N), None = the model's."""
        return self.image_size**2 if self.image_size is not None else self.max_pixels


@dataclass(frozen=True, kw_only=True)
class VlmScoring(VlmInputs):
    """How `evaluate()` scores (what a study's per-model `scoring:` block may set)."""

    batch_size: int = setting(8, help="Items per forward pass.", minimum=1, maximum=MOST_BATCH)
    mode: Literal["logprob", "free", "step"] = setting(
        DEFAULT_MODE,
        help="logprob: P(Yes) from the Yes/No logits (the study's); free: generate, then read the answer; "
        "step: reason step by step first, then answer.",
    )
    max_new_tokens: int | None = setting(
        None,
        help="Tokens generated per item in free / step mode, or for free_text (default: free 16, step 256, "
        "free_text 5).",
        minimum=1,
        maximum=MOST_NEW_TOKENS,
    )
    free_text: bool = setting(False, help="Also generate a few tokens per item (logprob mode).")
    quantize: Literal["4bit", "8bit", "none"] | None = setting(None, help="4bit or 8bit (bitsandbytes), or none.")

    def __post_init__(self) -> None:
        self.check_inputs()
        if self.mode in GENERATING_MODES and self.free_text:
            raise ValueError(f"free_text: mode {self.mode} records the generated text already; leave free_text out")
        if self.mode == DEFAULT_MODE and not self.free_text and self.max_new_tokens is not None:
            raise ValueError(
                "max_new_tokens: mode logprob generates nothing; give mode free or step (or free_text: true)"
            )


@dataclass(frozen=True, kw_only=True)
class AdapterSettings(Typed):
    """LoRA / QLoRA adapters: the first hop; `lora_config` makes peft's LoraConfig."""

    lora_r: int = setting(LORA_R, help="LoRA rank r.", minimum=1, maximum=4096)
    lora_alpha: int = setting(
        LORA_ALPHA, help="LoRA alpha (the update is scaled by alpha / r).", minimum=1, maximum=65536
    )
    lora_dropout: float = setting(0.0, help="Dropout on the LoRA path.", minimum=0, below=1)
    # "auto" = the linear layers of the vision and decoder blocks, found by walking the
    # model (`cubeworld.models.lora`), or a regex / list of names (peft's).
    target_modules: str | tuple[str, ...] = setting(
        "auto", help="LoRA targets: auto (default), a regex, or names joined by commas.", cli=False
    )
    lora_extra: tuple[str, ...] = setting(
        (), help="Also wrap this named group (e.g. projector) or regex (repeatable).", cli="--lora-extra"
    )
    lora_exclude: tuple[str, ...] = setting((), help="Leave block linears matching this regex out (repeatable).")

    def check_adapter(self) -> None:
        if isinstance(self.target_modules, str) and not self.target_modules:
            raise ValueError("target_modules must be 'auto', a regex or a list of module names, got ''")
        if not isinstance(self.target_modules, str) and not self.target_modules:
            raise ValueError("target_modules must be 'auto', a regex or a list of module names, got []")


def lora_config(settings: AdapterSettings, modules: list[str]):
    """peft's `LoraConfig` for `settings`, wrapping the resolved `modules`."""
    from peft import LoraConfig

    return LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        bias="none",
        target_modules=modules,
    )


@dataclass(frozen=True, kw_only=True)
class SftSettings(VlmInputs, AdapterSettings, LabelPolicy):
    """Supervised fine-tuning on Yes/No answers: what a study's per-model `training:` may set."""

    method: Literal["auto", "qlora", "lora", "full", "grpo"] = setting(
        "auto",
        help="auto (qlora on CUDA; full for the tiny model, lora otherwise on the CPU), qlora, lora, full; "
        "grpo: reinforcement from the simulated label (TRL's GRPO).",
    )
    backend: Literal["auto", "transformers", "unsloth"] = setting(
        "auto", help="auto = transformers + peft; unsloth only when asked (CUDA)."
    )
    lr: float = setting(LEARNING_RATE, help="Initial learning rate (AdamW).", above=0, maximum=10)
    weight_decay: float = setting(0.0, help="AdamW weight decay.", minimum=0, maximum=10)
    scheduler: Literal["linear", "constant", "cosine"] = setting(
        "linear",
        help="Learning-rate schedule: linear decay from the initial rate (unsloth's default), constant, cosine.",
    )
    warmup_steps: int = setting(5, help="Warm-up steps of the schedule.", minimum=0, maximum=10_000_000)
    batch_size: int = setting(8, help="Training pairs per step.", minimum=1, maximum=MOST_BATCH)
    grad_accum: int = setting(1, help="Batches per optimiser step.", minimum=1, maximum=MOST_BATCH)
    max_grad_norm: float = setting(1.0, help="Gradient clipping (0: none).", minimum=0, maximum=1e6)

    def __post_init__(self) -> None:
        self.check_inputs()
        self.check_adapter()


@dataclass(frozen=True, kw_only=True)
class GrpoSettings(Typed):
    """GRPO (`method: grpo`): per item, sample a group of completions, reward each 1 when the
    answer read from it (`cubeworld.models.modes.extract_answer`) is the item's label, else 0,
    and move the policy towards the completions that beat their group's mean (TRL's
    `GRPOTrainer`). `batch_size` counts items, so each step samples batch_size x
    num_generations completions."""

    num_generations: int = setting(
        GRPO_GENERATIONS,
        help="Completions sampled per item (the group GRPO compares; the follow-up: 16).",
        minimum=2,
        maximum=MOST_GENERATIONS,
    )
    beta: float = setting(
        GRPO_BETA, help="KL weight against the starting model (0: no KL term).", minimum=0, maximum=1e3
    )
    temperature: float = setting(1.0, help="Sampling temperature of the completions.", above=0, maximum=100)
    max_completion_tokens: int | None = setting(
        None,
        help="Tokens a sampled completion may have (default: the grpo_mode's, free 16, step 256).",
        minimum=1,
        maximum=MOST_NEW_TOKENS,
    )
    grpo_mode: Literal["free", "step"] = setting(
        "free", help="The prompt completions answer: free (the study's prompt) or step (+ the step-by-step suffix)."
    )
    grpo_adapter: Literal["auto", "qlora", "lora"] = setting(
        "auto", help="What GRPO trains: auto (qlora on CUDA, lora on the CPU), qlora (4-bit base + LoRA), lora."
    )
    use_vllm: bool = setting(False, help="Sample completions with vLLM (TRL's colocate mode; CUDA and vllm installed).")


GRPO_FIELDS = tuple(f.name for f in dataclasses.fields(GrpoSettings))


@dataclass(frozen=True, kw_only=True)
class VlmTraining(SftSettings, GrpoSettings):
    """How a VLM learns: supervised fine-tuning (method auto, qlora, lora, full) or GRPO
    (method grpo). A GRPO setting given to another method is refused, never ignored."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.method != "grpo":
            changed = [n for n in GRPO_FIELDS if getattr(self, n) != default_of(GrpoSettings, n)]
            if changed:
                raise ValueError(f"{changed[0]}: a GRPO setting, but method is {self.method}; give method: grpo")
        elif self.backend == "unsloth":
            raise ValueError("backend unsloth: GRPO runs on TRL with transformers + peft; leave backend out")


@dataclass(frozen=True, kw_only=True)
class FinetuneConfig(VlmTraining, DataDraw, RunSettings):
    """One fine-tuning run. `train` is the main set; `mix` adds sets with fractions.

    With mix [(S2, 0.5)] the run draws 50 % of `max_items` from `train` and 50 % from S2
    (the study's joint 5,000 + 5,000 condition). `labels` is a human-responses table whose
    responses replace the ground truth of the `train` set (items without a response are
    left out); mixed-in sets keep their ground truth.
    """

    model: str = setting(help="Hub id or local folder.")
    epochs: int = setting(EPOCHS, help="Epochs to train.", minimum=1, maximum=MOST_EPOCHS)
    eval_batch_size: int = setting(
        default_of(VlmScoring, "batch_size"),
        help="Batch size of the per-epoch evaluation.",
        minimum=1,
        maximum=MOST_BATCH,
    )

    RESUMABLE_CHANGES: ClassVar[tuple[str, ...]] = (*RunSettings.RESUMABLE_CHANGES, "device", "num_workers")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_draw()

    def checked(self) -> FinetuneConfig:
        """This config with every value checked (types, bounds), as `parse` would give it."""
        return FinetuneConfig.parse(self.to_plain(), "finetune config")

    def scoring(self) -> VlmScoring:
        """The settings of its per-epoch evaluation."""
        inputs = {f.name: getattr(self, f.name) for f in dataclasses.fields(VlmInputs)}
        return VlmScoring(**inputs, batch_size=self.eval_batch_size)
