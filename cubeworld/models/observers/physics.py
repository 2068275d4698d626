"""The physics observer kind: a noisy-Newton intuitive physics engine, no training.

Battaglia, Hamrick & Tenenbaum (2013, PNAS) modelled people's judgements of block towers
as probabilistic simulation: perceive the scene with noise, run a physics engine forward a
few times, answer with the share of runs that fall. This kind does that with the toolkit's
own MuJoCo physics and each family's own outcome rule:

- for each stimulus, draw `n_simulations` noisy copies of its recorded `scene`: every
  block's horizontal position moves by Gaussian noise of sd `position_noise` times its
  smaller horizontal edge (and, if `size_noise` > 0, its horizontal edges scale by
  1 + N(0, size_noise)); a copy whose blocks interpenetrate is drawn again, so every
  simulated scene is physically possible (heights are kept: blocks still rest on blocks);
- if `push_noise` > 0, every block of a copy starts with a horizontal velocity of
  N(0, push_noise) m/s on x and y: the "small force" of Battaglia et al., as an impulse;
- re-simulate each copy with contract A's `get_family(domain).answer_by_simulation`
  (towers: does it fall; pyramids: with the red block removed, does another block fall);
- P(Yes) = the share of copies answering Yes; the answer is Yes when P(Yes) >= 0.5.

The noise of stimulus `i`, copy `k` comes from a generator seeded by (`seed`, the
stimulus id, k): the same seed gives the same numbers, in any order, with any number of
worker processes. Photos (sets without a recorded scene, such as Lerer100) are skipped
with a one-line reason. Contract A's simulation takes physics settings by name
(timestep, duration, friction, ...; `physics:` here); a push is a block's recorded
`velocity` (0 in every stimulus set).
"""

from __future__ import annotations

import math
import os
import warnings
import zlib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from cubeworld.formats.yamlfile import read_yaml
from cubeworld.models.observers.base import (
    EvaluationJob,
    ObserverError,
    ObserverKind,
    ObserverSettingError,
)
from cubeworld.pools import run_calls

DEFAULTS_FILE = Path(__file__).with_name("physics.yaml")
TOUCH_MM = 1.0  # blocks whose vertical extents overlap by more than this are "side by side"
EXTRA_COLUMNS = ("n_simulations",)


# Scoring settings added after studies had been run with this observer (see `effective`).
ADDED_LATER = ("push_noise",)


@lru_cache(maxsize=1)
def load_defaults() -> dict[str, Any]:
    return read_yaml(DEFAULTS_FILE, ObserverError)


def settings_of(scoring: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults with `scoring` applied."""
    s = dict(load_defaults()["scoring"])
    s.update(scoring)
    return s


def check_values(scoring: Mapping[str, Any]) -> None:
    """ObserverSettingError("scoring.KEY", ...) for any value out of range."""

    def number(k: str, *, positive: bool) -> None:
        v = scoring[k]
        if (
            isinstance(v, bool)
            or not isinstance(v, (int, float))
            or not math.isfinite(v)
            or (v <= 0 if positive else v < 0)
        ):
            need = "a number above 0" if positive else "a number of 0 or more"
            raise ObserverSettingError(f"scoring.{k}", f"expected {need} (a noise scale), got {v!r}")

    def integer(k: str, minimum: int, allow_none: bool = False) -> None:
        v = scoring[k]
        if allow_none and v is None:
            return
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise ObserverSettingError(f"scoring.{k}", f"expected an integer of at least {minimum}, got {v!r}")

    if "position_noise" in scoring:
        number("position_noise", positive=True)
    if "size_noise" in scoring:
        number("size_noise", positive=False)
    if "push_noise" in scoring:
        number("push_noise", positive=False)
    if "n_simulations" in scoring:
        integer("n_simulations", 1)
    if "seed" in scoring:
        integer("seed", 0)
    if "workers" in scoring:
        integer("workers", 1, allow_none=True)
    if "max_redraws" in scoring:
        integer("max_redraws", 1)
    if "physics" in scoring and not isinstance(scoring["physics"], dict):
        raise ObserverSettingError(
            "scoring.physics",
            f"expected a mapping of physics settings (timestep, duration, friction, ...), got {scoring['physics']!r}",
        )


# -- noise -----------------------------------------------------------------------------


def _corners(pos, size, yaw_deg):
    """The four horizontal corners of a block's footprint."""
    c, s = math.cos(math.radians(yaw_deg)), math.sin(math.radians(yaw_deg))
    hx, hy = size[0] / 2, size[1] / 2
    return [
        (pos[0] + c * dx - s * dy, pos[1] + s * dx + c * dy) for dx, dy in ((hx, hy), (-hx, hy), (-hx, -hy), (hx, -hy))
    ]


def _footprints_overlap(a, b) -> bool:
    """Separating-axis test of two rotated rectangles (lists of 4 corners)."""
    for poly in (a, b):
        for i in range(4):
            x1, y1 = poly[i]
            x2, y2 = poly[(i + 1) % 4]
            nx, ny = y2 - y1, x1 - x2
            pa = [nx * x + ny * y for x, y in a]
            pb = [nx * x + ny * y for x, y in b]
            if max(pa) <= min(pb) + 1e-9 or max(pb) <= min(pa) + 1e-9:
                return False
    return True


def overlapping_pairs(blocks: list[dict]) -> set[tuple[int, int]]:
    """Pairs of blocks side by side (heights overlapping) whose footprints overlap."""
    feet = [_corners(b["pos"], b["size"], b.get("yaw", 0.0)) for b in blocks]
    pairs = set()
    for i in range(len(blocks)):
        zi, hi = blocks[i]["pos"][2], blocks[i]["size"][2] / 2
        for j in range(i + 1, len(blocks)):
            zj, hj = blocks[j]["pos"][2], blocks[j]["size"][2] / 2
            overlap = min(zi + hi, zj + hj) - max(zi - hi, zj - hj)
            if overlap > TOUCH_MM / 1000 and _footprints_overlap(feet[i], feet[j]):
                pairs.add((i, j))
    return pairs


def interpenetrates(blocks: list[dict], allowed: set[tuple[int, int]] = frozenset()) -> bool:
    """Whether two blocks side by side overlap horizontally (pairs in `allowed` excepted:
    blocks that already touch that way in the recorded scene, e.g. a tipped domino
    leaning on the next, where this upright-box test is too coarse)."""
    return bool(overlapping_pairs(blocks) - set(allowed))


MAX_HALVINGS = 8


def noisy_scene(
    scene: Mapping[str, Any], rng, position_noise: float, size_noise: float, max_redraws: int, push_noise: float = 0.0
) -> dict[str, Any]:
    """One perceived copy of `scene`: positions (and sizes) with noise, no interpenetration
    that the recorded scene does not have; with `push_noise`, each block pushed at random.

    After `max_redraws` failed draws the noise of that copy is halved and drawing goes on
    (at most MAX_HALVINGS times; then the recorded scene itself is the copy), so a crowded
    scene still gets its copies. This is rare at the default noise."""
    allowed = overlapping_pairs(list(scene["blocks"]))
    scale = 1.0
    for _ in range(MAX_HALVINGS + 1):
        for _ in range(max_redraws):
            blocks = []
            for b in scene["blocks"]:
                size = list(b["size"])
                if size_noise > 0:
                    size[0] *= max(0.5, 1 + rng.normal(0, size_noise * scale))
                    size[1] *= max(0.5, 1 + rng.normal(0, size_noise * scale))
                sd = position_noise * scale * min(b["size"][0], b["size"][1])
                pos = [b["pos"][0] + rng.normal(0, sd), b["pos"][1] + rng.normal(0, sd), b["pos"][2]]
                blocks.append({**b, "size": size, "pos": pos})
            if not interpenetrates(blocks, allowed):
                return {**scene, "blocks": _pushed(blocks, rng, push_noise)}
        scale /= 2
    return {**scene, "blocks": _pushed(list(scene["blocks"]), rng, push_noise)}


def _pushed(blocks: list[dict], rng, push_noise: float) -> list[dict]:
    """`blocks`, each with a horizontal start velocity of sd `push_noise` m/s (0: as given).
    Drawn after the positions, so a copy's positions do not depend on the push."""
    if push_noise <= 0:
        return blocks
    return [{**b, "velocity": [rng.normal(0, push_noise), rng.normal(0, push_noise), 0.0]} for b in blocks]


def _rng(seed: int, stimulus_id: str, k: int):
    import numpy as np

    return np.random.default_rng([int(seed), zlib.crc32(stimulus_id.encode("utf-8")), int(k)])


def simulate_item(
    domain: str, stimulus_id: str, scene: Mapping[str, Any], settings: Mapping[str, Any]
) -> tuple[str, int]:
    """(stimulus id, number of noisy copies answering Yes). Runs in a worker process."""
    from cubeworld.stimuli.families import get_family

    family = get_family(domain)
    physics = dict(settings.get("physics") or {})
    yes = 0
    for k in range(int(settings["n_simulations"])):
        copy = noisy_scene(
            scene,
            _rng(settings["seed"], stimulus_id, k),
            float(settings["position_noise"]),
            float(settings["size_noise"]),
            int(settings["max_redraws"]),
            float(settings["push_noise"]),
        )
        yes += bool(family.answer_by_simulation(copy, physics=physics or None))
    return stimulus_id, yes


def _worker_init() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def simulate_items(
    items: list[tuple[str, str, dict]], settings: Mapping[str, Any], *, progress: bool = True, on_result=None
) -> dict[str, int]:
    """stimulus id -> Yes count for every (domain, id, scene), in `workers` processes.

    A worker that dies loses its items: they are tried once more in a fresh pool; a second
    death is an ObserverError naming the items left (`cubeworld.pools.run_calls`)."""
    from tqdm.auto import tqdm

    workers = settings.get("workers") or os.cpu_count() or 1
    results: dict[str, int] = {}
    bar = tqdm(total=len(items), desc="physics", unit="item", disable=not progress)

    def done(sid: str, yes: int) -> None:
        results[sid] = yes
        if on_result is not None:
            on_result(sid, yes)
        bar.update(1)

    try:
        run_calls(
            simulate_item,
            [(d, sid, scene, dict(settings)) for d, sid, scene in items],
            workers=workers,
            initializer=_worker_init,
            on_result=lambda _i, result: done(*result),
            name_of=lambda i: items[i][1],
            what="physics observer",
            error=ObserverError,
        )
        return results
    finally:
        bar.close()


# -- the kind --------------------------------------------------------------------------


class PhysicsObserver(ObserverKind):
    name = "physics"
    description = (
        "noisy-Newton simulation (Battaglia et al. 2013): P(Yes) = share of noisy "
        "re-simulations of the recorded scene answering Yes"
    )
    trains = False
    zero_shot = True
    default_source = "mujoco"

    def scoring_keys(self) -> frozenset[str]:
        return frozenset(load_defaults()["scoring"])

    def check_source(self, source: str) -> None:
        if source != self.default_source:
            raise ObserverSettingError(
                "source", f"a physics observer simulates with {self.default_source!r}; leave source out"
            )

    def check_settings(self, training: Mapping[str, Any], scoring: Mapping[str, Any]) -> None:
        super().check_settings(training, scoring)
        check_values(scoring)

    def effective(self, training: Mapping[str, Any], scoring: Mapping[str, Any]) -> dict[str, Any]:
        """The scoring settings a run records (and a study compares); a setting added after
        studies were run is left out while at its default, so finished runs stay finished."""
        defaults = load_defaults()["scoring"]
        return {
            "scoring": {k: v for k, v in settings_of(scoring).items() if not (k in ADDED_LATER and v == defaults[k])}
        }

    def skip_reason(self, stim_set) -> str | None:
        from cubeworld.stimuli.families import FAMILIES

        for r in stim_set.rows:
            scene = r.extra.get("scene")
            if not isinstance(scene, Mapping) or not scene.get("blocks"):
                return "photos without a recorded scene; the physics observer re-simulates scenes"
            if r.domain not in FAMILIES:
                return f"domain {r.domain!r} has no stimulus family to simulate it"
        return None

    def command_options(self) -> frozenset[str]:
        return frozenset()

    def evaluate(self, job: EvaluationJob) -> list[Path]:
        """Score each (set, table); rows already in a table are kept (a killed job resumes)."""
        from cubeworld.formats.answers import NO, YES
        from cubeworld.formats.predictions import OBSERVER_COLUMNS, PredictionWriter
        from cubeworld.formats.sets import load_set

        check_values(job.scoring)
        settings = settings_of(job.scoring)
        if job.seed is not None and "seed" not in job.scoring:
            settings["seed"] = int(job.seed)  # the command line's --seed seeds the noise
        n = int(settings["n_simulations"])
        base = {
            "model": job.model_label or self.name,
            "adapter": job.adapter_label,
            "condition": job.condition,
            "seed": "" if job.seed is None else int(job.seed),
            "epoch": int(job.epoch),
            "kind": self.name,
            "p_other": 0.0,
            "n_simulations": n,
        }
        by_table: dict[Path, list[Path]] = {}
        for set_dir, table in job.tables:
            by_table.setdefault(Path(table), []).append(Path(set_dir))
        out = []
        for table, set_dirs in by_table.items():
            writer = PredictionWriter(table, extra_columns=(*OBSERVER_COLUMNS, *EXTRA_COLUMNS))
            for set_dir in set_dirs:
                s = load_set(set_dir, check_images=False)
                reason = self.skip_reason(s)
                if reason:  # photos: skipped with one line, never an error
                    warnings.warn(f"{s.name}: skipped by the physics observer: {reason}", stacklevel=2)
                    continue
                done = writer.done_keys()
                rows = {
                    r.stimulus_id: r
                    for r in s.rows
                    if PredictionWriter.key_of({**base, "stimulus_id": r.stimulus_id, "set": s.name}) not in done
                }
                items = [(r.domain, sid, r.extra["scene"]) for sid, r in rows.items()]

                def write(sid: str, yes: int, s=s, rows=rows, writer=writer) -> None:
                    r = rows[sid]
                    p = yes / n
                    answer = YES if p >= 0.5 else NO
                    writer.append(
                        [
                            {
                                **base,
                                "stimulus_id": sid,
                                "set": s.name,
                                "domain": r.domain,
                                "n_blocks": r.n_blocks,
                                "falls": r.falls,
                                "p_yes": f"{p:.8g}",
                                "answer": answer,
                                "correct": answer == r.answer,
                            }
                        ]
                    )

                simulate_items(items, settings, progress=job.progress, on_result=write)
            if writer.log.exists():
                out.append(writer.finish())
        return out


PHYSICS = PhysicsObserver()
