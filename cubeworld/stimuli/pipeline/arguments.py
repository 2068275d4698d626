"""A set's generator arguments (domain, sizes, counts, seed, resolution): declared once,
validated into one form.

`SetRequest` declares what a user gives -- `cubeworld generate <family>`'s options are
generated from its fields (`cubeworld.typed.cli_parameters`), and a study's generated-set
entry (`{domain, sizes, per_size, seed, resolution}`) is the same declaration -- with
every default and bound in one place: the one default resolution (`DEFAULT_RESOLUTION`,
the study's 448 px) and an upper bound on every count, so a typo cannot ask for 10**12
stimuli. `make_arguments` checks a request against the family (its domain and sizes, even
counts) and returns `SetArguments`, what the card records; the library, the CLI,
presets and `regenerate` all go through it before anything is written, so bad input never
touches a folder.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cubeworld.stimuli.catalog import FAMILIES
from cubeworld.stimuli.errors import StimuliError
from cubeworld.stimuli.plain import bounds
from cubeworld.typed import setting

DEFAULT_RESOLUTION = 448  # px: the study's stimuli were 448 x 448 images
MAX_PER_SIZE = 100_000  # 20x the study's largest count per size (5,000), about 15 GB of 448 px PNGs


@dataclass(frozen=True, kw_only=True)
class SetRequest:
    """A set's generator arguments as a user gives them (the family comes from the command
    or the entry's `domain`). Every bound here is the one the CLI, the library and studies
    enforce."""

    sizes: str | tuple[int, ...] | None = setting(
        None, help="Block counts among the family's sizes, e.g. 2-7 or 3,6,10 (default: all)."
    )
    per_size: int = setting(help="Stimuli per size (even: half Yes, half No).", minimum=2, maximum=MAX_PER_SIZE)
    seed: int = setting(help="Seed; sets with different seeds never share a scene.", minimum=0, maximum=2**63 - 1)
    resolution: int = setting(DEFAULT_RESOLUTION, help="Image width and height in pixels.", minimum=16, maximum=4096)
    control_cues: bool = setting(
        False,
        help="Add quotas over the family's audited visual cues, so that within every size each cue says "
        "nothing about the answer (every label still physics-true and robust; costs more candidates).",
    )


@dataclass(frozen=True)
class SetArguments:
    """The arguments that, with the generator settings, decide a set's bytes."""

    domain: str
    sizes: tuple[int, ...]
    per_size: dict[int, int]  # stimuli per size (even: half Yes, half No)
    seed: int
    resolution: int
    control_cues: bool = False  # quotas over the family's cues too (`pipeline.control`)

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "sizes": list(self.sizes),
            "per_size": {str(k): v for k, v in self.per_size.items()},
            "seed": self.seed,
            "resolution": self.resolution,
            "control_cues": self.control_cues,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SetArguments:
        try:
            per = d["per_size"]
            if isinstance(per, Mapping):
                per = {int(k): v for k, v in per.items()}
            return make_arguments(
                d["domain"],
                d["sizes"],
                per,
                d["seed"],
                d.get("resolution", DEFAULT_RESOLUTION),
                d.get("control_cues", False),
            )
        except KeyError as e:
            raise StimuliError(f"card arguments lack {e.args[0]!r}") from None

    @property
    def total(self) -> int:
        return sum(self.per_size.values())


def parse_sizes(sizes: str | int | Iterable[int]) -> tuple[int, ...]:
    """'2-7' -> (2..7); '3,6,10,15' -> (3, 6, 10, 15); also ints and lists of ints."""
    if isinstance(sizes, int):
        return (sizes,)
    if isinstance(sizes, str):
        out: list[int] = []
        for part in sizes.replace(" ", "").split(","):
            if not part:
                continue
            try:
                if "-" in part:
                    lo, hi = part.split("-", 1)
                    lo_i, hi_i = int(lo), int(hi)
                    if hi_i < lo_i:
                        raise ValueError
                    out.extend(range(lo_i, hi_i + 1))
                else:
                    out.append(int(part))
            except ValueError:
                raise StimuliError(f"cannot read sizes {sizes!r}: use e.g. '2-7' or '3,6,10,15'") from None
        return tuple(out)
    try:
        return tuple(int(s) for s in sizes)
    except (TypeError, ValueError):
        raise StimuliError(f"cannot read sizes {sizes!r}") from None


def make_arguments(
    domain: str,
    sizes: Any,
    per_size: int | Mapping[int, int],
    seed: Any,
    resolution: Any = DEFAULT_RESOLUTION,
    control_cues: Any = False,
) -> SetArguments:
    """The checked arguments of a set of `domain`, or a one-line StimuliError naming the
    first bad value (bounds from `SetRequest`)."""
    if not isinstance(domain, str) or domain not in FAMILIES:
        raise StimuliError(f"unknown domain {domain!r}: expected one of {', '.join(FAMILIES.names())}")
    allowed = FAMILIES.get(domain).sizes
    size_t = parse_sizes(sizes)
    if not size_t:
        raise StimuliError("no sizes given")
    bad = [s for s in size_t if s not in allowed]
    if bad:
        raise StimuliError(f"size(s) {bad} outside the {domain} domain: allowed sizes are {list(allowed)}")
    if len(set(size_t)) != len(size_t):
        raise StimuliError(f"sizes {list(size_t)} repeat a size")
    size_t = tuple(sorted(size_t))
    if isinstance(per_size, Mapping):
        missing = [s for s in size_t if s not in per_size]
        if missing or set(per_size) - set(size_t):
            raise StimuliError(f"per-size counts {dict(per_size)} do not match sizes {list(size_t)}")
        per = {s: per_size[s] for s in size_t}
    else:
        per = {s: per_size for s in size_t}
    _, most = bounds(SetRequest, "per_size")
    for s, n in per.items():
        if isinstance(n, bool) or not isinstance(n, int):
            raise StimuliError(f"the count per size must be an integer, got {n!r}")
        if n <= 0:
            raise StimuliError(f"the count per size must be positive, got {n} for size {s}")
        if n > most:
            raise StimuliError(f"the count per size must be at most {most}, got {n} for size {s}")
        if n % 2:
            raise StimuliError(f"the count per size must be even (half Yes, half No), got {n} for size {s}")
    lo, hi = bounds(SetRequest, "seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or not lo <= seed <= hi:
        raise StimuliError(f"the seed must be an integer from {lo} to {hi}, got {seed!r}")
    lo, hi = bounds(SetRequest, "resolution")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or not lo <= resolution <= hi:
        raise StimuliError(f"the resolution must be an integer from {lo} to {hi} pixels, got {resolution!r}")
    if not isinstance(control_cues, bool):
        raise StimuliError(f"control_cues must be true or false, got {control_cues!r}")
    return SetArguments(domain, size_t, per, seed, resolution, control_cues)


def default_name(args: SetArguments) -> str:
    """A card name from the arguments alone (never the folder), so rebuilds match."""
    sizes = ".".join(str(s) for s in args.sizes)
    counts = set(args.per_size.values())
    per = str(counts.pop()) if len(counts) == 1 else f"{args.total}total"
    # the family's command is its plural ("towers", "dominoes"), as in `cubeworld generate`
    controlled = "-cc" if args.control_cues else ""  # cue-controlled
    return f"{FAMILIES.get(args.domain).command}-{sizes}-x{per}-s{args.seed}{controlled}"
