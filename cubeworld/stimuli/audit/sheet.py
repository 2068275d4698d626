"""Contact sheet: a grid image of a set's stimuli with their labels, to see a set at once.

Its size is bounded before any image is opened: the tile size, the number of tiles and of
columns have upper bounds (`SheetRequest`), and the sheet's pixels are estimated and
refused above `MAX_SHEET_PIXELS` (a 100,000 px tile once asked the kernel for 22 GB).
"""

from __future__ import annotations

import io
import math
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from cubeworld.formats.atomic import atomic_write_bytes
from cubeworld.formats.sets import SetFormatError, load_set
from cubeworld.stimuli.errors import StimuliError
from cubeworld.stimuli.plain import bounds
from cubeworld.typed import setting

MAX_SHEET_PIXELS = 150_000_000  # ~450 MB of RGB while drawing: e.g. 120 tiles of 1,024 px
CAPTION, TITLE = 18, 26  # px: a tile's caption strip, the sheet's title line


@dataclass(frozen=True, kw_only=True)
class SheetRequest:
    """`cubeworld sheet`'s options, declared once with their bounds."""

    thumb: int = setting(160, help="Tile size in pixels.", minimum=16, maximum=1024)
    limit: int = setting(120, help="At most this many stimuli, spread over size x label.", minimum=1, maximum=10_000)
    columns: int | None = setting(
        None, help="Tiles per line (default: a grid 1.5 times as wide as tall).", minimum=1, maximum=1000
    )


YES_COLOUR = (190, 60, 50)
NO_COLOUR = (50, 120, 70)


def _pick(rows, limit: int):
    """At most `limit` rows, spread evenly over the size x label cells, in set order."""
    if len(rows) <= limit:
        return list(rows)
    cells = defaultdict(list)
    for r in rows:
        cells[(r.n_blocks, r.falls)].append(r)
    per = max(1, limit // len(cells))
    keep = {id(r) for members in cells.values() for r in members[:per]}
    return [r for r in rows if id(r) in keep]


def make_sheet(
    set_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    thumb: int = 160,
    columns: int | None = None,
    limit: int = 120,
    verify: bool = False,
) -> Path:
    """Write a PNG grid of (up to `limit`) stimuli, each captioned with size and answer;
    `verify` checks every image of the set first (decode + sha256), not only the shown ones."""
    from PIL import Image, ImageDraw, ImageFont

    for name, value in (("thumb", thumb), ("limit", limit), ("columns", columns)):
        lo, hi = bounds(SheetRequest, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi):
            raise StimuliError(f"--{name} must be an integer from {lo} to {hi}, got {value!r}")
    try:
        s = load_set(set_dir, verify=verify, progress=verify)
    except SetFormatError as e:
        raise StimuliError(str(e)) from None
    rows = _pick(s.rows, limit)
    cols = columns or max(1, math.ceil(math.sqrt(len(rows) * 1.5)))
    grid_rows = math.ceil(len(rows) / cols)
    cap, title = CAPTION, TITLE
    pixels = cols * thumb * (title + grid_rows * (thumb + cap))
    if pixels > MAX_SHEET_PIXELS:
        raise StimuliError(
            f"a sheet of {len(rows)} tiles of {thumb} px in {cols} columns would hold {pixels:,} pixels, "
            f"more than {MAX_SHEET_PIXELS:,}; use a smaller --thumb, --limit or --columns"
        )
    font = ImageFont.load_default()
    sheet = Image.new("RGB", (cols * thumb, title + grid_rows * (thumb + cap)), (245, 245, 245))
    draw = ImageDraw.Draw(sheet)
    draw.text(
        (6, 6), f"{s.name}  ({len(rows)} of {len(s)} stimuli; caption: blocks, answer)", fill=(20, 20, 20), font=font
    )
    for i, row in enumerate(rows):
        x, y = (i % cols) * thumb, title + (i // cols) * (thumb + cap)
        try:
            with Image.open(s.image_path(row)) as im:
                sheet.paste(im.convert("RGB").resize((thumb, thumb), Image.Resampling.LANCZOS), (x, y))
        except (OSError, SyntaxError, ValueError) as e:  # what PIL raises for a truncated or foreign file
            raise StimuliError(f"{s.image_path(row)}: not a readable image ({type(e).__name__}: {e})") from None
        colour = YES_COLOUR if row.falls else NO_COLOUR
        draw.rectangle([x, y + thumb, x + thumb - 1, y + thumb + cap - 1], fill=colour)
        draw.text((x + 4, y + thumb + 3), f"n={row.n_blocks}  {row.answer}", fill=(255, 255, 255), font=font)
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    out = Path(out)
    try:
        atomic_write_bytes(out, buf.getvalue())
    except OSError as e:
        raise StimuliError(f"cannot write {out}: {e.strerror or e}") from None
    return out
