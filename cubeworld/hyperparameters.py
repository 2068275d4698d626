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
