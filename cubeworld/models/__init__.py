"""The models stage: Hugging Face VLMs: loading, Yes/No scoring, LoRA and fine-tuning.

Public API (see docs/CONTRACTS.md):

- `build_tiny_model(out, seed=0, *, family="qwen2-vl", vocab_size=None) -> Path`: a tiny
  random VLM of a model family (`MODEL_FAMILIES`), built offline.
- `load_model(name_or_path, *, adapter=None, quantize=None, device=None, image_size=None,
  max_pixels=None, dtype=None) -> ModelBundle`.
- `evaluate(model, sets, out, ...) -> Path`: the prediction table (P(Yes) per stimulus).
- `FinetuneConfig` and `finetune(config) -> Path`: the study's fine-tuning, resumable
  (the VLM's plug-in `SftTrainer` to the one epoch loop, `cubeworld.trainer`).
- The typed settings, each declared once: `VlmInputs`, `VlmScoring`, `AdapterSettings`
  (-> peft's LoraConfig via `lora_config`), `SftSettings`, `FinetuneConfig`.
- `resolve_targets(model, ...)`: the LoRA targets found by walking the architecture.
- `extract_activations(model, sets, points, out, *, adapter=None, batch_size=8, ...)`:
  pooled activations at the family's named points, cached for probes; `load_activations`
  reads them back, `list_points(bundle)` names a model's points.

Observers that are not VLMs (the physics observer, the CNN) are `cubeworld.observers`.
Names are imported lazily so that `cubeworld --help` does not import torch.
"""

from __future__ import annotations

from cubeworld.lazy import lazy_exports

_EXPORTS = {
    "build_tiny_model": "cubeworld.models.tiny",
    "load_model": "cubeworld.models.loading",
    "ModelBundle": "cubeworld.models.loading",
    "AnswerTokens": "cubeworld.models.loading",
    "find_answer_tokens": "cubeworld.models.loading",
    "evaluate": "cubeworld.models.scoring",
    "score_items": "cubeworld.models.scoring",
    "FinetuneConfig": "cubeworld.models.config",
    "SftSettings": "cubeworld.models.config",
    "AdapterSettings": "cubeworld.models.config",
    "VlmScoring": "cubeworld.models.config",
    "VlmInputs": "cubeworld.models.config",
    "lora_config": "cubeworld.models.config",
    "MixSource": "cubeworld.trainer.data",
    "finetune": "cubeworld.models.methods",
    "SftTrainer": "cubeworld.models.training",
    "VideoFreeQwen2VLProcessor": "cubeworld.models.processor",
    "VideoFreeQwen2_5_VLProcessor": "cubeworld.models.processor",
    "VideoFreeQwen3VLProcessor": "cubeworld.models.processor",
    "VideoFreeLlavaOnevisionProcessor": "cubeworld.models.processor",
    "extract_activations": "cubeworld.models.activations",
    "load_activations": "cubeworld.models.activations",
    "list_points": "cubeworld.models.activations",
    "Activations": "cubeworld.models.activations",
    "ActivationsError": "cubeworld.models.activations",
    "ActivationPoint": "cubeworld.models.families.base",
    "MODEL_FAMILIES": "cubeworld.models.families",
    "ModelFamily": "cubeworld.models.families",
    "model_family_of": "cubeworld.models.families",
    "resolve_targets": "cubeworld.models.lora",
    "LoraTargets": "cubeworld.models.lora",
    "AnswerScore": "cubeworld.models.scoring",
    "ModelsError": "cubeworld.models.errors",
    "ModelNotFoundError": "cubeworld.models.errors",
    "AnswerTokenError": "cubeworld.models.errors",
    "LabelsError": "cubeworld.trainer.data",
    "BackendError": "cubeworld.models.errors",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
