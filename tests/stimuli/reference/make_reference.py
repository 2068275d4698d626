"""Write the byte fingerprints of small reference sets (run once per generator version).

`hashes-<GENERATOR_VERSION>.json` holds the sha256 of metadata.jsonl and every PNG of
these sets as the generator of that version wrote them; `test_stimuli_reference.py`
asserts that today's code still writes exactly these bytes, so any change of bytes is
seen and must come with a new GENERATOR_VERSION (and new fingerprints). The 2.0.0
fingerprints replaced those of 1.0.0 when issue 10 changed the physics, the pyramids,
the frame check and the rendering; the 3.0.0 ones replaced them when issue 19 made the
judged scene the recorded one (rounded first), measured pyramids from a settled state,
checked every tower under softer contacts with the elliptic cone and redesigned the
dominoes (a domino set joined the reference sets). 3.1.0 (simulations that can only still
answer "something falls" end at rest) wrote exactly 3.0.0's bytes on these sets, so its
file held the same fingerprints under the new version's name. 3.2.0 (a standing tower's
simulation ends once it is still) changed only the towers' metadata.jsonl (each standing
tower's row records the moment it was still); every image and the other sets are 3.1.0's
bytes. `card-1.0.0-towers-64.json`
stays as a card of an old version, which must be refused.

    python tests/stimuli/reference/make_reference.py OUT_DIR > tests/stimuli/reference/hashes-3.2.0.json
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

REFERENCE_DIR = Path(__file__).parent

# (domain, sizes, per_size, seed, resolution): small, but every size of both families and
# both a thumbnail and the default resolution.
REFERENCE_SETS = {
    "towers-64": ("tower", "2-7", 2, 5, 64),
    "towers-448": ("tower", "2,7", 2, 9, 448),
    "pyramids-64": ("pyramid", "3,6,10,15", 2, 5, 64),
    "dominoes-64": ("domino", "3,6", 6, 5, 64),  # every cause, both labels of spacing and offset
}


def fingerprint(root: Path) -> dict[str, str]:
    """sha256 of metadata.jsonl and of every image, by path relative to the set."""
    files = [root / "metadata.jsonl", *sorted((root / "images").iterdir())]
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def main(out: Path, workers: int = 1) -> dict[str, dict[str, str]]:
    from cubeworld.stimuli import generate_set

    result = {}
    for name, (domain, sizes, per_size, seed, resolution) in REFERENCE_SETS.items():
        path = generate_set(
            domain, sizes, per_size, seed, out / name, resolution=resolution, workers=workers, progress=False
        )
        result[name] = fingerprint(path)
    return result


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1])), indent=1, sort_keys=True))
