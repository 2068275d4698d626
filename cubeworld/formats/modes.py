"""How a prompting mode is named in a prediction table (light: no pandas, so the command
line can read it at start-up).

A VLM asked in a generating mode is its own observer, "<model>@<mode>" in the `model`
column (`cubeworld.models.modes.mode_label` writes it; `base_model` reads it back)."""

from __future__ import annotations

MODE_SEPARATOR = "@"
LOGPROB_MODE = "logprob"  # the study's scoring; rows without a `mode` were scored so


def base_model(model: str, mode: str) -> str:
    """The model a row of `mode` belongs to: its `model` label without "@<mode>"."""
    suffix = f"{MODE_SEPARATOR}{mode}"
    return model[: -len(suffix)] if mode not in ("", LOGPROB_MODE) and model.endswith(suffix) else model
