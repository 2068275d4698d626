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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cubeworld.models.errors import BackendError

TEMPLATES = Path(__file__).with_name("templates")


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

    def __repr__(self) -> str:
        return f"<ModelFamily {self.name or 'generic'}>"


GENERIC = ModelFamily()


def side_of(max_pixels: int) -> int:
    """The side N of the largest square within a pixel budget (N x N <= max_pixels)."""
    return math.isqrt(int(max_pixels))


def template(name: str) -> str:
    """A chat template shipped with the package (`templates/<name>.jinja`)."""
    return (TEMPLATES / f"{name}.jinja").read_text(encoding="utf-8")
