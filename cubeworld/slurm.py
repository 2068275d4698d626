"""One submitit executor for Slurm, shared by the study runner (runs) and the stimuli
pipeline (generation shards): the same resource options mean the same `sbatch` lines."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def slurm_executor(
    folder: Path,
    name: str,
    *,
    timeout_min: int,
    mem_gb: float,
    cpus_per_task: int,
    array_parallelism: int,
    partition: str | None = None,
    constraint: str | None = None,
    account: str | None = None,
    qos: str | None = None,
    setup: Sequence[str] = (),
    gpus_per_node: int = 0,
) -> Any:
    """A `submitit.AutoExecutor` writing its logs under `folder/%j`, one task on one node per job."""
    import submitit

    executor = submitit.AutoExecutor(folder=Path(folder) / "%j", cluster="slurm")
    params: dict[str, Any] = dict(
        timeout_min=timeout_min,
        mem_gb=mem_gb,
        cpus_per_task=cpus_per_task,
        slurm_array_parallelism=array_parallelism,
        name=name,
        nodes=1,
        tasks_per_node=1,
    )
    if gpus_per_node:
        params["gpus_per_node"] = gpus_per_node
    if partition:
        params["slurm_partition"] = partition
    if constraint:
        params["slurm_constraint"] = constraint
    extra = {k: v for k, v in (("account", account), ("qos", qos)) if v}
    if extra:
        params["slurm_additional_parameters"] = extra
    if setup:
        params["slurm_setup"] = list(setup)
    executor.update_parameters(**params)
    return executor
