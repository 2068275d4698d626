"""Contact sheet: a grid image of a set's stimuli with their labels, to see a set at once."""

from __future__ import annotations

import io
import math
import os
from collections import defaultdict
from pathlib import Path

from cubeworld.formats.atomic import atomic_write_bytes
from cubeworld.formats.sets import SetFormatError, load_set
from cubeworld.stimuli.errors import StimuliError

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
) -> Path:
    """Write a PNG grid of (up to `limit`) stimuli, each captioned with size and answer."""
    from PIL import Image, ImageDraw, ImageFont

    if thumb < 16 or limit < 1 or (columns is not None and columns < 1):
        raise StimuliError("thumb must be >= 16 px, limit >= 1 and columns >= 1")
    try:
        s = load_set(set_dir)
    except SetFormatError as e:
        raise StimuliError(str(e)) from None
    rows = _pick(s.rows, limit)
    cols = columns or max(1, math.ceil(math.sqrt(len(rows) * 1.5)))
    grid_rows = math.ceil(len(rows) / cols)
    cap, title = 18, 26
    font = ImageFont.load_default()
    sheet = Image.new("RGB", (cols * thumb, title + grid_rows * (thumb + cap)), (245, 245, 245))
    draw = ImageDraw.Draw(sheet)
    draw.text(
        (6, 6), f"{s.name}  ({len(rows)} of {len(s)} stimuli; caption: blocks, answer)", fill=(20, 20, 20), font=font
    )
    for i, row in enumerate(rows):
        x, y = (i % cols) * thumb, title + (i // cols) * (thumb + cap)
        with Image.open(s.image_path(row)) as im:
            sheet.paste(im.convert("RGB").resize((thumb, thumb), Image.Resampling.LANCZOS), (x, y))
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
