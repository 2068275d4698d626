"""The registry of external data sets: one entry per data set (light: no pandas here).

To add a photo set: write its importer module (read the source folder, write a
stimulus-set folder with `cubeworld.formats.sets` rows and, if it has them,
`human_responses.csv`), then register one `ExternalDataset` below. Studies name it with
`sets: {NAME: {dataset: NAME}}`; `cubeworld data import NAME --out DIR` imports it.
"""

from __future__ import annotations

from pathlib import Path

from cubeworld.datasets.base import ExternalDataset
from cubeworld.formats.sets import PHOTO
from cubeworld.registry import Registry

HERE = Path(__file__).resolve().parent

DATASETS: Registry[ExternalDataset] = Registry("external data set")

DATASETS.register(
    "lerer100",
    ExternalDataset(
        name="lerer100",
        description="100 photos of real wooden block towers (2-4 blocks) with 107 people's "
        "judgments and five published zero-shot model answers",
        env="CUBEWORLD_LERER100",
        importer="cubeworld.datasets.lerer100:import_lerer100",
        models_importer="cubeworld.datasets.lerer100:import_lerer100_models",
        shipped=HERE / "lerer100_data",
        # 1 still: the card gained its kind, total, status and integrity record, but rows and
        # images are unchanged, so an import made before is still this import (finished
        # studies stay finished); bump only when rows or images change.
        version=1,
        citation="Lerer, Gross & Fergus (2016), ICML; Schulze Buschoff, Akata, Bethge & Schulz "
        "(2025), Nature Machine Intelligence",
        licence="MIT (lerer100_data/LICENSE)",
        kind=PHOTO,
    ),
)


def get_dataset(name: str) -> ExternalDataset:
    """The registered data set `name` (an UnknownEntryError lists the known names)."""
    return DATASETS.get(name)
