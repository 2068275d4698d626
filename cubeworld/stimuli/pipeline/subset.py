"""Drawing a balanced subset of a set: `per_cell` stimuli per size x label.

Used for the human studies (10 per size x label from the evaluation sets). Rows keep
their parent's ids and bytes, images are copied, and the card records the parent and
the arguments, so the same call gives the same subset. For a family with a quota stratum
(pyramids: the red block's row) the subset keeps its values as equal as integers allow
too (`quotas.size_quotas`), so a human study sees every red row equally often.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from cubeworld.formats.atomic import atomic_write_bytes, atomic_write_text
from cubeworld.formats.sets import (
    CARD_FILE,
    COMPLETE,
    IMAGES_DIR,
    METADATA_FILE,
    SetFormatError,
    load_set,
    read_card,
    seal_set,
    verify_images,
)
from cubeworld.stimuli.errors import StimuliError
from cubeworld.stimuli.pipeline.arguments import MAX_PER_SIZE
from cubeworld.stimuli.plain import bounds
from cubeworld.typed import setting

SUBSET_GENERATOR = "cubeworld.stimuli.subset"  # a card value (part of the identity): kept when the module moved


@dataclass(frozen=True, kw_only=True)
class SubsetRequest:
    """`cubeworld generate subset`'s arguments, declared once with their bounds."""

    per_cell: int = setting(help="Stimuli per size x label.", minimum=1, maximum=MAX_PER_SIZE // 2)
    seed: int = setting(0, help="Seed of the draw.", minimum=0, maximum=2**63 - 1)


def draw_subset(
    set_dir: str | os.PathLike,
    out: str | os.PathLike,
    per_cell: int,
    seed: int,
    *,
    name: str | None = None,
    verify: bool = False,
) -> Path:
    """Copy `per_cell` random stimuli of every size x label cell of `set_dir` into `out`.

    The parent must pass `load_set`'s check (complete; for a sealed parent, sizes match),
    and every image copied is checked whole (it decodes; sealed parents: its sha256);
    `verify` checks every image of the parent first."""
    for what, value in (("per_cell", per_cell), ("seed", seed)):
        lo, hi = bounds(SubsetRequest, what)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise StimuliError(f"{what} must be an integer from {lo} to {hi}, got {value!r}")
    try:
        parent = load_set(set_dir, verify=verify, progress=verify)
    except SetFormatError as e:
        raise StimuliError(str(e)) from None
    import numpy as np

    from cubeworld.stimuli.catalog import FAMILIES
    from cubeworld.stimuli.pipeline.quotas import size_quotas

    domain = parent.rows[0].domain
    column = FAMILIES.get(domain).quota_stratum if domain in FAMILIES else None
    if column is not None and any(column not in row.extra for row in parent.rows):
        column = None  # rows without the column (another generator): label quotas only
    cells: dict[tuple[int, bool, object], list[int]] = defaultdict(list)
    for i, row in enumerate(parent.rows):
        cells[(row.n_blocks, row.falls, row.extra.get(column) if column else None)].append(i)
    sizes = sorted({row.n_blocks for row in parent.rows})
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for size in sizes:
        values = sorted({v for (s, _, v) in cells if s == size}, key=lambda v: (v is None, v)) if column else []
        quotas = size_quotas(2 * per_cell, tuple(values))
        for falls in (False, True):
            total = sum(len(m) for (s, f, _), m in cells.items() if s == size and f == falls)
            if total < per_cell:
                raise StimuliError(
                    f"{parent.root}: size {size} has {total} stimuli with falls={falls}, fewer than {per_cell}"
                )
            for value in quotas.values:
                members = cells.get((size, falls, value), [])
                want = quotas.cell_target[(value, (), falls)]
                if len(members) < want:
                    raise StimuliError(
                        f"{parent.root}: size {size} has {len(members)} stimuli with falls={falls} and "
                        f"{column} {value}, fewer than the {want} an even subset needs"
                    )
                picks = rng.choice(len(members), size=want, replace=False)
                chosen.extend(members[int(j)] for j in sorted(picks))
    chosen.sort()
    try:  # what is copied must be whole: decoded, and (sealed parents) hashed against SHA256SUMS
        verify_images(parent.root, [parent.rows[i] for i in chosen], parent.card.get("integrity"))
    except SetFormatError as e:
        raise StimuliError(f"{parent.root}: cannot draw a subset: {e}") from None
    parent_card_bytes = (parent.root / CARD_FILE).read_bytes() if (parent.root / CARD_FILE).exists() else b""
    name = name or f"{parent.name}-subset{per_cell}-s{seed}"
    card = {
        "name": name,
        "kind": parent.kind,
        "domain": parent.rows[0].domain,
        "generator": SUBSET_GENERATOR,
        "generator_version": parent.card.get("generator_version"),
        "seed": seed,
        "arguments": {"parent": parent.name, "per_cell": per_cell, "seed": seed},
        "parent_card_sha256": hashlib.sha256(parent_card_bytes).hexdigest(),
        "parent_arguments": parent.card.get("arguments"),
        "settings": parent.card.get("settings"),
        "mujoco_version": parent.card.get("mujoco_version"),
        "counts": {str(s): {"Yes": per_cell, "No": per_cell} for s in sizes},
        "total": len(chosen),
        "status": COMPLETE,
    }
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise StimuliError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        try:
            old = read_card(out)
        except SetFormatError as e:
            raise StimuliError(f"{out} holds an unreadable card: {e}") from None
        if not old:
            raise StimuliError(f"{out} is not empty and holds no stimulus set; choose an empty or new folder")
        keys = ("name", "arguments", "parent_card_sha256")
        if any(old.get(k) != card[k] for k in keys):
            raise StimuliError(f"{out} holds a different set ({old.get('name')!r}); choose another folder")
    try:
        (out / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
        lines = []
        for i in chosen:
            row = parent.rows[i]
            atomic_write_bytes(out / row.file_name, parent.image_path(row).read_bytes())
            lines.append(json.dumps(row.to_record(), sort_keys=True) + "\n")
        atomic_write_text(out / METADATA_FILE, "".join(lines))
        seal_set(out, card)  # the card last: its presence marks a finished subset
    except OSError as e:
        raise StimuliError(f"cannot write to {out}: {e.strerror or e}") from None
    return out
