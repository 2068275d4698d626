"""LoRA targets derived from the architecture: the linear layers of the transformer blocks.

The study fine-tunes "the vision encoder and the decoder's attention and MLP". Rather than
a regex of module names tuned to one family (which silently wraps nothing, or the wrong
layers, in the next one), the targets are found by walking the model: a *block* is an
element of a `ModuleList` that holds an attention module (vision blocks, encoder layers,
decoder layers, whatever a family calls them), and every linear layer inside a block is a
target. Patch embeddings, mergers, connectors, projectors and the LM head sit outside the
blocks and stay unwrapped unless asked for. A block is "decoder" when it lies inside the
model's decoder (`get_decoder()`), else "vision".

The exceptions live in `lora_targets.yaml`, per model type: named extra groups a run may
ask for (`lora_extra: [projector]`) and linears to leave out by default. A run may also give
`target_modules` itself (a regex or a list of names, peft's semantics).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from cubeworld.models.errors import ModelsError

TARGETS_FILE = Path(__file__).with_name("lora_targets.yaml")
AUTO = "auto"


@lru_cache(maxsize=1)
def load_target_table() -> dict[str, Any]:
    with open(TARGETS_FILE, encoding="utf-8") as f:
        return yaml.safe_load(f)


def family_rules(model_type: str) -> dict[str, Any]:
    """The override table's entry for `model_type` (extras and exclusions), with defaults."""
    table = load_target_table()
    own = (table.get("model_types") or {}).get(model_type) or {}
    extras: dict[str, Any] = {**dict(table["default"].get("extras") or {}), **dict(own.get("extras") or {})}
    exclude: list[str] = list(table["default"].get("exclude") or []) + list(own.get("exclude") or [])
    return {"extras": extras, "exclude": exclude}


@dataclass
class LoraTargets:
    """The modules LoRA wraps (full names in the base model) and where they come from."""

    modules: list[str]
    source: str  # "auto" (module walk) or "given" (target_modules from the config)
    vision: int = 0
    decoder: int = 0
    other: int = 0  # extras asked for, or given names outside the blocks
    extra: list[str] = field(default_factory=list)  # the lora_extra entries applied

    @property
    def count(self) -> int:
        return len(self.modules)

    def summary(self) -> dict[str, Any]:
        """What state.json and `cubeworld models info` record."""
        return {**asdict(self), "count": self.count}


def _is_linear(module: Any) -> bool:
    import torch

    return isinstance(module, torch.nn.Linear)  # bitsandbytes' Linear4bit/8bit subclass it


def _linear_names(module: Any, prefix: str = "") -> list[str]:
    """Names of the linear layers under `module`; a layer peft already wrapped counts once,
    under its own name (its `base_layer` and the LoRA matrices are not layers of the model)."""
    names = []
    for name, child in module.named_modules(prefix=prefix):
        if not _is_linear(child) or ".lora_" in name:
            continue
        names.append(name[: -len(".base_layer")] if name.endswith(".base_layer") else name)
    return names


def _has_attention(module: Any) -> bool:
    return any("Attention" in type(m).__name__ for m in module.modules())


def block_linears(model: Any) -> dict[str, list[str]]:
    """{"vision": [...], "decoder": [...]}: linear layers inside the model's transformer blocks."""
    import torch

    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    decoder_ids = {id(m) for m in decoder.modules()} if decoder is not None else set()
    found: dict[str, list[str]] = {"vision": [], "decoder": []}
    seen: set[str] = set()
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.ModuleList) or not len(module):
            continue
        if len({type(m) for m in module}) != 1 or not _has_attention(module[0]):
            continue
        part = "decoder" if id(module) in decoder_ids else "vision"
        for child_name in _linear_names(module, name):
            if child_name not in seen:
                seen.add(child_name)
                found[part].append(child_name)
    return found


def _matching(names: Sequence[str], pattern: str) -> list[str]:
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise ModelsError(f"LoRA module pattern {pattern!r} is not a valid regex ({e})") from None
    return [n for n in names if rx.search(n)]


def resolve_targets(
    model: Any, target_modules: str | Sequence[str] = AUTO, extra: Sequence[str] = (), exclude: Sequence[str] = ()
) -> LoraTargets:
    """The LoRA targets of `model` (the base model, before peft wraps it).

    target_modules: "auto" (the module walk, with the model type's exclusions from
        `lora_targets.yaml`), a regex (full match, as peft reads it) or a list of names.
    extra: named groups of the model type's table (e.g. "projector") or regexes searched in
        module names, wrapped in addition (auto only).
    exclude: regexes of module names to leave out (auto only).
    Each extra / exclude entry that matches no module is an error naming it.
    """
    model_type = getattr(getattr(model, "config", None), "model_type", "") or ""
    linears = _linear_names(model)
    if target_modules != AUTO:
        if extra or exclude:
            raise ModelsError(
                "lora_extra / lora_exclude apply to target_modules: auto only; "
                "list every module in target_modules instead"
            )
        if isinstance(target_modules, str):
            modules = [n for n in linears if re.fullmatch(target_modules, n)]
        else:
            wanted = list(target_modules)
            modules = [n for n in linears if any(n == t or n.endswith("." + t) for t in wanted)]
        if not modules:
            raise ModelsError(
                f"target_modules {target_modules!r} matches no linear layer of this {model_type or 'model'}"
            )
        blocks = block_linears(model)
        vis, dec = set(blocks["vision"]), set(blocks["decoder"])
        return LoraTargets(
            modules,
            "given",
            vision=sum(n in vis for n in modules),
            decoder=sum(n in dec for n in modules),
            other=sum(n not in vis and n not in dec for n in modules),
        )
    rules = family_rules(model_type)
    blocks = block_linears(model)
    chosen = blocks["vision"] + blocks["decoder"]
    if not chosen:
        raise ModelsError(
            f"no transformer blocks with attention found in this "
            f"{model_type or 'model'}; give target_modules explicitly"
        )
    for pattern in rules["exclude"]:
        chosen = [n for n in chosen if n not in set(_matching(chosen, pattern))]
    for pattern in exclude:
        hit = set(_matching(chosen, pattern))
        if not hit:
            raise ModelsError(f"lora_exclude {pattern!r} matches none of the LoRA target modules")
        chosen = [n for n in chosen if n not in hit]
    added: list[str] = []
    for name in extra:
        pattern = rules["extras"].get(name, name)
        found = [n for n in _matching(linears, pattern) if n not in chosen and n not in added]
        if not found:
            known = ", ".join(sorted(rules["extras"])) or "none"
            raise ModelsError(
                f"lora_extra {name!r} matches no further linear layer of this "
                f"{model_type or 'model'} (named extras here: {known})"
            )
        added += found
    vis, dec = set(blocks["vision"]), set(blocks["decoder"])
    return LoraTargets(
        chosen + added,
        AUTO,
        vision=sum(n in vis for n in chosen),
        decoder=sum(n in dec for n in chosen),
        other=len(added),
        extra=list(extra),
    )


def wrapped_modules(peft_model: Any) -> list[str]:
    """Names (in the base model) of the modules a peft model actually wraps with LoRA."""
    names = []
    for name, module in peft_model.named_modules():
        if hasattr(module, "lora_A") and hasattr(module, "base_layer"):
            names.append(name.split("base_model.model.", 1)[-1])
    return names
