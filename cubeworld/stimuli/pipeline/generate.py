"""Generating a stimulus set of any family: quotas per size x label, resumable writes.

Determinism: candidates of a size are numbered k = 0, 1, 2, ... and each is evaluated from
its own random generator. Whatever the number of workers, results are consumed strictly
in candidate order to fill the quotas (`quotas`: half Yes, half No per size, and for a
family with a quota stratum equal counts per stratum value), and candidates computed
ahead in parallel are discarded once the quotas are full. So a set's bytes depend only on
its arguments and settings.

The parts live in their own modules: the card's identity (`identity`), the card
(`card`), the folder's life (`folder`), the generation log and its replay (`progress`), the
workers (`pool`), one candidate (`candidates`) and its row (`rows`); rebuilding a set
from its card is `regenerate`. Where candidates are evaluated is the `executor`'s business
(default: worker processes here; `cluster.SlurmExecutor`: shards on a Slurm cluster, whose
results this same loop consumes in order, so the bytes are the same).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cubeworld.formats.atomic import append_line, atomic_write_bytes, truncate_torn_tail
from cubeworld.formats.sets import METADATA_FILE
from cubeworld.stimuli.catalog import default_config, get_family
from cubeworld.stimuli.core.options import check_workers
from cubeworld.stimuli.core.settings import SetConfig
from cubeworld.stimuli.errors import StimuliError
from cubeworld.stimuli.family import StimulusFamily
from cubeworld.stimuli.pipeline.arguments import (
    DEFAULT_RESOLUTION,
    SetArguments,
    default_name,
    make_arguments,
)
from cubeworld.stimuli.pipeline.candidates import CandidateResult, Job
from cubeworld.stimuli.pipeline.card import build_card
from cubeworld.stimuli.pipeline.folder import finish_folder, prepare_folder
from cubeworld.stimuli.pipeline.identity import identity
from cubeworld.stimuli.pipeline.pool import Executor, Runner, make_runner
from cubeworld.stimuli.pipeline.progress import (
    LOG_FILE,
    CellState,
    GenerationLog,
    GenerationState,
    log_entry,
    replay,
)
from cubeworld.stimuli.pipeline.quotas import counted_strata, set_quotas, stratum_column
from cubeworld.stimuli.pipeline.rows import make_row


def generate_set(
    domain: str,
    sizes: Any,
    per_size: int | Mapping[int, int],
    seed: int,
    out: str | os.PathLike,
    *,
    resolution: int = DEFAULT_RESOLUTION,
    workers: int | None = None,
    progress: bool = True,
    name: str | None = None,
    config: SetConfig | None = None,
    control_cues: bool = False,
    executor: Executor | None = None,
) -> Path:
    """Generate (or resume) a set of `per_size` stimuli per size, half Yes and half No.

    `domain` names a registered stimulus family; `sizes` is '2-7', '3,6,10,15' or a list;
    `per_size` an even int or {size: even int}; `control_cues` adds quotas over the
    family's cues (`pipeline.control`). `executor` evaluates the candidates (default:
    `workers` processes here; `cluster.SlurmExecutor(...)`: shards as a Slurm job array);
    the bytes do not depend on it. Returns the set folder. Raises StimuliError on bad
    input, before writing anything.
    """
    args = make_arguments(domain, sizes, per_size, seed, resolution, control_cues)
    if workers is None:
        workers = os.cpu_count() or 1
    check_workers(workers)
    family = get_family(args.domain)
    config = config or default_config(args.domain)
    if config.domain != args.domain:
        raise StimuliError(f"settings of the {config.domain} family cannot make a {args.domain} set")
    name = name or default_name(args)
    out = Path(out)
    quotas = set_quotas(family, args, config)  # checks the quota design before anything is written
    status = prepare_folder(out, identity(name, args, config), build_card(name, family, args, config))
    if status == "complete":
        return out
    strata, column = counted_strata(family, args, config), stratum_column(family, args, config)
    state = replay(out, args, strata, quotas)
    truncate_torn_tail(out / METADATA_FILE)

    from tqdm.auto import tqdm

    bar = tqdm(total=args.total, initial=len(state.accepted_ids), disable=not progress, desc=name, unit="stim")
    log = GenerationLog(out / LOG_FILE)
    runner: Runner | None = None
    try:
        for size in args.sizes:
            cell = state.cells[size]
            if cell.complete:
                continue
            if runner is None:
                if executor is None:
                    runner = make_runner(family, config, workers)
                else:
                    runner = executor.runner(out, family, config, args, state)

            def make_job(k: int, size=size, cell=cell) -> Job:
                value = cell.quotas.value_of(k)
                open_cells = cell.open_keys(value)
                return Job(
                    size,
                    k,
                    args.seed,
                    args.resolution,
                    open_cells,
                    stratum=value,
                    skip=not open_cells,
                    controlled=args.control_cues,
                )

            def missing(cell=cell) -> int:
                return 2 * cell.quotas.per_label - cell.accepted

            for res in runner.results(make_job, cell.next_k, missing):
                assert res.k == cell.next_k, "candidates must be consumed in order"
                if res.k >= cell.quotas.limit:
                    open_cells = ", ".join(
                        " ".join(
                            [*([f"{column} {v}"] if v is not None else []), *([f"cue bins {key}"] if key else []), a]
                        )
                        for v, key, a in cell.open_cells()
                    )
                    raise StimuliError(
                        f"size {size}: {res.k} candidates evaluated and still no stimulus for {open_cells}: the "
                        f"{family.domain} family's physics (almost) never gives it with these settings; the generation "
                        "resumes where it stopped once the settings allow it"
                    )
                _consume(out, log, family, args, strata, column, cell, state, res, cell.quotas.value_of(res.k))
                cell.next_k = res.k + 1
                if res.accepted and len(state.accepted_ids) > bar.n:
                    bar.update(1)
                    bar.set_postfix(size=size, rejected=sum(cell.rejections.values()), refresh=False)
                if cell.complete:
                    break
    finally:
        log.flush()  # the lines of the last rejected and surplus candidates (also on an error)
        if runner is not None:
            runner.close()
        bar.close()
    rows = [json.loads(line) for line in (out / METADATA_FILE).read_text(encoding="utf-8").splitlines() if line]
    finish_folder(out, state, build_card(name, family, args, config, state, rows))
    return out


def _consume(
    out: Path,
    log: GenerationLog,
    family: StimulusFamily,
    args: SetArguments,
    strata: tuple[str, ...],
    column: str | None,
    cell: CellState,
    state: GenerationState,
    res: CandidateResult,
    value: Any,
) -> None:
    """Write an accepted candidate (image -> row -> log line), or log why it was not kept;
    `value` is its quota stratum value (in row column `column`)."""
    if not cell.value_open(value):  # its stratum value is full: surplus, evaluated or not (`Job.skip`)
        cell.surplus += 1
        log.note(log_entry(res.size, res.k, "surplus"))
        return
    if res.cue is None:  # rejected before its cue key was known (out of frame, or its cues out of range)
        cell.rejections[res.reason] += 1
        log.note(log_entry(res.size, res.k, "rejected", reason=res.reason))
        return
    key = res.cue
    if not cell.open_labels(value, key):  # its cue key is full: surplus, judged or not
        cell.surplus += 1
        log.note(log_entry(res.size, res.k, "surplus"))
        return
    if res.skipped:  # cannot happen: a value and key open at consumption were open at submission
        raise RuntimeError(f"candidate {res.k} of size {res.size} was skipped although its stratum is open")
    if res.falls is not None and not cell.fits(value, bool(res.falls), key):
        # Its label is not wanted (any more): surplus, whether or not it was judged to the end
        # (`StimulusFamily.judge_wanted`), so the log is the same for any number of workers.
        cell.surplus += 1
        log.note(log_entry(res.size, res.k, "surplus", falls=bool(res.falls)))
        return
    if not res.accepted:
        if res.reason == "unwanted":  # cannot happen: a label wanted now was wanted when submitted
            raise RuntimeError(f"candidate {res.k} of size {res.size} was judged unwanted although its label is open")
        cell.rejections[res.reason] += 1
        log.note(log_entry(res.size, res.k, "rejected", reason=res.reason))
        return
    falls = bool(res.falls)
    if res.png is None:  # cannot happen: a label wanted now was wanted, so rendered, when submitted
        raise RuntimeError(f"candidate {res.k} of size {res.size} was accepted without an image")
    row = make_row(family, args, res, cell.accepted)
    if column is not None and row.extra.get(column) != value:
        raise StimuliError(
            f"the {family.domain} family drew candidate {res.k} of size {res.size} in "
            f"{column} {row.extra.get(column)!r}, not {value!r}"
        )
    atomic_write_bytes(out / row.file_name, res.png)
    append_line(out / METADATA_FILE, json.dumps(row.to_record(), sort_keys=True))
    counted = {c: row.extra.get(c) for c in strata}
    cue = {"cue": list(key)} if key else {}
    log.commit(log_entry(res.size, res.k, "accepted", falls=falls, id=row.stimulus_id, **counted, **cue))
    cell.count_accepted(falls, counted, value, key)
    state.accepted_ids.append(row.stimulus_id)
