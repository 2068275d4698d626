"""A study's settings: one YAML file in the study folder, written by `create`, read by the server.

The file is the single source of truth for everything a researcher may tune before
launching (completion code, bonus, attention checks, block timeout, consent text). The
question shown to participants is a snapshot of the set's prompt, taken when the study was
created, so that a running study never changes under its participants.

Each setting is declared once, as a field of `HumanStudyConfig` (`cubeworld.typed.setting`:
default, help, bounds): study.yaml is read through it (an unknown key, a wrong type or a
value out of bounds is one line naming the file, line and key), and the options of
`cubeworld human create` are generated from the same fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from cubeworld.formats.atomic import atomic_write_text
from cubeworld.formats.yamlfile import read_yaml
from cubeworld.human.errors import HumanStudyError, SettingProblem
from cubeworld.human.exclusions import ExclusionRules
from cubeworld.human.limits import MAX_BLOCK_TIMEOUT_MINUTES, MAX_BONUS_PER_CORRECT, MAX_TRIALS, OPTIONAL_ID_RE, is_id
from cubeworld.typed import from_plain, setting, to_plain

CONFIG_FILE = "study.yaml"
ITEMS_FILE = "items.jsonl"
DB_FILE = "study.sqlite"
IMAGES_DIR = "images"

DESIGNS = ("same", "spread")
PROLIFIC_COMPLETION_URL = "https://app.prolific.com/submissions/complete?cc={code}"
MIN_ADMIN_TOKEN_CHARS = 16

DEFAULT_CONSENT = (
    "<p>Welcome, and thank you for your interest in this study.</p>"
    "<p>In this study you will see images of blocks and answer one question about each "
    "image with Yes or No. The study is part of research on how people and computer models "
    "reason about physical scenes. Besides the base pay, you receive a bonus for each correct "
    "answer.</p>"
    "<p>Your answers are stored together with your Prolific ID, which is used only to pay "
    "you. Taking part is voluntary; you can stop at any time by closing this page.</p>"
    "<p>By clicking <b>I agree</b> you confirm that you are at least 18 years old and agree "
    "to take part.</p>"
)


@dataclass(frozen=True)
class HumanStudyConfig:
    """Everything the server needs to know about one study (stored as `study.yaml`).

    Fields with `cli=False` are taken from the set when the study is created (or made up:
    the admin token), the others are options of `cubeworld human create` too.
    """

    design: Literal["same", "spread"] = setting(
        help="same: everyone answers every item; spread: each item once, in blocks of --items."
    )
    name: str = setting(help="Study name (default: the study folder's name).")
    domain: str = setting(cli=False)
    prompt: str = setting(cli=False, help="the study's exact question, shown in the instructions")
    question: str = setting(cli=False, help="the short question shown with every image")
    set_name: str = setting(cli=False)
    set_path: str = setting(cli=False, help="where the items came from (absolute)")
    n_items: int = setting(cli=False, minimum=1)
    admin_token: str = setting(cli=False)
    completion_code: str = setting(help="Prolific completion code (default: random).")
    seed: int = setting(0, minimum=0, maximum=2**63 - 1, help="Seed of the item pool and of every participant's order.")
    completion_url: str = setting(PROLIFIC_COMPLETION_URL, help="Completion URL; '{code}' is replaced by the code.")
    # When set, only sessions opened from that study's link (URL parameter STUDY_ID) are
    # let in; "" lets in any STUDY_ID (and none).
    prolific_study_id: str = setting(
        "", help="Prolific study ID: refuse sessions whose STUDY_ID differs (default: accept any)."
    )
    items_per_participant: int | None = setting(
        None, cli="--items", minimum=1, maximum=MAX_TRIALS, help="spread: items per participant (block size K)."
    )
    block_timeout_minutes: float = setting(
        60.0,
        cli="--timeout",
        minimum=1,
        maximum=MAX_BLOCK_TIMEOUT_MINUTES,
        help="spread: minutes before an unfinished block returns to the pool.",
    )
    bonus_per_correct: float = setting(
        0.01,
        cli="--bonus",
        minimum=0,
        maximum=MAX_BONUS_PER_CORRECT,
        help="Bonus per correct answer (the study paid 0.01).",
    )
    currency: str = setting("USD", cli=False, help="informational: Prolific pays bonuses in the study's currency")
    attention_checks: bool = setting(False, help="Add attention-check trials.")
    attention_check_every: int = setting(
        25, cli="--attention-every", minimum=1, maximum=MAX_TRIALS, help="One attention check after every N images."
    )
    redirect_seconds: float = setting(
        10.0, cli=False, minimum=0, maximum=3600, help="end page: automatic redirect to Prolific after this"
    )
    # Stimuli are shown this many CSS pixels high, whatever their resolution, so a set
    # rendered small (e.g. a CPU-scale study's 112 px) is as visible as the study's 448 px.
    image_height_px: int = setting(448, cli=False, minimum=64, maximum=2048)
    images: Literal["copy", "reference"] = setting(
        "copy", help="copy: images into the study folder; reference: read them from the set."
    )
    consent_html: str = setting(DEFAULT_CONSENT, cli=False)
    # Declared before the data: applied at export, recorded when the first participant
    # starts (see cubeworld.human.exclusions for each rule).
    exclusions: ExclusionRules = setting(factory=ExclusionRules, cli=False)
    created_at: str = setting("", cli=False)

    def __post_init__(self) -> None:
        # Whatever builds a config (study.yaml, `create`, a library caller) gets these checks.
        if self.design == "spread":
            if self.items_per_participant is None:
                raise SettingProblem("items_per_participant", "the spread design needs it (--items K)")
            if self.items_per_participant > self.n_items:
                raise SettingProblem(
                    "items_per_participant",
                    f"{self.items_per_participant} items per participant, but the study has {self.n_items} items",
                )
        elif self.items_per_participant is not None:
            raise SettingProblem(
                "items_per_participant",
                "applies to the spread design only; for the same design draw a subset of the set first "
                "(cubeworld stimuli subset)",
            )
        if self.design == "same" and self.n_items > MAX_TRIALS:
            raise SettingProblem(
                "n_items", f"{self.n_items} items for everyone is more than {MAX_TRIALS}; draw a subset first"
            )
        for key in ("name", "admin_token", "completion_code", "completion_url", "prompt", "question"):
            if not getattr(self, key).strip():
                raise SettingProblem(key, "must be a non-empty string")
        if not is_id(self.prolific_study_id, OPTIONAL_ID_RE):
            raise SettingProblem(
                "prolific_study_id",
                f"must be Prolific's study ID (letters, digits, - or _), got {self.prolific_study_id!r}",
            )
        if len(self.admin_token) < MIN_ADMIN_TOKEN_CHARS:
            raise SettingProblem("admin_token", f"must be at least {MIN_ADMIN_TOKEN_CHARS} characters long")

    @property
    def completion_link(self) -> str:
        return self.completion_url.replace("{code}", self.completion_code)


def parse_human_config(data: Any, where: str) -> HumanStudyConfig:
    """`data` (study.yaml's mapping, or the settings `create` gathered) as a checked config;
    every problem is one HumanStudyError naming `where` (and the key's line, from a file)."""
    try:
        return from_plain(HumanStudyConfig, data, where, HumanStudyError)
    except SettingProblem as e:
        at = _line_of(data, e.key, where)
        raise HumanStudyError(f"{at}: {e.key}: {e.problem}" if at else str(e)) from None


def _line_of(data: Any, key: str, where: str) -> str:
    """`file:line` of the (dotted) `key` when `data` came from `read_yaml`, else `where`."""
    at = where
    for part in key.split("."):
        lines = getattr(data, "lines", None)
        if not lines or part not in lines:
            break
        at = f"{data.source}:{lines[part]}"
        data = data[part]
    return at


def save_human_config(study_dir: str | Path, config: HumanStudyConfig) -> Path:
    path = Path(study_dir) / CONFIG_FILE
    text = "# cubeworld human study: edit settings before launching (see docs in cubeworld/human)\n" + yaml.safe_dump(
        to_plain(config), sort_keys=False, allow_unicode=True, width=100
    )
    atomic_write_text(path, text)
    return path


def load_human_config(study_dir: str | Path) -> HumanStudyConfig:
    path = Path(study_dir) / CONFIG_FILE
    if not Path(study_dir).is_dir():
        raise HumanStudyError(f"{study_dir}: no such study folder")
    if not path.is_file():
        raise HumanStudyError(
            f"{study_dir}: not a study folder ({CONFIG_FILE} is missing; create one with `cubeworld human create`)"
        )
    data = read_yaml(path, HumanStudyError)  # a syntax error: one line with file, line and column
    return parse_human_config(data, str(path))
