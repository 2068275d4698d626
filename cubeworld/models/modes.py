"""How a VLM is asked, and how its answer is read, in each prompting mode.

    logprob   the study's procedure: one forward pass, P(Yes) from the Yes/No logits at
              the first answer position (nothing is generated)
    free      the model generates an answer to the study's exact prompt (greedy); the
              answer is read from the text with `extract_answer`
    step      the study's prompt plus `STEP_SUFFIX` (reason step by step first, then end
              on "Answer: Yes" or "Answer: No"); read with the same `extract_answer`

Why one module: the answer a free-text mode reports and the reward a GRPO run trains on
must be read by the very same rule, or a model could be rewarded for text the evaluation
would not accept. `extract_answer` is that rule; the free and step modes of
`cubeworld.models.scoring` and the GRPO reward (`cubeworld.models.grpo`) call it, nothing
else parses answers.

The study's prompt stays the one source of the question (each stimulus family's `prompt`,
stored in every set row); a mode only appends its documented suffix. This module is light
(no torch): the study config and the command line read `MODES` from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from cubeworld.formats.answers import NO, YES
from cubeworld.formats.predictions import LOGPROB_MODE, MODE_SEPARATOR, base_model

Mode = Literal["logprob", "free", "step"]
MODES: tuple[str, ...] = ("logprob", "free", "step")
DEFAULT_MODE = LOGPROB_MODE
GENERATING_MODES = ("free", "step")

# Appended to the study's prompt in step mode (after one space). It asks for the reasoning
# first and names the marker `extract_answer` looks for first.
STEP_SUFFIX = (
    "Think step by step about the physics first. "
    "Then end with your final answer on its own line as 'Answer: Yes' or 'Answer: No'."
)

# Tokens a mode may generate when the settings leave it to the mode: a short answer, or
# room for the reasoning before it.
DEFAULT_NEW_TOKENS = {"free": 16, "step": 256}

# MODE_SEPARATOR ("@", from the table format): rows of one model in two modes are two
# observers of the report ("tiny" and "tiny@free").

OK = "ok"
FAILED = "failed"

_MARKER = re.compile(r"\banswer\b\W{0,3}(?:is\W{1,3}|would be\W{1,3}|will be\W{1,3})?(yes|no)\b", re.IGNORECASE)
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Extraction:
    """What a generated text answers: `answer` is "Yes" / "No", or None when no answer
    could be read (`reason` says why: empty, neither word, both words)."""

    answer: str | None
    rule: str  # which rule read it ("marker", "first word", "only word") or "failed"
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.answer is not None

    @property
    def status(self) -> str:
        """The `extraction` column: "ok", or "failed: <reason>"."""
        return OK if self.ok else f"{FAILED}: {self.reason}"


def extract_answer(text: str) -> Extraction:
    """The Yes/No answer a generated text gives, by the first of these rules that applies:

    1. marker: the last "Answer: Yes" / "Answer: No" (also "answer is no"), the form step
       mode asks for, so reasoning that mentions both words before it is read right;
    2. first word: the text starts with the word yes or no (case and markup ignored, so
       "**Yes**, it falls." is Yes), the form the study's prompt asks for;
    3. only word: exactly one of the two words occurs anywhere (as a whole word).

    Anything else is a failure, never a guess: empty text, neither word ("It is unstable"),
    or both words without a marker ("No block holds it, so yes"). "Yesterday" is no "yes".
    """
    markers = _MARKER.findall(text)
    if markers:
        return Extraction(_word(markers[-1]), "marker")
    words = _WORD.findall(text.lower())
    if not words:
        return Extraction(None, FAILED, "empty" if not text.strip() else "no words")
    if words[0] in ("yes", "no"):
        return Extraction(_word(words[0]), "first word")
    said = {w for w in words if w in ("yes", "no")}
    if len(said) == 1:
        return Extraction(_word(said.pop()), "only word")
    return Extraction(None, FAILED, "both yes and no" if said else "neither yes nor no")


def _word(word: str) -> str:
    return YES if word.lower() == "yes" else NO


def prompt_for(prompt: str, mode: str) -> str:
    """The text a model is asked in `mode`: the study's prompt, plus the step suffix."""
    if mode == "step":
        return f"{prompt} {STEP_SUFFIX}"
    return prompt


def new_tokens(mode: str, max_new_tokens: int | None) -> int:
    """Tokens a generating mode may produce: the setting, else the mode's default."""
    return int(max_new_tokens) if max_new_tokens is not None else DEFAULT_NEW_TOKENS[mode]


def mode_label(model: str, mode: str) -> str:
    """The `model` column of a row scored in `mode`: the model's own label in the default
    mode, "<label>@<mode>" otherwise (so two modes never share a row key). A label that
    already ends in "@<mode>" (a study's mode observer, `modes:`) is kept as it is."""
    if mode == DEFAULT_MODE or model.endswith(f"{MODE_SEPARATOR}{mode}"):
        return model
    return f"{model}{MODE_SEPARATOR}{mode}"


def base_label(model: str, mode: str) -> str:
    """The inverse of `mode_label`: the observer's label without its mode."""
    return base_model(model, mode)
