"""Errors of the models stage: each message names the model, file or id at fault."""

from __future__ import annotations

from cubeworld.errors import CubeworldError


class ModelsError(CubeworldError):
    """Base class: a user-facing problem with a model, adapter, set or labels table."""


class ModelNotFoundError(ModelsError):
    """The model id or folder cannot be loaded (missing, offline, not a model)."""


class AnswerTokenError(ModelsError):
    """The tokenizer does not give "Yes" and "No" one token each after the assistant turn."""


class BackendError(ModelsError):
    """A requested method/backend cannot run here (no CUDA, unsloth/bitsandbytes missing)."""
