"""Build a tiny random VLM of a model family offline: the models of tests and the CPU demo.

Why: no model hub is reachable here, yet every code path (Auto classes, chat template,
processor, LoRA targets, checkpoints) must be the one a real checkpoint takes. So the
toolkit builds a well under 1 M-parameter model of the family with the very same
transformers classes, a byte-level BPE tokenizer trained offline with the family's own
special tokens, and the family's real chat template (see each module of
`cubeworld.models.families`).

The folder loads afterwards with `AutoModelForImageTextToText.from_pretrained` and
`AutoProcessor.from_pretrained` (after `import cubeworld.models`, which registers the
torchvision-free processors), like a real checkpoint. `cubeworld_tiny.json` in it records
the builder, family and seed.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from cubeworld.models.errors import ModelsError

DEFAULT_FAMILY = "qwen2-vl"
TINY_FILE = "cubeworld_tiny.json"


def build_tiny_model(
    out: str | Path, seed: int = 0, *, family: str = DEFAULT_FAMILY, vocab_size: int | None = None
) -> Path:
    """Write a random tiny model of `family` (config, weights, tokenizer, processor) to `out`.

    family: a name of `cubeworld.models.families.MODEL_FAMILIES` ("qwen2-vl", "qwen2.5-vl",
        "qwen3-vl", "smolvlm", "llava-onevision", "gemma3"); another name is an error listing them.
    vocab_size: the tokenizer's size (default: the family's); a tiny one (e.g. 270 for
        qwen2-vl) leaves "Yes" in several pieces, to test the answer-token error.
    The same `seed` gives the same weights. The folder is written beside `out` and moved
    into place at the end, so a kill never leaves a half-built model.
    """
    from cubeworld.models.families import get_model_family

    fam = get_model_family(family)  # an unknown name fails before anything is written
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ModelsError(f"{out}: folder exists and is not empty")
    tiny = fam.build_tiny(seed, vocab_size)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        tiny.model.save_pretrained(tmp)
        tiny.processor.save_pretrained(tmp)
        record = {
            "builder": "cubeworld.models.build_tiny_model",
            "family": fam.name,
            "seed": seed,
            "vocab_size": vocab_size or len(tiny.processor.tokenizer),
            **tiny.spec,
        }
        (tmp / TINY_FILE).write_text(json.dumps(record, indent=2) + "\n")
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
