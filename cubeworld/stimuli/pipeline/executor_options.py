"""The options of `--executor` (light: no numpy): where `cubeworld generate` evaluates
candidates and, on Slurm, how its shards run. Apart from `cluster` so the command line can
build its options without importing the generation machinery (and numpy) at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cubeworld.typed import setting

EXECUTORS = ("local", "slurm")


@dataclass(frozen=True, kw_only=True)
class SlurmOptions:
    """How a set is generated on Slurm: the shards and each shard's job. Never on a card:
    the set's bytes do not depend on them."""

    partition: str | None = setting(None, help="Slurm partition of the shard jobs.", cli="--slurm-partition")
    cpus_per_task: int = setting(
        2, help="CPUs of each shard job (its worker processes).", minimum=1, maximum=512, cli="--slurm-cpus"
    )
    mem_gb: int = setting(4, help="Memory of each shard job, GB.", minimum=1, maximum=4096, cli="--slurm-mem-gb")
    timeout_min: int = setting(
        240, help="Time limit of each shard job, minutes.", minimum=1, maximum=14 * 24 * 60, cli="--slurm-time"
    )
    array_parallelism: int = setting(
        64, help="Shard jobs running at once.", minimum=1, maximum=100_000, cli="--slurm-parallel"
    )
    account: str | None = setting(None, help="Slurm account.", cli="--slurm-account")
    qos: str | None = setting(None, help="Slurm quality of service.", cli="--slurm-qos")
    constraint: str | None = setting(None, help="Slurm node constraint.", cli="--slurm-constraint")
    setup: tuple[str, ...] = setting(
        (), help="Shell line run before each shard job (module load ...); repeatable.", cli="--slurm-setup"
    )
    shard_candidates: int = setting(
        400, help="Candidates per shard (one job's work).", minimum=1, maximum=1_000_000, cli="--shard-candidates"
    )
    candidates_per_item: float = setting(
        3.0,
        help="First guess of the candidates one kept stimulus costs (later rounds measure it).",
        minimum=1.0,
        maximum=1000.0,
        cli="--candidates-per-item",
    )
    attempts: int = setting(
        3, help="Submissions of a shard whose job dies before it gives up.", minimum=1, maximum=100, cli=False
    )
    poll_s: float = setting(5.0, help="Seconds between looks at the jobs.", minimum=0.1, maximum=3600.0, cli=False)


@dataclass(frozen=True, kw_only=True)
class ExecutorOptions:
    """Where `cubeworld generate` evaluates candidates."""

    executor: Literal["local", "slurm"] = setting(
        "local", help="local (worker processes here) or slurm (shards as a job array, merged here)."
    )
