"""Do a set's labels hold under other reasonable physics? `cubeworld audit SET --physics`.

A sample of the set's items (per size, half of each answer where the set has them,
drawn with a seed) is re-simulated with the family's outcome rule
(`StimulusFamily.answer_by_simulation`) under the set's own physics and family settings
(from its card) -- "as made", which should agree on every item -- and under each
documented perturbation (`StimulusFamily.audit_perturbations`, by default
`perturbations.yaml`: timestep 1 ms and 4 ms, friction 0.4 and 0.8, the elliptic cone,
1 mm position noise, a 10 s horizon, softer contacts). It reports, per size and
perturbation, how many labels stayed the same, with 95% Wilson intervals.

Items are simulated in worker processes (`ProcessPoolExecutor`, one MuJoCo world per
scene size each); a dead worker's items are tried once more in a fresh pool, then the
audit stops naming them. Results depend only on the sample, never on the workers.

**It resumes.** Every item's answers are appended, as they arrive, to the audit's log (one
complete JSON line each, so a kill loses at most the items in flight): by default
`$XDG_CACHE_HOME/cubeworld/physics-audit/<key>.jsonl` (else `~/.cache/...`), `key` being a
hash of what decides the answers (the set's name and metadata bytes, the sample's size and
seed, the physics, the family's settings and the perturbations); `--log FILE` puts it
elsewhere. The same command started again reads the log and simulates only the items not
in it; a log of another audit is refused. The set folder is never written to.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cubeworld.pools import run_calls
from cubeworld.stimuli.errors import StimuliError
from cubeworld.typed import setting

MAX_AUDIT_PER_SIZE = 10_000  # items per size: beyond a set's evaluation size, ~5 CPU hours of pyramids


@dataclass(frozen=True, kw_only=True)
class PhysicsAuditRequest:
    """`cubeworld audit SET --physics`'s sample, declared once (CLI options and bounds)."""

    per_size: int = setting(
        20,
        help="--physics: items re-simulated per size (half of each answer).",
        minimum=1,
        maximum=MAX_AUDIT_PER_SIZE,
    )
    seed: int = setting(0, help="--physics: the seed drawing the sample.", minimum=0, maximum=2**63 - 1)


@dataclass(frozen=True)
class PhysicsAudit:
    set_name: str
    domain: str
    changes: tuple[Mapping[str, Any], ...]  # the first is {}: the set's own physics
    sizes: tuple[int, ...]
    items: dict[int, int]  # items re-simulated per size
    agree: dict[tuple[int, int], int]  # (change index, size) -> labels unchanged
    note: str = ""  # e.g. the card's physics could not be used

    def agreement(self, change: int, size: int | None = None) -> tuple[int, int]:
        sizes = self.sizes if size is None else (size,)
        return sum(self.agree[(change, s)] for s in sizes), sum(self.items[s] for s in sizes)


def sample_items(rows: Sequence[Any], per_size: int, seed: int) -> list[Any]:
    """Up to `per_size` rows of every size, half of each answer where possible, drawn with
    `seed`; in set order."""
    import numpy as np

    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for size in sorted({r.n_blocks for r in rows}):
        groups = [[i for i, r in enumerate(rows) if r.n_blocks == size and r.falls == lbl] for lbl in (False, True)]
        want = [per_size // 2, per_size - per_size // 2]
        if len(groups[0]) < want[0]:
            want = [len(groups[0]), per_size - len(groups[0])]
        if len(groups[1]) < want[1]:
            want = [min(len(groups[0]), per_size - len(groups[1])), len(groups[1])]
        for group, k in zip(groups, want):
            if k > 0:
                chosen.extend(group[int(j)] for j in rng.choice(len(group), size=k, replace=False))
    return [rows[i] for i in sorted(chosen)]


def _card_physics(card: Mapping[str, Any], domain: str) -> tuple[dict[str, Any], Mapping[str, Any] | None, str]:
    """The set's own physics overrides and family settings from its card, or the built-in
    ones with a note saying why."""
    from cubeworld.stimuli.catalog import get_family
    from cubeworld.stimuli.core.settings import PhysicsSettings
    from cubeworld.stimuli.plain import from_plain

    settings: Mapping[str, Any] = card["settings"] if isinstance(card.get("settings"), Mapping) else {}
    physics, own = settings.get("physics"), settings.get(domain)
    try:
        from_plain(PhysicsSettings, physics, "physics")
        get_family(domain).settings_from_dict(own or {}, f"settings.{domain}")
        return dict(physics or {}), own, ""
    except StimuliError as e:
        return (
            {},
            None,
            (
                f"the card's settings are not this generator's ({e}); re-simulated with the built-in "
                "physics and family settings"
            ),
        )


def _simulate(
    domain: str,
    scene: Mapping[str, Any],
    base: Mapping[str, Any],
    own: Mapping[str, Any] | None,
    changes: Sequence[Mapping[str, Any]],
) -> list[bool]:
    """One item under every change (a worker's job)."""
    from cubeworld.stimuli.catalog import get_family

    family = get_family(domain)
    return [family.answer_by_simulation(scene, physics={**base, **change}, settings=own) for change in changes]


def _init_worker() -> None:
    os.environ.setdefault("LP_NUM_THREADS", "1")


def physics_audit(
    set_dir: str | os.PathLike,
    *,
    per_size: int = 20,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    changes: Sequence[Mapping[str, Any]] | None = None,
    log: str | os.PathLike | None = None,
    verify: bool = False,
) -> PhysicsAudit:
    """Re-simulate a sample of the set (see the module docstring); `log` is the resumable
    per-item log (default: in the user's cache, keyed by the audit)."""
    from tqdm.auto import tqdm

    from cubeworld.formats.atomic import append_jsonl, read_jsonl, truncate_torn_tail
    from cubeworld.formats.sets import METADATA_FILE, SetFormatError, load_set
    from cubeworld.stimuli.catalog import get_family
    from cubeworld.stimuli.core.options import check_workers

    lo, hi = _bounds("per_size")
    if isinstance(per_size, bool) or not isinstance(per_size, int) or not lo <= per_size <= hi:
        raise StimuliError(f"--per-size must be an integer from {lo} to {hi}, got {per_size!r}")
    if workers is not None:
        check_workers(workers)
    try:
        s = load_set(set_dir, check_images=verify, verify=verify, progress=progress)
    except SetFormatError as e:
        raise StimuliError(str(e)) from None
    domain = s.rows[0].domain
    family = get_family(domain)
    if not all(isinstance(r.extra.get("scene"), Mapping) for r in s.rows):
        raise StimuliError(f"{Path(set_dir)}: its rows record no scenes (photos?), so there is nothing to re-simulate")
    base, own, note = _card_physics(s.card, domain)
    chosen: tuple[Mapping[str, Any], ...] = (
        (({},) + tuple(family.audit_perturbations())) if changes is None else tuple(changes)
    )
    items = sample_items(s.rows, per_size, seed)
    workers = workers or os.cpu_count() or 1
    header = {
        "audit": "physics",
        "set": s.name,
        "metadata_sha256": hashlib.sha256((s.root / METADATA_FILE).read_bytes()).hexdigest(),
        "per_size": per_size,
        "seed": seed,
        "physics": base,
        "settings": own,
        "changes": [dict(c) for c in chosen],
    }
    key = hashlib.sha256(json.dumps(header, sort_keys=True, default=str).encode()).hexdigest()[:24]
    log_path = Path(log) if log is not None else default_log_dir() / f"{key}.jsonl"
    done = _read_log(log_path, key, read_jsonl, truncate_torn_tail)
    try:
        if not log_path.exists():
            append_jsonl(log_path, {"key": key, **header})
    except OSError as e:
        raise StimuliError(f"cannot write the audit log {log_path}: {e.strerror or e} (give --log elsewhere)") from None
    todo = [i for i, r in enumerate(items) if r.stimulus_id not in done]
    bar = tqdm(
        total=len(items), initial=len(items) - len(todo), disable=not progress, desc="physics audit", unit="item"
    )

    def record(j: int, answers: list[bool]) -> None:
        done[items[todo[j]].stimulus_id] = answers
        append_jsonl(log_path, {"id": items[todo[j]].stimulus_id, "answers": answers})
        bar.update(1)

    try:
        run_calls(
            _simulate,
            [(domain, items[i].extra["scene"], base, own, chosen) for i in todo],
            workers=workers,
            initializer=_init_worker,
            on_result=record,
            name_of=lambda j: items[todo[j]].stimulus_id,
            what="physics audit",
            error=StimuliError,
        )
    finally:
        bar.close()
    results = [done[r.stimulus_id] for r in items]
    sizes = tuple(sorted({r.n_blocks for r in items}))
    count = {s: sum(r.n_blocks == s for r in items) for s in sizes}
    agree = {
        (c, s): sum(results[i][c] == r.falls for i, r in enumerate(items) if r.n_blocks == s)
        for c in range(len(chosen))
        for s in sizes
    }
    return PhysicsAudit(s.name, domain, chosen, sizes, count, agree, note)


def _bounds(name: str) -> tuple[int, int]:
    from cubeworld.stimuli.plain import bounds

    return bounds(PhysicsAuditRequest, name)


def default_log_dir() -> Path:
    """Where audits keep their resumable logs: the user's cache."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "cubeworld" / "physics-audit"


def _read_log(path: Path, key: str, read_jsonl: Any, truncate_torn_tail: Any) -> dict[str, list[bool]]:
    """The answers a killed audit already logged ({} for a new log); a log of another
    audit is refused rather than mixed in."""
    if not path.exists():
        return {}
    try:
        truncate_torn_tail(path)
        entries = list(read_jsonl(path))
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise StimuliError(f"{path}: not a readable audit log ({e})") from None
    if not entries or entries[0].get("key") != key:
        raise StimuliError(
            f"{path}: the log of another audit (other set, sample, physics or perturbations); "
            "give another --log, or delete it to start again"
        )
    return {str(e["id"]): [bool(a) for a in e["answers"]] for e in entries[1:] if "id" in e}


def format_physics_audit(audit: PhysicsAudit) -> list[str]:
    from cubeworld.stimuli.audit.shortcut import wilson
    from cubeworld.stimuli.core.perturbations import describe

    total = sum(audit.items.values())
    lines = [
        f"physics audit: {total} items re-simulated ({', '.join(f'{audit.items[s]} of size {s}' for s in audit.sizes)});",
        "  labels unchanged under the set's own physics ('as made') and each perturbation [95% Wilson interval]",
    ]
    if audit.note:
        lines.append(f"  note: {audit.note}")
    names = ["as made" if not c else describe(c) for c in audit.changes]
    width = max(len(n) for n in names)
    lines.append(
        f"  {'physics':{width}s}  {'all sizes':>26s}  " + "  ".join(f"{'n=' + str(s):>9s}" for s in audit.sizes)
    )
    for c, name in enumerate(names):
        k, n = audit.agreement(c)
        lo, hi = wilson(k, n)
        per = "  ".join(f"{audit.agree[(c, s)]:>4d}/{audit.items[s]:<4d}" for s in audit.sizes)
        lines.append(f"  {name:{width}s}  {k:>4d}/{n:<4d} {k / n:.3f} [{lo:.3f}, {hi:.3f}]  {per}")
    return lines
