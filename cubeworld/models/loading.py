"""Load a VLM and its processor the same way for a hub id and a local folder.

`load_model("Qwen/Qwen2-VL-7B-Instruct", quantize="4bit")` on a GPU machine and
`load_model("runs/tiny")` here take the same path: `AutoModelForImageTextToText` +
`AutoProcessor`, an optional peft adapter, and the ids of the "Yes" and "No" answer tokens
read from what the model's own chat template produces.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cubeworld.formats.answers import NO, YES
from cubeworld.models.errors import AnswerTokenError, BackendError, ModelNotFoundError, ModelsError
from cubeworld.models.families import GENERIC, ModelFamily, model_family_of


@dataclass(frozen=True)
class AnswerTokens:
    """Token ids of the two answers at the first assistant position, and what follows them."""

    yes: int
    no: int
    end_of_turn: tuple[int, ...]  # tokens the template puts after the answer (not trained)


@dataclass
class ModelBundle:
    """A loaded model with everything scoring and training need."""

    model: Any  # a transformers (or peft) image-text-to-text model
    processor: Any
    answer: AnswerTokens
    name: str  # the id or folder it was loaded from (the `model` column of predictions)
    adapter: str = ""  # adapter folder, "" when none
    device: str = "cpu"
    info: dict[str, Any] = field(default_factory=dict)
    family: ModelFamily = GENERIC  # what this architecture does differently (image size)

    @property
    def yes_id(self) -> int:
        return self.answer.yes

    @property
    def no_id(self) -> int:
        return self.answer.no

    @property
    def max_pixels(self) -> int | None:
        """The pixel cap images are fed under now (the family's reading of its processor)."""
        return self.family.max_pixels_of(self.processor)

    @property
    def dtype(self) -> str:
        return str(self.info.get("dtype", ""))

    @property
    def quantize(self) -> str:
        return str(self.info.get("quantize", ""))

    def set_image_size(self, image_size: int | None = None, max_pixels: int | None = None) -> None:
        """Feed images under another pixel budget from now on (processor and model config)."""
        budget = pixel_budget(image_size, max_pixels)
        if budget is not None:
            self.family.set_max_pixels(self.processor, getattr(self.model, "config", None), budget)
            self.info["max_pixels"] = self.max_pixels


def pixel_budget(image_size: int | None, max_pixels: int | None) -> int | None:
    """The one image-size option as a pixel budget: `image_size` N means N x N pixels."""
    if image_size is not None and max_pixels is not None:
        raise ModelsError(f"give image_size ({image_size}) or max_pixels ({max_pixels}), not both")
    if image_size is not None:
        if int(image_size) < 1:
            raise ModelsError(f"image_size must be a positive number of pixels, got {image_size}")
        return int(image_size) ** 2
    if max_pixels is not None and int(max_pixels) < 1:
        raise ModelsError(f"max_pixels must be a positive number of pixels, got {max_pixels}")
    return None if max_pixels is None else int(max_pixels)


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _is_local(name_or_path: str) -> bool:
    """A path rather than a hub id ("org/name" has exactly one slash and no leading / . ~)."""
    return (
        name_or_path.startswith(("/", ".", "~"))
        or name_or_path.count("/") > 1
        or "\\" in name_or_path
        or Path(name_or_path).exists()
    )


def _check_source(name_or_path: str) -> None:
    path = Path(name_or_path)
    if path.exists():
        if not path.is_dir():
            raise ModelNotFoundError(f"model {name_or_path!r}: not a folder")
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(f"model {name_or_path!r}: folder has no config.json (not a model checkpoint)")
    elif _is_local(name_or_path):
        raise ModelNotFoundError(f"model {name_or_path!r}: no such folder")


def load_processor(name_or_path: str, family: ModelFamily = GENERIC) -> Any:
    """`AutoProcessor`, falling back to the family's video-free processor without torchvision."""
    from transformers import AutoProcessor

    import cubeworld.models.processor  # noqa: F401  (registers the video-free processors)

    try:
        processor = AutoProcessor.from_pretrained(name_or_path)
    except (ImportError, AttributeError) as e:
        # Upstream Qwen2-VL / Qwen2.5-VL / LLaVA-OneVision processors build a torchvision
        # video processor; images need none.
        if not family.video_free_processor:
            raise ModelNotFoundError(f"model {name_or_path!r}: cannot load its processor ({e})") from None
        import importlib

        module, _, cls = family.video_free_processor.partition(":")
        try:
            processor = getattr(importlib.import_module(module), cls).from_pretrained(name_or_path)
        except Exception:
            raise ModelNotFoundError(f"model {name_or_path!r}: cannot load its processor ({e})") from None
    if not hasattr(processor, "image_processor") or not hasattr(processor, "tokenizer"):
        raise ModelNotFoundError(
            f"model {name_or_path!r}: its processor ({type(processor).__name__}) has no image "
            "processor; is it an image-text-to-text model?"
        )
    return processor


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def give_pad_token(processor: Any) -> None:
    """Batches are padded: a tokenizer without a pad token pads with its end-of-text token."""
    tokenizer = processor.tokenizer
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token


def chat_template_of(processor: Any) -> str:
    """The chat template the processor renders prompts with ("" when it has none)."""
    return (
        getattr(processor, "chat_template", None)
        or getattr(getattr(processor, "tokenizer", None), "chat_template", None)
        or ""
    )


def find_answer_tokens(processor: Any, name: str = "model") -> AnswerTokens:
    """Ids of "Yes" / "No" as the chat template produces them right after the assistant turn.

    Renders a conversation ending with the generation prompt and the same conversation with
    the assistant answering "Yes" (and "No"); the answer's tokens are what the full rendering
    adds after the prompt, minus the end-of-turn tokens common to both answers. That picks
    "Yes" rather than " Yes" for templates that end in a newline, and it fails loudly when a
    tokenizer needs more than one token for an answer (scoring reads one position only).
    """
    tokenizer = processor.tokenizer
    if not (getattr(processor, "chat_template", None) or getattr(tokenizer, "chat_template", None)):
        raise AnswerTokenError(f"model {name!r}: the processor has no chat template")
    user = [{"role": "user", "content": [{"type": "text", "text": "Will the tower fall?"}]}]

    def render(messages, gen):
        return processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)

    prompt = render(user, True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    tails = {}
    for answer in (YES, NO):
        full = render(user + [{"role": "assistant", "content": [{"type": "text", "text": answer}]}], False)
        ids = tokenizer(full, add_special_tokens=False)["input_ids"]
        if not full.startswith(prompt) or ids[: len(prompt_ids)] != prompt_ids:
            raise AnswerTokenError(
                f"model {name!r}: the chat template's answer turn does not continue its "
                "generation prompt; cannot locate the answer token"
            )
        tails[answer] = ids[len(prompt_ids) :]
    yes_tail, no_tail = tails[YES], tails[NO]
    common = 0
    while (
        common < min(len(yes_tail), len(no_tail))
        and yes_tail[len(yes_tail) - 1 - common] == no_tail[len(no_tail) - 1 - common]
    ):
        common += 1
    suffix = tuple(yes_tail[len(yes_tail) - common :]) if common else ()
    for answer, tail in tails.items():
        core = tail[: len(tail) - common]
        if len(core) != 1:
            pieces = tokenizer.convert_ids_to_tokens(core)
            raise AnswerTokenError(
                f"model {name!r}: its tokenizer splits {answer!r} into {len(core)} tokens "
                f"{pieces}; Yes/No scoring needs each answer to be a single token"
            )
    return AnswerTokens(yes=yes_tail[0], no=no_tail[0], end_of_turn=suffix)


def _quantization_config(quantize: str | None, dtype):
    if quantize in (None, "", "none"):
        return None
    if quantize not in ("4bit", "8bit"):
        raise BackendError(f"quantize must be 4bit, 8bit or none, got {quantize!r}")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise BackendError(f"quantize={quantize} needs bitsandbytes (pip install 'cubeworld[gpu]')") from None
    from transformers import BitsAndBytesConfig

    if quantize == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype
    )


def load_model(
    name_or_path: str | Path,
    *,
    adapter: str | Path | None = None,
    quantize: str | None = None,
    device: str | None = None,
    max_pixels: int | None = None,
    image_size: int | None = None,
    dtype: str | None = None,
    trainable_adapter: bool = False,
) -> ModelBundle:
    """Load model + processor (+ adapter) and find the answer tokens.

    name_or_path: a hub id (needs the hub or its cache) or a local folder.
    adapter: a peft adapter folder (e.g. `RUN/checkpoints/epoch-10`).
    quantize: None, "4bit" (nf4, the study's QLoRA base) or "8bit"; needs bitsandbytes.
    device: "cuda", "cpu", ...; default CUDA when available.
    image_size / max_pixels: the one image-size option (N means N x N pixels), mapped onto
        the processor by the model's family (`cubeworld.models.families`); default: the
        checkpoint's own.
    dtype: "float32" / "bfloat16" / "float16"; default bfloat16 on CUDA, float32 on CPU.
    """
    import torch
    from safetensors import SafetensorError
    from transformers import AutoConfig, AutoModelForImageTextToText

    name = str(name_or_path)
    _check_source(name)
    budget = pixel_budget(image_size, max_pixels)
    device = device or default_device()
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BackendError(f"device {device!r} asked for, but CUDA is not available here")
    dtype = resolve_dtype(dtype, device)
    torch_dtype = getattr(torch, dtype)
    try:
        config = AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelNotFoundError(
            f"model {name!r}: cannot load it (no such local folder, and the hub or its cache does not have it: {first})"
        ) from None
    family = model_family_of(getattr(config, "model_type", None))
    processor = load_processor(name, family)
    if budget is not None:
        family.set_max_pixels(processor, config, budget)
    answer = find_answer_tokens(processor, name)
    quant = _quantization_config(quantize, torch_dtype)
    kwargs: dict[str, Any] = {"dtype": torch_dtype, "config": config}
    if quant is not None:
        kwargs["quantization_config"] = quant
        kwargs["device_map"] = {"": device}
    try:
        model: Any = AutoModelForImageTextToText.from_pretrained(name, **kwargs)
    except (OSError, ValueError, SafetensorError) as e:  # a truncated or corrupt weights file too
        raise ModelNotFoundError(f"model {name!r}: cannot load its weights ({_first_line(e)})") from None
    if quant is None:
        model.to(device)
    else:
        keep_4bit_unpacked(model)
    adapter_str = ""
    if adapter:
        adapter_path = Path(adapter)
        if not (adapter_path / "adapter_config.json").is_file():
            raise ModelNotFoundError(f"adapter {str(adapter)!r}: no adapter_config.json there (not a peft adapter)")
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, str(adapter_path), is_trainable=trainable_adapter)
        except (OSError, ValueError, SafetensorError) as e:
            raise ModelNotFoundError(f"adapter {str(adapter)!r}: cannot load it ({_first_line(e)})") from None
        adapter_str = str(adapter)
    model.eval()
    give_pad_token(processor)
    info = {
        "model_type": getattr(model.config, "model_type", ""),
        "family": family.name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "dtype": dtype,
        "quantize": quantize or "",
        "max_pixels": family.max_pixels_of(processor),
        "tiny": (Path(name) / "cubeworld_tiny.json").is_file() if Path(name).is_dir() else False,
    }
    tiny_file = Path(name) / "cubeworld_tiny.json"
    if tiny_file.is_file():
        info["tiny_spec"] = json.loads(tiny_file.read_text())
    return ModelBundle(
        model=model,
        processor=processor,
        answer=answer,
        name=name,
        adapter=adapter_str,
        device=device,
        info=info,
        family=family,
    )


def keep_4bit_unpacked(model: Any) -> None:
    """Keep bitsandbytes from repacking 4-bit weights for CPU inference.

    On a CPU with AVX512-BF16, bitsandbytes repacks a 4-bit weight the first time it sees
    an eval-mode forward pass without gradients, and computes through a bf16 kernel from
    then on. That path cannot be trained through (the next training step fails), and its
    scores differ from the unpacked path by ~5e-4 in P(Yes): a run's per-epoch predictions
    and a reload of its adapter would disagree. One path for every 4-bit model keeps them
    equal. (No effect on CUDA, or on CPUs without AVX512-BF16.)
    """
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False


DTYPES = ("float32", "bfloat16", "float16")


def resolve_dtype(dtype: str | None, device: str) -> str:
    """The dtype to load in: as given, else bfloat16 on CUDA and float32 on the CPU."""
    if dtype is None:
        return "bfloat16" if device.startswith("cuda") else "float32"
    if dtype not in DTYPES:
        raise ModelsError(f"dtype must be one of {list(DTYPES)}, got {dtype!r}")
    return dtype
