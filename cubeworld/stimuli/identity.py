"""A set's identity: the card entries that decide its bytes, and how two identities differ.

Two folders with the same identity hold the same set, byte for byte; a study reuses a set
folder only if its card's identity is the one this toolkit would write now. The identity
holds the set's own family's settings and the shared ones, never another family's, so
adding a family changes no existing set's identity.

Cards written by generator 1.0.0 before families were plug-ins hold every domain's
settings (`settings.cameras` and one section per domain); `card_settings` reads those as
the same set's settings in today's shape, so such sets stay valid.
"""

from __future__ import annotations

from typing import Any, Mapping

from cubeworld.stimuli.arguments import SetArguments, default_name, make_arguments
from cubeworld.stimuli.config import SHARED_SECTIONS, SetConfig, default_config
from cubeworld.stimuli.families import FAMILIES
from cubeworld.stimuli.plain import to_plain

GENERATOR = "cubeworld.stimuli"
GENERATOR_VERSION = "1.0.0"  # bump whenever the same arguments would give other bytes
IDENTITY_KEYS = ("name", "domain", "generator", "generator_version", "seed", "arguments", "settings")


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


def identity_for(domain: str, sizes: Any, per_size: int | Mapping[int, int], seed: int, *,
                 resolution: int = 448, name: str | None = None) -> dict[str, Any]:
    """The identity `generate_set` with these arguments (and built-in settings) writes."""
    args = make_arguments(domain, sizes, per_size, seed, resolution)
    return identity(name or default_name(args), args, default_config(domain))


def card_settings(card: Mapping[str, Any]) -> Any:
    """A card's `settings` in today's shape: {"physics", "render", "<domain>"}.

    A card of the all-domains shape (generator 1.0.0 before families) is narrowed to its
    own domain, its camera moved into the family's section and trimmed to the camera
    settings the family has (the others were never read, so no byte depended on them).
    Anything else is returned as it is.
    """
    settings, domain = card.get("settings"), card.get("domain")
    if not (isinstance(settings, Mapping) and "cameras" in settings and isinstance(domain, str)):
        return settings
    own, cameras = settings.get(domain), settings.get("cameras")
    if domain not in FAMILIES or not isinstance(own, Mapping) or not isinstance(cameras, Mapping):
        return settings
    camera = cameras.get(domain)
    default_camera = to_plain(FAMILIES.get(domain).default_settings()).get("camera")
    if isinstance(camera, Mapping) and isinstance(default_camera, Mapping):
        camera = {k: v for k, v in camera.items() if k in default_camera}
    narrowed = {k: settings[k] for k in SHARED_SECTIONS if k in settings}
    narrowed[domain] = {"camera": camera, **own}
    return narrowed


def identity_diff(card: Mapping[str, Any], ident: Mapping[str, Any]) -> list[str]:
    """The identity entries in which a set's card differs from `ident`."""
    card = {**card, "settings": card_settings(card)} if "settings" in card else card
    return [k for k in ident if card.get(k) != ident[k]]
