"""The study's own hyperparameters, written once, each with the paper's words beside it.

Schulze Buschoff et al. (2025), "Testing the limits of fine-tuning to improve reasoning in
vision language models", section 2.4 and section 3. The typed configs of the trainers and
of a study take their defaults from here (`cubeworld.models.config`,
`cubeworld.trainer.data`, `cubeworld.experiments.schema`); nothing restates them.
"""

from __future__ import annotations

# "We chose r = 16 for all experiments
LORA_R = 16
# ... and a scaling of alpha / r where alpha = 16"
LORA_ALPHA = 16
# "We used the ADAM optimizer and an initial learning rate of 0.0002." (AdamW here: weight
# decay 0 makes it Adam.)
LEARNING_RATE = 2.0e-4
# "We fine-tuned all models for 10 epochs
EPOCHS = 10
# ... on 10,000 text-image pairs"
MAX_ITEMS = 10_000
# "All results reported here are averaged over three seeds."
SEEDS = (0, 1, 2)

# The follow-up study (Schulze Buschoff et al., "Can VLMs learn intuitive physics from
# interaction?", 2026), as issue 20 summarises it: "one-step GRPO on Qwen3-VL-8B (4-bit,
# adapters r = 16, N = 16 completions per prompt, reward from the simulator)".
GRPO_GENERATIONS = 16
# Its KL weight is not in that summary: TRL's default, 0 (no reference pass; the KL term
# the DeepSeekMath GRPO paper weighted 0.04 is left out, as DAPO and Dr. GRPO do). A study
# that wants it sets `beta`.
GRPO_BETA = 0.0
