"""Helpers shared by the department timelines (events_*.py).

A timeline is a DataFrame with one row per department record over the whole horizon:
``pidx`` (person), ``start`` (day the record comes into existence), ``plant`` (a boundary or
decoy record that must stay clean), plus source columns. Quarter files are snapshots of it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from safetynet.sample_data.dates import NEVER, add_years, age_at
from safetynet.sample_data.population import NAMESAKE, World

# Which decoy persons get a warning-bait record in which source (assigned once per world).
TRAP_SOURCES = ("health_deaths", "hrss_pension", "hrss_unemployment", "public_security_vehicles",
                "natural_resources_properties", "market_regulation_business",
                "medical_security_settlements", "disability_federation_certificates")


def uniform_days(rng: np.random.Generator, lo, hi, n: int | None = None) -> np.ndarray:
    """Uniform integer days in [lo, hi] (arrays broadcast; hi < lo gives lo)."""
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.maximum(np.asarray(hi, dtype=np.int64), lo)
    size = n if n is not None else np.broadcast(lo, hi).shape
    return (lo + np.floor(rng.random(size) * (hi - lo + 1))).astype(np.int32)


def choose(rng: np.random.Generator, options: dict, n: int) -> np.ndarray:
    """n draws of the keys of {value: weight}."""
    keys = list(options)
    w = np.array([options[k] for k in keys], dtype=float)
    return np.array(keys, dtype=object)[rng.choice(len(keys), size=n, p=w / w.sum())]


def persons_with(world: World, rng: np.random.Generator, p_by_group: tuple[float, float, float],
                 min_age: int = 0, max_age: int = 200) -> np.ndarray:
    """Persons drawn with a probability per group (recipient member, other roster, general),
    aged min_age..max_age on the first as_of; decoys excluded (they get trap records)."""
    group = world.group()
    age = age_at(world.birth, world.first)
    p = np.array(p_by_group)[group]
    hit = (rng.random(world.n_persons) < p) & (age >= min_age) & (age <= max_age)
    return np.flatnonzero(hit & (world.kind < NAMESAKE))


def adult_from(world: World, pidx: np.ndarray, years: int = 18) -> np.ndarray:
    """Day each person turns `years`."""
    return add_years(world.birth[pidx], years)


def alive_at_start(world: World, df: pd.DataFrame) -> pd.DataFrame:
    """Drop records that would start after the person's death."""
    return df[df["start"].to_numpy() <= world.death[df["pidx"].to_numpy()]]


def traps(world: World, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Decoy person -> the sources where it gets a record that would fire if wrongly linked."""
    decoys = np.flatnonzero(world.kind >= NAMESAKE)
    out: dict[str, list[int]] = {s: [] for s in TRAP_SOURCES}
    for d in decoys.tolist():
        k = int(rng.integers(2, 4))
        picks = rng.choice(len(TRAP_SOURCES) - 1, size=k, replace=False) + 1  # deaths: world
        for i in picks.tolist():
            out[TRAP_SOURCES[i]].append(d)
    out["health_deaths"] = decoys[world.death[decoys] < NEVER].tolist()
    return {s: np.array(v, dtype=np.int64) for s, v in out.items()}


def frame(pidx: np.ndarray, start: np.ndarray, plant: bool | np.ndarray = False,
          **columns) -> pd.DataFrame:
    """A timeline frame from arrays."""
    n = len(pidx)
    data = {"pidx": np.asarray(pidx, dtype=np.int32), "start": np.asarray(start, dtype=np.int32),
            "plant": np.broadcast_to(np.asarray(plant, dtype=bool), (n,)).copy()}
    for k, v in columns.items():
        data[k] = np.broadcast_to(np.asarray(v), (n,)).copy() if np.ndim(v) == 0 else v
    return pd.DataFrame(data)
