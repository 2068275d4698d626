"""Generating a stimulus set: quotas per size x label, workers, resumable writes, the card.

Determinism: candidates of a size are numbered k = 0, 1, 2, ... and each is evaluated from
its own random generator. Whatever the number of workers, results are consumed strictly
in candidate order to fill the size x label quotas (half Yes, half No), and candidates
computed ahead in parallel are discarded once the quotas are full. So a set's bytes
depend only on its arguments and settings.

Resumability: each accepted stimulus is written as image (atomic rename) -> metadata line
-> line in the generation log; every rejected or surplus candidate gets a log line too.
The log is the run's progress: a restarted run replays it, drops metadata lines the log
does not confirm, and continues with the next candidate, ending with exactly the bytes of
an uninterrupted run. The log is removed when the set is complete.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import warnings
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from cubeworld.formats.atomic import (
    append_jsonl,
    append_line,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    read_complete_lines,
    read_jsonl,
    truncate_torn_tail,
)
from cubeworld.formats.sets import CARD_FILE, IMAGES_DIR, METADATA_FILE, SetFormatError, StimulusRow, read_card
from cubeworld.stimuli.arguments import SetArguments, default_name, make_arguments
from cubeworld.stimuli.candidates import CandidateResult, Job
from cubeworld.stimuli.config import GeneratorConfig, default_config
from cubeworld.stimuli.errors import StimuliError
from cubeworld.formats.answers import answer_for
from cubeworld.tasks import PYRAMID, TASKS, TOWER

GENERATOR = "cubeworld.stimuli"
GENERATOR_VERSION = "1.0.0"  # bump whenever the same arguments would give other bytes
LOG_FILE = ".generation-log.jsonl"
LABEL_RULES = {
    TOWER: "falls = some block moves more than move_threshold x its side or tilts more than "
    "tilt_threshold degrees in physics.duration s of simulation; towers within tip_margin of the "
    "analytic tipping point, or whose simulated label contradicts the analytic balance check, are rejected",
    PYRAMID: "falls = with the red block removed, some other block moves more than yes_move or tilts more "
    "than yes_tilt; No = nothing moves more than no_move nor tilts more than no_tilt; pyramids that move "
    "without the removal, give neither clean answer, or change answer under a perturbation are rejected",
}


# --------------------------------------------------------------------------- card
def _camera_table(args: SetArguments, config: GeneratorConfig) -> dict[str, Any]:
    if args.domain == TOWER:
        from cubeworld.stimuli.towers import tower_camera

        return {str(s): tower_camera(s, config.cameras[TOWER]) for s in args.sizes}
    from cubeworld.stimuli.pyramids import pyramid_camera

    return {str(s): pyramid_camera(s, config.cameras[PYRAMID]) for s in args.sizes}


def identity(name: str, args: SetArguments, config: GeneratorConfig) -> dict[str, Any]:
    """The part of a card that decides the set's bytes; a folder with another is another set."""
    return {
        "name": name,
        "domain": args.domain,
        "generator": GENERATOR,
        "generator_version": GENERATOR_VERSION,
        "seed": args.seed,
        "arguments": args.to_dict(),
        "settings": config.to_dict(),
    }


def _mujoco_version() -> str:
    from cubeworld.stimuli.engine import mujoco

    return mujoco.__version__


def build_card(name: str, args: SetArguments, config: GeneratorConfig, state: "RunState | None" = None) -> dict[str, Any]:
    card = identity(name, args, config)
    card.update(
        {
            "mujoco_version": _mujoco_version(),
            "render_backend": os.environ.get("MUJOCO_GL", "egl"),
            "cameras": _camera_table(args, config),
            "label_rule": LABEL_RULES[args.domain],
            "prompt": TASKS[args.domain].prompt,
            "status": "in_progress",
        }
    )
    if state is not None:
        card.update(state.summary(args))
        card["status"] = "complete"
    return card


def identity_diff(card: Mapping[str, Any], ident: Mapping[str, Any]) -> list[str]:
    """The identity entries in which a set's card differs from `ident`."""
    return [k for k in ident if card.get(k) != ident[k]]


def identity_for(domain: str, sizes: Any, per_size: int | Mapping[int, int], seed: int, *,
                 resolution: int = 448, name: str | None = None) -> dict[str, Any]:
    """The identity `generate_set` with these arguments (and built-in settings) writes."""
    args = make_arguments(domain, sizes, per_size, seed, resolution)
    return identity(name or default_name(args), args, default_config())


# --------------------------------------------------------------------------- state
@dataclass
class CellState:
    """Progress of one size: next candidate, accepted counts per label, rejections."""

    next_k: int = 0
    counts: Counter = field(default_factory=Counter)  # falls (bool) -> accepted
    rejections: Counter = field(default_factory=Counter)
    surplus: int = 0
    by_red_row: Counter = field(default_factory=Counter)  # (red_row, answer) -> count

    @property
    def accepted(self) -> int:
        return self.counts[True] + self.counts[False]


@dataclass
class RunState:
    cells: dict[int, CellState]
    accepted_ids: list[str]

    def summary(self, args: SetArguments) -> dict[str, Any]:
        counts = {str(s): {"Yes": c.counts[True], "No": c.counts[False]} for s, c in self.cells.items()}
        out: dict[str, Any] = {
            "counts": counts,
            "total": sum(c.accepted for c in self.cells.values()),
            "rejections": {str(s): dict(sorted(c.rejections.items())) for s, c in self.cells.items()},
            "rejections_total": sum(sum(c.rejections.values()) for c in self.cells.values()),
            "surplus_discarded": {str(s): c.surplus for s, c in self.cells.items()},
            "candidates_evaluated": {str(s): c.next_k for s, c in self.cells.items()},
        }
        if args.domain == PYRAMID:
            out["counts_by_red_row"] = {
                str(s): {
                    str(row): {"Yes": c.by_red_row[(row, "Yes")], "No": c.by_red_row[(row, "No")]}
                    for row in sorted({r for r, _ in c.by_red_row})
                }
                for s, c in self.cells.items()
            }
        return out


def _replay(out: Path, args: SetArguments) -> RunState:
    """Rebuild progress from the log and cut metadata back to what the log confirms."""
    log, meta = out / LOG_FILE, out / METADATA_FILE
    truncate_torn_tail(log)
    cells = {s: CellState() for s in args.sizes}
    accepted: list[str] = []
    for entry in read_jsonl(log):
        cell = cells[int(entry["size"])]
        cell.next_k = int(entry["k"]) + 1
        status = entry["status"]
        if status == "accepted":
            cell.counts[bool(entry["falls"])] += 1
            accepted.append(entry["id"])
            if entry.get("red_row") is not None:
                cell.by_red_row[(int(entry["red_row"]), answer_for(bool(entry["falls"])))] += 1
        elif status == "surplus":
            cell.surplus += 1
        else:
            cell.rejections[entry["reason"]] += 1
    lines = read_complete_lines(meta)
    ids = [json.loads(line)["stimulus_id"] for line in lines]
    if ids[: len(accepted)] != accepted:
        raise StimuliError(f"{out}: {METADATA_FILE} does not match the generation log; delete the folder and start again")
    if len(lines) != len(accepted) or (meta.exists() and not meta.read_bytes().endswith(b"\n") and meta.stat().st_size):
        atomic_write_text(meta, "".join(line + "\n" for line in lines[: len(accepted)]))
    return RunState(cells=cells, accepted_ids=accepted)


def _is_fresh(out: Path) -> bool:
    """Empty, or holding only what a run killed while writing its first card leaves."""
    for p in out.iterdir():
        if p.name.startswith(f".{CARD_FILE}.") and p.name.endswith(".tmp"):
            continue
        if p.name == IMAGES_DIR and p.is_dir() and not any(p.iterdir()):
            continue
        return False
    return True


def _prepare_folder(out: Path, ident: dict[str, Any], card: dict[str, Any]) -> str:
    """Check `out` may receive this set; returns "new", "resume" or "complete"."""
    if out.exists() and not out.is_dir():
        raise StimuliError(f"{out} exists and is not a folder")
    if out.is_dir():
        if (out / CARD_FILE).exists():
            try:
                old = read_card(out)
            except SetFormatError as e:
                raise StimuliError(f"{out} holds an unreadable card: {e}") from None
            diff = identity_diff(old, ident)
            if diff:
                raise StimuliError(
                    f"{out} holds a different set ({old.get('name')!r}; differs in {', '.join(diff)}); "
                    "choose another --out folder"
                )
            return "complete" if old.get("status") == "complete" else "resume"
        if not _is_fresh(out):
            raise StimuliError(f"{out} is not empty and holds no stimulus set; choose an empty or new folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / CARD_FILE, card)  # first: from here on the folder is this set's
        (out / IMAGES_DIR).mkdir(exist_ok=True)
    except OSError as e:
        raise StimuliError(f"cannot write to {out}: {e.strerror or e}") from None
    return "new"


# --------------------------------------------------------------------------- execution
class _InProcess:
    """One worker: evaluate lazily in this process, in candidate order."""

    def __init__(self, config: GeneratorConfig):
        from cubeworld.stimuli.candidates import Evaluator

        self._evaluate = Evaluator(config)

    def results(self, make_job: Callable[[int], Job], start: int, missing: Callable[[], int]):
        k = start
        while True:
            yield self._evaluate(make_job(k))
            k += 1

    def close(self) -> None:
        pass


class _PoolRunner:
    """Several workers: a sliding window of candidates evaluated ahead, consumed in order."""

    def __init__(self, config: GeneratorConfig, workers: int):
        from cubeworld.stimuli.candidates import init_worker

        ctx = mp.get_context("spawn")  # no inherited GL contexts or torch threads
        self._pool = ctx.Pool(workers, initializer=init_worker, initargs=(config.to_dict(),))
        self._workers = workers
        self._window = 3 * workers

    def results(self, make_job: Callable[[int], Job], start: int, missing: Callable[[], int]):
        from cubeworld.stimuli.candidates import run_job

        pending: deque = deque()
        k = start
        while True:
            # Look ahead less as the cell fills, so few candidates are computed in vain.
            window = max(self._workers, min(self._window, 2 * missing()))
            while len(pending) < window:
                pending.append(self._pool.apply_async(run_job, (make_job(k),)))
                k += 1
            yield pending.popleft().get()

    def close(self) -> None:
        self._pool.terminate()
        self._pool.join()


def _runner(config: GeneratorConfig, workers: int):
    return _InProcess(config) if workers == 1 else _PoolRunner(config, workers)


def _row(args: SetArguments, res: CandidateResult, index: int) -> StimulusRow:
    sid = f"{args.domain}-s{args.seed}-n{res.size}-{index:05d}"
    extra: dict[str, Any] = {"seed": args.seed, "candidate": res.k, "scene": res.scene, "outcome": res.outcome}
    if args.domain == TOWER:
        extra["margin_mm"] = res.outcome["analytic_margin_mm"]
    else:
        extra["red_block"] = res.scene["red_block"]
        extra["red_row"] = res.scene["red_row"]
    return StimulusRow(
        stimulus_id=sid,
        file_name=f"{IMAGES_DIR}/{sid}.png",
        domain=args.domain,
        n_blocks=res.size,
        falls=bool(res.falls),
        answer=answer_for(bool(res.falls)),
        prompt=TASKS[args.domain].prompt,
        extra=extra,
    )


def _finish(out: Path, state: RunState, card: dict[str, Any]) -> None:
    keep = {f"{sid}.png" for sid in state.accepted_ids}
    for p in (out / IMAGES_DIR).iterdir():
        if p.name not in keep:  # stray images or temporary files from a killed run
            p.unlink()
    for p in out.iterdir():
        if p.is_file() and p.name.startswith(".") and p.name.endswith(".tmp"):
            p.unlink()  # temporary files of atomic writes interrupted by a kill
    atomic_write_json(out / CARD_FILE, card)
    (out / LOG_FILE).unlink(missing_ok=True)


def generate_set(
    domain: str,
    sizes: Any,
    per_size: int | Mapping[int, int],
    seed: int,
    out: str | os.PathLike,
    *,
    resolution: int = 448,
    workers: int | None = None,
    progress: bool = True,
    name: str | None = None,
    config: GeneratorConfig | None = None,
) -> Path:
    """Generate (or resume) a set of `per_size` stimuli per size, half Yes and half No.

    `sizes` is '2-7', '3,6,10,15' or a list; `per_size` an even int or {size: even int}.
    Returns the set folder. Raises StimuliError on bad input, before writing anything.
    """
    args = make_arguments(domain, sizes, per_size, seed, resolution)
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise StimuliError(f"workers must be a positive integer, got {workers!r}")
    config = config or default_config()
    name = name or default_name(args)
    out = Path(out)
    ident = identity(name, args, config)
    status = _prepare_folder(out, ident, build_card(name, args, config))
    if status == "complete":
        return out
    state = _replay(out, args)
    truncate_torn_tail(out / METADATA_FILE)

    from tqdm.auto import tqdm

    bar = tqdm(total=args.total, initial=len(state.accepted_ids), disable=not progress, desc=name, unit="stim")
    runner = None
    try:
        for size in args.sizes:
            cell = state.cells[size]
            quota = args.per_size[size] // 2

            def open_labels(cell=cell, quota=quota) -> tuple[bool, ...]:
                return tuple(lbl for lbl in (False, True) if cell.counts[lbl] < quota)

            if not open_labels():
                continue
            if runner is None:
                runner = _runner(config, workers)

            def make_job(k: int, size=size, open_labels=open_labels) -> Job:
                return Job(args.domain, size, k, args.seed, args.resolution, open_labels())

            def missing(cell=cell, quota=quota) -> int:
                return 2 * quota - cell.accepted

            for res in runner.results(make_job, cell.next_k, missing):
                assert res.k == cell.next_k, "candidates must be consumed in order"
                _consume(out, args, cell, state, res, quota)
                cell.next_k = res.k + 1
                if res.accepted and len(state.accepted_ids) > bar.n:
                    bar.update(1)
                    bar.set_postfix(size=size, rejected=sum(cell.rejections.values()), refresh=False)
                if not open_labels():
                    break
    finally:
        if runner is not None:
            runner.close()
        bar.close()
    _finish(out, state, build_card(name, args, config, state))
    return out


def _consume(out: Path, args: SetArguments, cell: CellState, state: RunState, res: CandidateResult, quota: int) -> None:
    base = {"size": res.size, "k": res.k}
    if not res.accepted:
        cell.rejections[res.reason] += 1
        append_jsonl(out / LOG_FILE, {**base, "status": "rejected", "reason": res.reason})
        return
    falls = bool(res.falls)
    if cell.counts[falls] >= quota:
        cell.surplus += 1
        append_jsonl(out / LOG_FILE, {**base, "status": "surplus", "falls": falls})
        return
    if res.png is None:  # cannot happen: an open label at consumption was open at submission
        raise RuntimeError(f"candidate {res.k} of size {res.size} was accepted without an image")
    row = _row(args, res, cell.accepted)
    atomic_write_bytes(out / row.file_name, res.png)
    append_line(out / METADATA_FILE, json.dumps(row.to_record(), sort_keys=True))
    red_row = row.extra.get("red_row")
    append_jsonl(out / LOG_FILE, {**base, "status": "accepted", "falls": falls, "id": row.stimulus_id, "red_row": red_row})
    cell.counts[falls] += 1
    if red_row is not None:
        cell.by_red_row[(int(red_row), row.answer)] += 1
    state.accepted_ids.append(row.stimulus_id)


def regenerate(card_path: str | os.PathLike, out: str | os.PathLike, *, workers: int | None = None, progress: bool = True) -> Path:
    """Rebuild a set from its card (`dataset.json`), with the card's own settings."""
    card_path = Path(card_path)
    if card_path.is_dir():
        card_path = card_path / CARD_FILE
    if not card_path.is_file():
        raise StimuliError(f"{card_path}: no such card file")
    try:
        card = read_card(card_path)
    except SetFormatError as e:
        raise StimuliError(f"cannot parse the card: {e}") from None
    if "parent" in card.get("arguments", {}):
        raise StimuliError(f"{card_path} is the card of a subset; rebuild its parent, then draw the subset with its arguments")
    if card.get("generator") != GENERATOR:
        raise StimuliError(f"{card_path}: not a card written by {GENERATOR} (generator={card.get('generator')!r})")
    if card.get("generator_version") != GENERATOR_VERSION:
        warnings.warn(
            f"the card was written by {GENERATOR} {card.get('generator_version')}, this is {GENERATOR_VERSION}: "
            "the rebuilt set may differ",
            stacklevel=2,
        )
    if card.get("mujoco_version") not in (None, _mujoco_version()):
        warnings.warn(f"the card used MuJoCo {card.get('mujoco_version')}, this is {_mujoco_version()}", stacklevel=2)
    if not isinstance(card.get("arguments"), dict) or not isinstance(card.get("settings"), dict):
        raise StimuliError(f"{card_path}: the card lacks 'arguments' or 'settings'")
    args = SetArguments.from_dict(card["arguments"])
    config = GeneratorConfig.from_dict(card["settings"])
    return generate_set(
        args.domain,
        args.sizes,
        args.per_size,
        args.seed,
        out,
        resolution=args.resolution,
        workers=workers,
        progress=progress,
        name=card.get("name"),
        config=config,
    )
