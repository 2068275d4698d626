"""`FinetuneConfig`: every setting of a fine-tuning run, defaults read from defaults.yaml.

The study's hyperparameters are written once, in `defaults.yaml`; the dataclass reads its
defaults from there, and the studies stage reuses `DEFAULTS`. A config round-trips through
a plain dict (`to_dict` / `from_dict`), which is what a run's `state.json` records.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from cubeworld.formats.yamlfile import read_yaml
from cubeworld.models.errors import ModelsError

DEFAULTS_FILE = Path(__file__).with_name("defaults.yaml")
METHODS = ("auto", "qlora", "lora", "full")
BACKENDS = ("auto", "transformers", "unsloth")
LABEL_POLICIES = ("majority", "each")
DTYPES = ("float32", "bfloat16", "float16")


@lru_cache(maxsize=1)
def load_defaults() -> dict[str, Any]:
    """The parsed defaults.yaml (cached; treat as read-only)."""
    with open(DEFAULTS_FILE, encoding="utf-8") as f:
        return yaml.safe_load(f)


DEFAULTS: dict[str, Any] = load_defaults()
_FT = DEFAULTS["finetune"]


def _d(key: str):
    return field(default=_FT[key])


@dataclass(frozen=True)
class MixSource:
    """A further training set and the fraction of the training pairs drawn from it."""

    set: str
    fraction: float

    @classmethod
    def parse(cls, text: str) -> MixSource:
        """`DIR:0.5` -> MixSource("DIR", 0.5)."""
        path, sep, frac = text.rpartition(":")
        if not sep or not path:
            raise ModelsError(f"mix {text!r}: expected DIR:FRACTION, e.g. sets/pyramids:0.5")
        try:
            value = float(frac)
        except ValueError:
            raise ModelsError(f"mix {text!r}: fraction {frac!r} is not a number") from None
        if not 0 < value < 1:
            raise ModelsError(f"mix {text!r}: fraction must be between 0 and 1")
        return cls(path, value)


@dataclass
class FinetuneConfig:
    """One fine-tuning run. `train` is the main set; `mix` adds sets with fractions.

    With mix [(S2, 0.5)] the run draws 50 % of `max_items` from `train` and 50 % from S2
    (the study's joint 5,000 + 5,000 condition). `labels` is a human-responses table whose
    responses replace the ground truth of the `train` set (items without a response are
    left out); mixed-in sets keep their ground truth.
    """

    model: str
    train: str
    out: str
    mix: list[MixSource] = field(default_factory=list)
    labels: str | None = None
    label_policy: str = _d("label_policy")
    method: str = _d("method")
    backend: str = _d("backend")
    epochs: int = _d("epochs")
    max_items: int = _d("max_items")
    seed: int = _d("seed")
    lr: float = _d("lr")
    weight_decay: float = _d("weight_decay")
    scheduler: str = _d("scheduler")
    warmup_steps: int = _d("warmup_steps")
    batch_size: int = _d("batch_size")
    grad_accum: int = _d("grad_accum")
    max_grad_norm: float = _d("max_grad_norm")
    lora_r: int = _d("lora_r")
    lora_alpha: int = _d("lora_alpha")
    lora_dropout: float = _d("lora_dropout")
    # LoRA targets: "auto" = the linear layers of the vision and decoder blocks, found by
    # walking the model (`cubeworld.models.lora`), or a regex / list of names (peft's).
    target_modules: str | list[str] = _d("target_modules")
    lora_extra: list[str] = field(default_factory=list)  # named groups (lora_targets.yaml) or regexes
    lora_exclude: list[str] = field(default_factory=list)  # regexes left out of "auto"
    eval_sets: list[str] = field(default_factory=list)
    eval_batch_size: int = 8
    # The one image-size option: image_size N = a budget of N x N pixels, or max_pixels;
    # each model family maps it onto its processor. None = the model's own.
    image_size: int | None = None
    max_pixels: int | None = None
    dtype: str | None = None  # float32 / bfloat16 / float16; None = bfloat16 on CUDA, else float32
    condition: str = ""  # the `condition` column of the predictions written
    adapter_label: str | None = None  # the `adapter` column; default: the run folder's name
    model_label: str | None = None  # the `model` column; default: `model` (id or path)
    device: str | None = None
    num_workers: int = 0  # processes decoding images ahead of the model (useful on a GPU)
    progress: bool = True

    def __post_init__(self) -> None:
        self.mix = [
            m
            if isinstance(m, MixSource)
            else MixSource(**m)
            if isinstance(m, dict)
            else MixSource(str(m[0]), float(m[1]))
            for m in self.mix
        ]
        self.eval_sets = [str(s) for s in self.eval_sets]
        for name, value, allowed in (
            ("method", self.method, METHODS),
            ("backend", self.backend, BACKENDS),
            ("label_policy", self.label_policy, LABEL_POLICIES),
        ):
            if value not in allowed:
                raise ModelsError(f"{name} must be one of {list(allowed)}, got {value!r}")
        if self.scheduler not in ("linear", "constant", "cosine"):
            raise ModelsError(f"scheduler must be linear, constant or cosine, got {self.scheduler!r}")
        for name in ("epochs", "max_items", "batch_size", "grad_accum", "lora_r"):
            if int(getattr(self, name)) < 1:
                raise ModelsError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.image_size is not None and self.max_pixels is not None:
            raise ModelsError(f"give image_size ({self.image_size}) or max_pixels ({self.max_pixels}), not both")
        for name in ("image_size", "max_pixels"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ModelsError(f"{name} must be a positive whole number of pixels, got {value!r}")
        if self.dtype is not None and self.dtype not in DTYPES:
            raise ModelsError(f"dtype must be one of {list(DTYPES)}, got {self.dtype!r}")
        if isinstance(self.target_modules, (list, tuple)):
            self.target_modules = [str(t) for t in self.target_modules]
        elif not isinstance(self.target_modules, str) or not self.target_modules:
            raise ModelsError(
                f"target_modules must be 'auto', a regex or a list of module names, got {self.target_modules!r}"
            )
        for name in ("lora_extra", "lora_exclude"):
            value = getattr(self, name)
            if isinstance(value, str) or not isinstance(value, (list, tuple)):
                raise ModelsError(f"{name} must be a list of names or regexes, got {value!r}")
            setattr(self, name, [str(v) for v in value])
        total = sum(m.fraction for m in self.mix)
        if total >= 1:
            raise ModelsError(f"mix fractions add up to {total:g}; the train set needs a share > 0")

    @property
    def pixel_budget(self) -> int | None:
        """The image-size option as a pixel budget (image_size N = N x N), None = the model's."""
        return self.image_size**2 if self.image_size is not None else self.max_pixels

    @property
    def train_fraction(self) -> float:
        return 1.0 - sum(m.fraction for m in self.mix)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mix"] = [asdict(m) for m in self.mix]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FinetuneConfig:
        unknown = set(d) - set(field_names())
        if unknown:
            raise ModelsError(f"unknown FinetuneConfig field(s): {sorted(unknown)}")
        return cls(**d)

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> FinetuneConfig:
        d = read_yaml(path, ModelsError) or {}
        if not isinstance(d, dict):
            raise ModelsError(f"{path}: expected a mapping of FinetuneConfig fields")
        d.update(overrides)
        return cls.from_dict(d)

    # Fields that may change when a run is resumed (they do not change what is trained).
    RESUMABLE_CHANGES = ("out", "progress", "eval_sets", "eval_batch_size", "device", "num_workers")


def field_names() -> tuple[str, ...]:
    """Every FinetuneConfig field: what a study's per-model `training:` block may override."""
    return tuple(f.name for f in fields(FinetuneConfig))
