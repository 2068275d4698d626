"""External data sets brought into the toolkit's own formats, and splits of sets.

Each external data set is an entry of `DATASETS` (`cubeworld.datasets.catalog`): its
importer reads the source folder (the copy shipped in the package, an environment
variable, or a folder the user gives) and writes a stimulus-set folder
(`cubeworld.formats.sets`) plus, where the data set has them, human responses
(`cubeworld.formats.responses`), so that observers are evaluated and analysed on it
exactly like on a generated set. `split_set` cuts a set into two disjoint parts by a seed
(train on one, evaluate on the other).

Names are exported lazily so `cubeworld --help` imports no pandas.
"""

from __future__ import annotations

from cubeworld.lazy import lazy_exports

_EXPORTS = {
    "DATASETS": "cubeworld.datasets.catalog",
    "ExternalDataset": "cubeworld.datasets.base",
    "DatasetError": "cubeworld.datasets.base",
    "get_dataset": "cubeworld.datasets.catalog",
    "LERER100_NAME": "cubeworld.datasets.lerer100",
    "Lerer100Error": "cubeworld.datasets.lerer100",
    "import_lerer100": "cubeworld.datasets.lerer100",
    "import_lerer100_models": "cubeworld.datasets.lerer100",
    "read_lerer100": "cubeworld.datasets.lerer100",
    "split_set": "cubeworld.datasets.split",
    "SplitError": "cubeworld.datasets.split",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
