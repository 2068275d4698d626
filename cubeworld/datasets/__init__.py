"""External data sets brought into the toolkit's own formats.

Each importer reads a published data set from a path the user gives (never a hard-coded
location), and writes a stimulus-set folder (`cubeworld.formats.sets`) plus, where the
data set has them, human responses (`cubeworld.formats.responses`), so that models are
evaluated and analysed on it exactly like on a generated set.
"""

from cubeworld.datasets.lerer100 import (
    LERER100_NAME,
    Lerer100Error,
    import_lerer100,
    import_lerer100_models,
    read_lerer100,
)

__all__ = [
    "LERER100_NAME",
    "Lerer100Error",
    "import_lerer100",
    "import_lerer100_models",
    "read_lerer100",
]
