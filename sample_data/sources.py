"""The nine department sources: timeline builder, noise kinds, bad rows and file layout."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from safetynet.sample_data import events_assets, events_life, layouts, noise
from safetynet.sample_data.events_common import alive_at_start, traps
from safetynet.sample_data.population import World, rng_for

_CERT_KINDS = ("legacy15", "lowercase_x", "typo", "transposition", *noise.NAME_KINDS)


@dataclass(frozen=True)
class DeptSource:
    """A department file: config name, path in the quarter folder, how records are noised."""

    name: str
    path: str
    noise: tuple[str, ...]
    bad: tuple[tuple[str, str, str], ...]
    layout: Callable


DEPARTMENT_SOURCES = (
    DeptSource("health_deaths", "health/death_registrations.xlsx", noise.ALL_KINDS,
               layouts.DEATH_BAD, layouts.health_deaths),
    DeptSource("civil_affairs_cremations", "civil_affairs/cremations.csv", noise.ALL_KINDS,
               layouts.CREMATION_BAD, layouts.cremations),
    DeptSource("hrss_pension", "hrss/pension.csv", noise.ALL_KINDS, layouts.PENSION_BAD,
               layouts.pension),
    DeptSource("hrss_unemployment", "hrss/unemployment.csv", noise.ALL_KINDS,
               layouts.UNEMPLOYMENT_BAD, layouts.unemployment),
    DeptSource("public_security_vehicles", "public_security/vehicles.csv", noise.NO_DOB_REGION,
               layouts.VEHICLE_BAD, layouts.vehicles),
    DeptSource("natural_resources_properties", "natural_resources/properties.xlsx",
               noise.NO_DOB_REGION, layouts.PROPERTY_BAD, layouts.properties),
    DeptSource("market_regulation_business", "market_regulation/business_persons.jsonl",
               noise.NO_DOB_REGION, layouts.BUSINESS_BAD, layouts.business),
    DeptSource("medical_security_settlements", "medical_security/settlements.parquet",
               noise.NO_SCIENTIFIC, (), layouts.settlements),
    DeptSource("disability_federation_certificates", "disability_federation/certificates.csv",
               _CERT_KINDS, layouts.CERT_BAD, layouts.certificates),
)
BY_NAME = {s.name: s for s in DEPARTMENT_SOURCES}


def build_timelines(world: World) -> dict[str, pd.DataFrame]:
    """Every department's records over the whole horizon, keyed, noised and bad-row marked."""
    seed = world.seed
    bait = traps(world, rng_for(seed, "traps"))
    tl: dict[str, pd.DataFrame] = {}
    tl["health_deaths"] = events_life.deaths(world, rng_for(seed, "health_deaths"),
                                             bait["health_deaths"])
    tl["civil_affairs_cremations"] = events_life.cremations(
        world, rng_for(seed, "civil_affairs_cremations"), tl["health_deaths"])
    builders = {
        "hrss_pension": events_assets.pension,
        "hrss_unemployment": events_assets.unemployment,
        "public_security_vehicles": events_assets.vehicles,
        "natural_resources_properties": events_assets.properties,
        "market_regulation_business": events_assets.business,
        "medical_security_settlements": events_life.settlements,
        "disability_federation_certificates": events_life.certificates,
    }
    for name, build in builders.items():
        df = build(world, rng_for(seed, name), bait[name])
        tl[name] = alive_at_start(world, df)
    for src in DEPARTMENT_SOURCES:
        tl[src.name] = _finish(world, src, tl[src.name])
    return tl


def _finish(world: World, src: DeptSource, df: pd.DataFrame) -> pd.DataFrame:
    """Order records by start, number them, choose their noise and bad rows (once)."""
    rng = rng_for(world.seed, f"{src.name}/noise")
    df = df.sort_values(["start", "pidx"], kind="stable").reset_index(drop=True)
    df["seq"] = np.arange(1, len(df) + 1, dtype=np.int32)
    df["noise"], df["param"] = noise.assign(world, df["pidx"].to_numpy(),
                                            df["plant"].to_numpy(), src.noise, rng)
    df["bad"] = noise.assign_bad(df, world, tuple((h, k) for h, k, _ in src.bad), rng) \
        if src.bad else np.zeros(len(df), dtype=np.int8)
    return df
