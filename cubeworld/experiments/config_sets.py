"""The study config's `sets:` and `conditions:`: where the data comes from and how runs draw it.

Why a module of its own: a set names its one origin (a generator preset, generator
arguments, a folder, an external data set, or a split of another set), and a condition is
a recipe over those sets (parts, sizes, proportions, labels); both are checked against the
stimuli stage and the data sets registry, never against an observer kind. Splits are
checked for unknown parents and cycles once every set is read. `config.py` calls
`parse_set`, `check_splits` and `parse_condition` in the file's section order.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cubeworld.experiments.config_reader import ConfigReader
from cubeworld.experiments.schema import GROUND_TRUTH, ConditionSpec, LabelSource, SetSpec, TrainPart
from cubeworld.stimuli import DEFAULT_RESOLUTION
from cubeworld.stimuli.families import FAMILIES
from cubeworld.trainer.data import MOST_ITEMS

SET_SOURCES = ("preset", "domain", "path", "dataset", "split")
SPLIT_PARTS = ("train", "test")


def parse_set(r: ConfigReader, name: str, s: Any, rel) -> SetSpec:
    key = f"sets.{name}"
    r.name(name, key)
    if isinstance(s, str):
        s = {"preset": s}
    s = dict(r.mapping(s, key))
    humans = rel(r.str_(s.pop("humans"), f"{key}.humans")) if "humans" in s else None
    spec = _parse_set_source(r, key, name, s, rel)
    return replace(spec, humans=humans) if humans is not None else spec


_LEGACY = {"lerer100": "now `dataset: lerer100` (the copy shipped with cubeworld; `from: DIR` reads another folder)"}


def _parse_set_source(r: ConfigReader, key: str, name: str, s: dict, rel) -> SetSpec:
    origins = [k for k in SET_SOURCES if k in s]
    if len(origins) != 1:
        if not origins:
            r.only(s, key, set(SET_SOURCES), _LEGACY)
        raise r.error(key, "give exactly one of preset, domain (generator arguments), path, dataset, split")
    origin = origins[0]
    if origin == "preset":
        r.only(s, key, {"preset"})
        return SetSpec(name, "preset", preset=r.str_(s["preset"], f"{key}.preset"))
    if origin == "path":
        r.only(s, key, {"path"})
        return SetSpec(name, "path", path=rel(r.str_(s["path"], f"{key}.path")))
    if origin == "dataset":
        r.only(s, key, {"dataset", "from"})
        from cubeworld.datasets.catalog import DATASETS

        ds = r.str_(s["dataset"], f"{key}.dataset")
        if ds not in DATASETS:
            raise r.error(
                f"{key}.dataset", f"unknown external data set {ds!r}; expected one of {', '.join(DATASETS.names())}"
            )
        src = rel(r.str_(s["from"], f"{key}.from")) if "from" in s else None
        return SetSpec(name, "dataset", dataset=ds, source=src)
    if origin == "split":
        r.only(s, key, {"split", "part", "fraction", "seed"})
        parent = r.str_(s["split"], f"{key}.split")
        for k in ("part", "fraction", "seed"):
            if k not in s:
                raise r.error(f"{key}.{k}", "missing (required with split)")
        if s["part"] not in SPLIT_PARTS:
            raise r.error(f"{key}.part", f"expected one of {list(SPLIT_PARTS)}, got {s['part']!r}")
        frac = s["fraction"]
        if isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0 < frac < 1:
            raise r.error(
                f"{key}.fraction",
                f"expected a number between 0 and 1 (the share drawn into part 'train'), got {frac!r}",
            )
        return SetSpec(
            name, "split", parent=parent, part=s["part"], fraction=float(frac), seed=r.int_(s["seed"], f"{key}.seed", 0)
        )
    r.only(s, key, {"domain", "sizes", "per_size", "seed", "resolution", "control_cues"})
    domain = s["domain"]
    if domain not in FAMILIES:
        raise r.error(f"{key}.domain", f"unknown domain {domain!r}; expected one of {sorted(FAMILIES)}")
    sizes = [r.int_(x, f"{key}.sizes[{i}]", 1) for i, x in enumerate(r.list_(s.get("sizes"), f"{key}.sizes"))]
    bad = [x for x in sizes if x not in FAMILIES.get(domain).sizes]
    if bad:
        raise r.error(
            f"{key}.sizes",
            f"{bad[0]} blocks is not a {domain} size; expected some of {list(FAMILIES.get(domain).sizes)}",
        )
    for k in ("per_size", "seed"):
        if k not in s:
            raise r.error(f"{key}.{k}", "missing (required with domain)")
    return SetSpec(
        name,
        "generate",
        domain=domain,
        sizes=tuple(sizes),
        per_size=r.int_(s["per_size"], f"{key}.per_size", 1),
        seed=r.int_(s["seed"], f"{key}.seed", 0),
        resolution=r.int_(s.get("resolution", DEFAULT_RESOLUTION), f"{key}.resolution", 16),
        control_cues=r.bool_(s.get("control_cues", False), f"{key}.control_cues"),
    )


def check_splits(r: ConfigReader, sets: dict[str, SetSpec]) -> None:
    for name, spec in sets.items():
        if spec.origin != "split":
            continue
        seen = [name]
        cur = spec
        while cur.origin == "split":
            if cur.parent not in sets:
                raise r.error(f"sets.{seen[-1]}.split", f"unknown set {cur.parent!r}; define it under sets")
            if cur.parent in seen:
                raise r.error(f"sets.{name}.split", f"splits form a cycle: {' -> '.join([*seen, cur.parent])}")
            seen.append(cur.parent)
            cur = sets[cur.parent]


# -- conditions ------------------------------------------------------------------------


def _parse_labels(r: ConfigReader, value: Any, key: str, rel) -> LabelSource:
    if value in (None, GROUND_TRUTH):
        return LabelSource()
    if value == "humans":
        return LabelSource(from_set=True)
    if isinstance(value, dict) and set(value) == {"humans"}:
        return LabelSource(humans=rel(r.str_(value["humans"], f"{key}.humans")))
    raise r.error(key, f"expected {GROUND_TRUTH!r}, 'humans' (the set's own table) or {{humans: PATH}}, got {value!r}")


def parse_condition(r: ConfigReader, name: str, c: Any, sets: dict, rel) -> ConditionSpec:
    key = f"conditions.{name}"
    r.name(name, key)
    c = r.mapping(c, key)
    r.only(c, key, {"zero_shot", "train", "size", "labels", "description"})
    description = r.str_(c["description"], f"{key}.description") if "description" in c else ""
    if c.get("zero_shot"):
        r.bool_(c["zero_shot"], f"{key}.zero_shot")
        if "train" in c:
            raise r.error(key, "a zero_shot condition has no train sets")
        return ConditionSpec(name, description=description)
    if "train" not in c:
        raise r.error(f"{key}.train", "missing (or set zero_shot: true)")
    size = r.int_(c["size"], f"{key}.size", 1, MOST_ITEMS) if "size" in c else None
    default_labels = _parse_labels(r, c.get("labels"), f"{key}.labels", rel)
    parts = []
    for i, p in enumerate(r.list_(c["train"], f"{key}.train")):
        pkey = f"{key}.train[{i}]"
        if isinstance(p, str):
            p = {"set": p}
        p = r.mapping(p, pkey)
        r.only(p, pkey, {"set", "n", "proportion", "labels"})
        sname = p.get("set")
        if sname not in sets:
            raise r.error(f"{pkey}.set", f"unknown set {sname!r}; define it under sets")
        if "n" in p and "proportion" in p:
            raise r.error(pkey, "give n or proportion, not both")
        n = None
        if "n" in p:
            n = r.int_(p["n"], f"{pkey}.n", 1, MOST_ITEMS)
        elif "proportion" in p:
            prop = p["proportion"]
            if isinstance(prop, bool) or not isinstance(prop, (int, float)) or not 0 < prop <= 1:
                raise r.error(f"{pkey}.proportion", f"expected a number in (0, 1], got {prop!r}")
            if size is None:
                raise r.error(f"{key}.size", "required when a part gives a proportion")
            n = max(1, round(size * prop))
        labels = _parse_labels(r, p["labels"], f"{pkey}.labels", rel) if "labels" in p else default_labels
        if i > 0 and labels.is_human:
            raise r.error(
                f"{pkey}.labels",
                "human labels are supported on the first set of a "
                "recipe only (the others are mixed in with their ground truth)",
            )
        parts.append(TrainPart(str(sname), n, labels))
    if len(parts) > 1:
        for i, p in enumerate(parts):
            if p.n is None:
                raise r.error(
                    f"{key}.train[{i}]", "a recipe of several sets needs n or proportion (with size) for each set"
                )
    return ConditionSpec(name, tuple(parts), description)
