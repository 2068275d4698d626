"""A study's settings: one YAML file in the study folder, written by `create`, read by the server.

The file is the single source of truth for everything a researcher may tune before
launching (completion code, bonus, attention checks, block timeout, consent text). The
question shown to participants is a snapshot of the set's prompt, taken when the study was
created, so that a running study never changes under its participants.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cubeworld.formats.atomic import atomic_write_text
from cubeworld.formats.yamlfile import read_yaml
from cubeworld.human.errors import HumanStudyError
from cubeworld.human.exclusions import ExclusionRules
from cubeworld.human.limits import OPTIONAL_ID_RE, is_id

CONFIG_FILE = "study.yaml"
ITEMS_FILE = "items.jsonl"
DB_FILE = "study.sqlite"
IMAGES_DIR = "images"

DESIGNS = ("same", "spread")
PROLIFIC_COMPLETION_URL = "https://app.prolific.com/submissions/complete?cc={code}"

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


@dataclass
class HumanStudyConfig:
    """Everything the server needs to know about one study (stored as `study.yaml`)."""

    name: str
    design: str  # "same": everyone sees every item; "spread": every item answered once
    domain: str
    prompt: str  # the study's exact question, shown in the instructions
    question: str  # the short question shown with every image
    set_name: str
    set_path: str  # where the items came from (absolute)
    n_items: int
    seed: int
    admin_token: str
    completion_code: str
    completion_url: str = PROLIFIC_COMPLETION_URL  # "{code}" is replaced by the code
    # The Prolific study's ID. When set, only sessions opened from that study's link
    # (URL parameter STUDY_ID) are let in; "" lets in any STUDY_ID (and none).
    prolific_study_id: str = ""
    items_per_participant: int | None = None  # spread: the block size K
    block_timeout_minutes: float = 60.0  # spread: an unfinished block returns to the pool
    bonus_per_correct: float = 0.01
    currency: str = "USD"  # informational: Prolific pays bonuses in the study's currency
    attention_checks: bool = False
    attention_check_every: int = 25  # one check after every N image trials
    redirect_seconds: float = 10.0  # end page: automatic redirect to Prolific after this
    # Stimuli are shown this many CSS pixels high, whatever their resolution, so a set
    # rendered small (e.g. a CPU-scale study's 112 px) is as visible as the study's 448 px.
    image_height_px: int = 448
    images: str = "copy"  # "copy": images/ in the study folder; "reference": set_path/...
    consent_html: str = DEFAULT_CONSENT
    # Declared before the data: applied at export, recorded when the first participant
    # starts (see cubeworld.human.exclusions for each rule).
    exclusions: ExclusionRules = field(default_factory=ExclusionRules)
    created_at: str = ""

    @property
    def completion_link(self) -> str:
        return self.completion_url.replace("{code}", self.completion_code)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["exclusions"] = self.exclusions.to_dict()
        return d

    @classmethod
    def from_dict(cls, data: Any, where: str = CONFIG_FILE) -> HumanStudyConfig:
        if not isinstance(data, dict):
            raise HumanStudyError(f"{where}: expected a mapping of settings")
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise HumanStudyError(f"{where}: unknown setting(s) {unknown}")
        required = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        missing = [n for n in required if n not in data]
        if missing:
            raise HumanStudyError(f"{where}: missing setting(s) {missing}")
        data = dict(data)
        data["exclusions"] = ExclusionRules.from_dict(data.get("exclusions"), where)
        config = cls(**data)
        config.validate(where)
        return config

    def validate(self, where: str = CONFIG_FILE) -> None:
        def bad(msg: str) -> HumanStudyError:
            return HumanStudyError(f"{where}: {msg}")

        if self.design not in DESIGNS:
            raise bad(f"design must be one of {list(DESIGNS)}, got {self.design!r}")
        if self.design == "spread":
            k = self.items_per_participant
            if not isinstance(k, int) or isinstance(k, bool) or k < 1:
                raise bad(f"items_per_participant must be a positive integer, got {k!r}")
            if not _is_number(self.block_timeout_minutes) or self.block_timeout_minutes <= 0:
                raise bad(f"block_timeout_minutes must be a positive number, got {self.block_timeout_minutes!r}")
        elif self.items_per_participant is not None:
            raise bad("items_per_participant applies to the spread design only")
        if not _is_number(self.bonus_per_correct) or self.bonus_per_correct < 0:
            raise bad(f"bonus_per_correct must be a number >= 0, got {self.bonus_per_correct!r}")
        if not isinstance(self.attention_checks, bool):
            raise bad(f"attention_checks must be true or false, got {self.attention_checks!r}")
        if (
            not isinstance(self.attention_check_every, int)
            or isinstance(self.attention_check_every, bool)
            or self.attention_check_every < 1
        ):
            raise bad(f"attention_check_every must be a positive integer, got {self.attention_check_every!r}")
        if not isinstance(self.image_height_px, int) or not 64 <= self.image_height_px <= 2048:
            raise bad(f"image_height_px must be an integer from 64 to 2048, got {self.image_height_px!r}")
        if not _is_number(self.redirect_seconds) or self.redirect_seconds < 0:
            raise bad(f"redirect_seconds must be a number >= 0, got {self.redirect_seconds!r}")
        if self.images not in ("copy", "reference"):
            raise bad(f"images must be 'copy' or 'reference', got {self.images!r}")
        for name in ("admin_token", "completion_code", "completion_url", "prompt", "question"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise bad(f"{name} must be a non-empty string")
        if not is_id(self.prolific_study_id, OPTIONAL_ID_RE):
            raise bad(
                f"prolific_study_id must be Prolific's study ID (letters, digits, - or _), "
                f"got {self.prolific_study_id!r}"
            )
        if len(self.admin_token) < 16:
            raise bad("admin_token must be at least 16 characters long")
        if not isinstance(self.exclusions, ExclusionRules):
            raise bad("exclusions must be a mapping of rules")
        self.exclusions.validate(where)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def save_human_config(study_dir: str | Path, config: HumanStudyConfig) -> Path:
    config.validate()
    path = Path(study_dir) / CONFIG_FILE
    text = "# cubeworld human study: edit settings before launching (see docs in cubeworld/human)\n" + yaml.safe_dump(
        config.to_dict(), sort_keys=False, allow_unicode=True, width=100
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
    return HumanStudyConfig.from_dict(data, str(path))
