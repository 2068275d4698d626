"""What the server accepts from a participant's browser: ids, numbers and body sizes.

One place for every bound, because three layers apply them: the request models of the
server (a 422 before any work), the store (library callers that skip the server), and the
export (rows stored before a bound existed are reported, not trusted). Everything a
browser sends is untrusted: a bound here is what keeps one participant from blocking the
export for everyone (a `shown_at` of 1e20 overflowed the date conversion) or the server's
memory (a 300 MB body was parsed before it was refused).

Id patterns are matched with `fullmatch`: `re.match` with a final `$` also accepts a
trailing newline, which let `DUP1` and `DUP1\\n` take the study as two people.
"""

from __future__ import annotations

import math
import re

# Request bodies: the largest legitimate one (a response) is under 1 KiB.
MAX_BODY_BYTES = 16 * 1024

# Prolific's PROLIFIC_PID (required), STUDY_ID / SESSION_ID (optional, "" = not given).
PROLIFIC_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
OPTIONAL_ID_RE = re.compile(r"[A-Za-z0-9_-]{0,64}")
# The page's per-answer request id (a UUID; retries reuse it).
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")
# The participant token the server hands out (secrets.token_urlsafe).
TOKEN_MAX_CHARS = 128

# Numbers from the page.
RT_MAX_MS = 24 * 3600 * 1000.0  # a reaction time of more than a day is no reaction time
SHOWN_AT_MIN_MS = 946_684_800_000.0  # 2000-01-01T00:00:00Z, client clock in ms
SHOWN_AT_MAX_MS = 4_102_444_800_000.0  # 2100-01-01T00:00:00Z
TRIAL_INDEX_MAX = 100_000  # far beyond any study; SQLite integers overflow far later

# Study settings (study.yaml, `cubeworld human create`): every count, size and amount bounded.
MAX_TRIALS = 10_000  # image trials per participant (items of a same-design study, K of spread)
MAX_BONUS_PER_CORRECT = 10.0  # money per correct answer (the study paid 0.01)
MAX_BLOCK_TIMEOUT_MINUTES = 7 * 24 * 60.0  # a week
MAX_EXCLUSION_FILES = 100  # exclusions.duplicates_of


def is_id(value: object, pattern: re.Pattern = PROLIFIC_ID_RE) -> bool:
    """True when `value` is a str matching `pattern` entirely (no trailing newline)."""
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def in_range(value: object, low: float, high: float) -> bool:
    """True for a finite real number (not a bool) within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) and low <= value <= high
