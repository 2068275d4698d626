"""`ModelFamily`: the few things that differ between VLM architectures, in one place each.

Why: scoring and fine-tuning are written once, against the Auto classes and the chat
template. What is left differs per architecture and is small: how an image-size request
maps onto the processor (Qwen's pixel budget, Idefics3's longest edge and tiles,
LLaVA-OneVision's grid of crops), which size an image is actually fed at, which processor
works without torchvision, and how to build a tiny random model of the family offline.
Each family is one module with one `ModelFamily` subclass, registered by name in
`cubeworld.models.families.MODEL_FAMILIES`; a loaded checkpoint finds its family through
its config's `model_type`. No stage branches on an architecture name.

A checkpoint of an architecture no family covers still scores and fine-tunes (LoRA
targets are found by walking the model, answer tokens from the chat template); only an
explicit image size is refused for it, since there is no known mapping to apply.

Each family also names its activation points (`activation_points`): where the probes of
`cubeworld.models.activations` read the model (vision blocks, projector, decoder layers),
and how the vision side's outputs split into images (`image_rows`). An architecture no
family covers still has its decoder layers (found through `get_decoder()`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cubeworld.models.errors import BackendError

TEMPLATES = Path(__file__).with_name("templates")


STAGES = ("vision", "projector", "decoder")


@dataclass(frozen=True)
class ActivationPoint:
    """A named place whose output the activation extraction reads.

    name: "vision.N" (vision block N), "projector" (what turns vision features into image
        tokens: Qwen's merger, Idefics3's connector, LLaVA's and Gemma 3's projector),
        "deepstack.N" (Qwen3-VL's DeepStack merger N) or "decoder.N" (decoder layer N).
    module: the module's path in the model as loaded (`named_modules()` of the base model,
        under any peft wrapper).
    stage: "vision" / "projector" (outputs are image tokens only, pooled per image) or
        "decoder" (the text sequence: pooled at the image tokens and at the answer position).
    """

    name: str
    module: str
    stage: str


@dataclass
class TinyModel:
    """What a family's tiny builder returns: the random model, its processor, facts to record."""

    model: Any
    processor: Any
    spec: dict[str, Any] = field(default_factory=dict)


class ModelFamily:
    """One architecture family. Subclasses set the class attributes and override methods.

    Image sizes are requested as a pixel budget (`max_pixels`; `image_size=N` means N x N),
    and each family maps the budget onto its own processor arguments.
    """

    name: str = ""  # registry name, e.g. "qwen2-vl" (also `--family` of build-tiny)
    model_types: tuple[str, ...] = ()  # `config.model_type` values this family covers
    model_class: str = ""  # the transformers model class (documentation, README table)
    processor_class: str = ""  # the transformers processor class it uses
    image_size_mechanism: str = "none known: an explicit image size is refused"
    caveats: tuple[str, ...] = ()
    # A processor class (module:Class) that needs no torchvision, for when the upstream one
    # cannot be built here (its video processor imports torchvision).
    video_free_processor: str | None = None

    # -- tiny model -----------------------------------------------------------------------
    def build_tiny(self, seed: int, vocab_size: int | None) -> TinyModel:
        raise NotImplementedError(f"model family {self.name!r} has no tiny builder")

    # -- image size -----------------------------------------------------------------------
    def set_max_pixels(self, processor: Any, config: Any, max_pixels: int) -> None:
        """Cap the pixels an image is fed at (processor, and `config` where the model needs it)."""
        raise BackendError(
            f"model type {getattr(config, 'model_type', '?')!r}: no known way to set its image "
            "size (image_size / max_pixels); leave them unset to use the model's own"
        )

    def max_pixels_of(self, processor: Any) -> int | None:
        """The pixel cap the processor applies now (None when it has none)."""
        return None

    def fed_size(self, processor: Any, height: int, width: int) -> tuple[int, int] | None:
        """(height, width) an image of this size is fed to the vision encoder at."""
        return None

    # -- activation points (cubeworld.models.activations) ---------------------------------
    # Paths in the model as loaded; "" where the family has none. `projectors` pairs a point
    # name with a module, or with a ModuleList (then one point per element: "name.N").
    vision_blocks: str = ""
    projectors: tuple[tuple[str, str], ...] = ()

    def activation_points(self, model: Any) -> list[ActivationPoint]:
        """Every point of this family in `model` (a transformers model, or peft-wrapped)."""
        base = _base_model(model)
        points: list[ActivationPoint] = []
        if self.vision_blocks:
            blocks = _submodule(base, self.vision_blocks, self)
            points += [
                ActivationPoint(f"vision.{i}", f"{self.vision_blocks}.{i}", "vision") for i in range(len(blocks))
            ]
        for name, path in self.projectors:
            module = _submodule(base, path, self)
            if type(module).__name__ == "ModuleList":
                points += [ActivationPoint(f"{name}.{i}", f"{path}.{i}", "projector") for i in range(len(module))]
            else:
                points.append(ActivationPoint(name, path, "projector"))
        layers = decoder_layers_path(base)
        n = len(_submodule(base, layers, self))
        points += [ActivationPoint(f"decoder.{i}", f"{layers}.{i}", "decoder") for i in range(n)]
        return points

    def image_rows(self, batch: dict[str, Any], stage: str, config: Any) -> list[int]:
        """Per image of `batch`, how many rows (first dimension) of a vision-side point's
        output belong to it (a vision block's or the projector's), in batch order."""
        raise BackendError(f"model family {self.name or 'generic'!r}: no known split of vision outputs into images")

    def __repr__(self) -> str:
        return f"<ModelFamily {self.name or 'generic'}>"


GENERIC = ModelFamily()


def _base_model(model: Any) -> Any:
    """The transformers model under a peft wrapper (the model itself when unwrapped)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _submodule(base: Any, path: str, family: ModelFamily) -> Any:
    try:
        return base.get_submodule(path)
    except AttributeError:
        raise BackendError(
            f"model type {getattr(base.config, 'model_type', '?')!r}: no module {path!r}, where model "
            f"family {family.name or 'generic'!r} reads activations (a checkpoint of another layout?)"
        ) from None


def decoder_layers_path(base: Any) -> str:
    """The path of the decoder's layer list, found through `get_decoder()` (every family)."""
    decoder = base.get_decoder() if hasattr(base, "get_decoder") else None
    for name, module in base.named_modules():
        if module is decoder and hasattr(module, "layers"):
            return f"{name}.layers" if name else "layers"
    raise BackendError(f"model type {getattr(base.config, 'model_type', '?')!r}: no decoder with a `layers` list found")


def side_of(max_pixels: int) -> int:
    """The side N of the largest square within a pixel budget (N x N <= max_pixels)."""
    return math.isqrt(int(max_pixels))


def template(name: str) -> str:
    """A chat template shipped with the package (`templates/<name>.jinja`)."""
    return (TEMPLATES / f"{name}.jinja").read_text(encoding="utf-8")
