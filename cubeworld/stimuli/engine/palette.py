"""Block colours: clearly distinct, none of them red or near red.

Red is reserved for the pyramids' one red block, so the palette keeps every other
colour at least `MIN_HUE_DISTANCE_FROM_RED` degrees of hue away from red.
"""

from __future__ import annotations

import colorsys

RED = ("red", (0.85, 0.08, 0.08))

PALETTE: tuple[tuple[str, tuple[float, float, float]], ...] = (
    ("yellow", (0.95, 0.80, 0.10)),
    ("green", (0.15, 0.62, 0.22)),
    ("cyan", (0.10, 0.72, 0.80)),
    ("blue", (0.12, 0.30, 0.85)),
    ("purple", (0.52, 0.28, 0.78)),
    ("white", (0.93, 0.93, 0.90)),
)

MIN_HUE_DISTANCE_FROM_RED = 40.0  # degrees


def hue_distance_from_red(rgb: tuple[float, float, float]) -> float:
    """Hue distance to pure red in degrees (0..180)."""
    h, _, _ = colorsys.rgb_to_hsv(*rgb)
    deg = h * 360.0
    return min(deg, 360.0 - deg)


def is_reddish(rgb: tuple[float, float, float]) -> bool:
    """True for a saturated colour whose hue is near red (greys and whites are not red)."""
    _, s, _ = colorsys.rgb_to_hsv(*rgb)
    return s > 0.25 and hue_distance_from_red(rgb) < MIN_HUE_DISTANCE_FROM_RED
