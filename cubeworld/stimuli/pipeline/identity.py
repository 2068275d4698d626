"""A set's identity: the card entries that decide its bytes, and how two identities differ.

Two folders with the same identity hold the same set, byte for byte; a study reuses a set
folder only if its card's identity is the one this toolkit would write now. The identity
holds the set's own family's settings and the shared ones, never another family's, so
adding a family changes no existing set's identity.

GENERATOR_VERSION names the generator: whenever the same arguments would give other
bytes, it changes, and sets of another version are refused (by studies, by resuming, by
`cubeworld generate from`) with a line saying why. 2.0.0 (issue 10): full-horizon runs
and a rest test, robustness runs for towers, pyramids with sampled sizes and offsets and
red-row quotas, the frame check, supersampled rendering, the `difficulty` column. 3.0.0
(issue 19): the scene judged is the scene recorded (rounded to 1 um first), pyramids
settle before the red block is taken out, every tower is checked under softer contacts
with the elliptic cone, sets may be cue-controlled (`control_cues`), and dominoes have a
cause per chain. 3.1.0 (issue 19): a simulation that can only still answer "something
falls" ends once the scene is at rest (`physics.rest_stop`), cue-controlled pyramids hold
end and interior red blocks to quotas per answer (and, at 15 blocks, the one-step reading's
errors), dominoes may be cue-controlled. The reference towers' and dominoes' rows and
images are 3.0.0's byte for byte, the pyramids' differ only in `full_max_move_mm` (0.1 um
of the stability simulation no longer simulated); a scene that came to rest and later fell
would now be judged otherwise (none did in the measured simulations: stimuli README).
3.2.0 (issue 19, speed): a standing tower's simulation under the set's physics ends once it
is still too (`physics.rest_stop`), so its row records the state at that moment (`rested`,
`simulated_s`, the final pose) instead of the horizon's; the towers' labels, scenes and images
are 3.1.0's, pyramids and dominoes are 3.1.0's byte for byte (`CHANGES`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cubeworld.stimuli.catalog import default_config
from cubeworld.stimuli.core.settings import SetConfig
from cubeworld.stimuli.pipeline.arguments import DEFAULT_RESOLUTION, SetArguments, default_name, make_arguments

GENERATOR = "cubeworld.stimuli"
GENERATOR_VERSION = "3.2.0"  # bump whenever the same arguments would give other bytes
IDENTITY_KEYS = ("name", "domain", "generator", "generator_version", "seed", "arguments", "settings")
CHANGES = {  # what each version changed, for the line that refuses an older set
    "2.0.0": "full-horizon robustness runs and a rest test, perturbation-checked towers, pyramids with "
    "sampled sizes and offsets and exact red-row quotas, a frame check, new rendering",
    "3.0.0": "the scene judged is the scene recorded (rounded first), pyramids measured from a settled state, "
    "every tower checked under softer contacts with the elliptic cone, cue-controlled sets, dominoes whose "
    "chains stop for one of four causes with exact quotas per cause, every documented perturbation checked, "
    "a new camera and difficulty",
    "3.1.0": "robustness simulations and pyramid removals past the No limit end once every block is at rest "
    "(physics.rest_stop), cue-controlled pyramids balance end and interior red blocks per answer, "
    "cue-controlled dominoes",
    "3.2.0": "a standing tower's simulation ends once every block is still (physics.rest_stop) and its row "
    "records that moment",
}


def _newer(version: str, than: Any) -> bool:
    """Is `version` (x.y.z) later than `than` (a card's version; anything unreadable is older)?"""
    try:
        return tuple(int(p) for p in version.split(".")) > tuple(int(p) for p in str(than).split("."))
    except ValueError:
        return True


def identity(name: str, args: SetArguments, config: SetConfig) -> dict[str, Any]:
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


def identity_for(
    domain: str,
    sizes: Any,
    per_size: int | Mapping[int, int],
    seed: int,
    *,
    resolution: int = DEFAULT_RESOLUTION,
    name: str | None = None,
    control_cues: bool = False,
) -> dict[str, Any]:
    """The identity `generate_set` with these arguments (and built-in settings) writes."""
    args = make_arguments(domain, sizes, per_size, seed, resolution, control_cues)
    return identity(name or default_name(args), args, default_config(domain))


def identity_diff(card: Mapping[str, Any], ident: Mapping[str, Any]) -> list[str]:
    """The identity entries in which a set's card differs from `ident`."""
    return [k for k in ident if card.get(k) != ident[k]]


def version_problem(card: Mapping[str, Any]) -> str | None:
    """Why a card of another generator version is not a set this toolkit makes (one
    sentence), or None when its version is this one."""
    version = card.get("generator_version")
    if version == GENERATOR_VERSION:
        return None
    return (
        f"it was made by {card.get('generator', GENERATOR)} {version}, and generator {GENERATOR_VERSION} makes "
        "other stimuli from the same arguments ("
        + "; ".join(f"{v}: {change}" for v, change in CHANGES.items() if _newer(v, version))
        + ")"
    )
