"""Timelines of life events: deaths, cremations, medical settlements, disability certificates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from safetynet.sample_data.dates import NEVER, add_months, add_years, age_at, day
from safetynet.sample_data.events_common import frame, persons_with, uniform_days
from safetynet.sample_data.population import NAMESAKE, ROSTER, World

DEATH_CAUSES = ("心脑血管疾病", "恶性肿瘤", "呼吸系统疾病", "意外伤害", "衰老", "其他疾病")
DEATH_PLACES = ("医疗卫生机构", "家中", "养老机构", "其他场所")
FUNERAL_HOMES = {"湘A": "长沙市殡仪馆", "湘B": "株洲市殡仪馆", "湘C": "湘潭市殡仪馆",
                 "湘M": "永州市殡仪馆"}
HOSPITALS = ("中南大学湘雅医院", "湖南省人民医院", "长沙市第一医院", "株洲市中心医院",
             "湘潭市中心医院", "永州市中心医院", "县人民医院", "县中医医院", "乡镇卫生院",
             "社区卫生服务中心", "老百姓大药房", "益丰大药房")
CERT_CATEGORIES = ("visual", "hearing", "speech", "physical", "intellectual", "mental",
                   "multiple")


def deaths(world: World, rng: np.random.Generator, trap: np.ndarray) -> pd.DataFrame:
    """Death registrations (health): registration a few days after the death."""
    dead = np.flatnonzero(world.death < NEVER)
    keep = rng.random(len(dead)) < 0.88
    keep |= np.isin(dead, world.plants["deaths_on_boundary"]) | np.isin(dead, trap)
    p = dead[keep]
    death = world.death[p]
    n = len(p)
    plant = np.isin(p, world.plants["deaths_on_boundary"]) | (world.kind[p] >= NAMESAKE)
    return frame(p, death + rng.integers(0, 8, n), plant=plant, death=death,
                 date_style=rng.choice(4, n, p=[.4, .2, .2, .2]).astype(np.int8),
                 cause=rng.integers(0, len(DEATH_CAUSES), n).astype(np.int8),
                 place=rng.integers(0, len(DEATH_PLACES), n).astype(np.int8))


def cremations(world: World, rng: np.random.Generator, health: pd.DataFrame) -> pd.DataFrame:
    """Cremation records: every death health did not register, and most it did."""
    dead = np.flatnonzero((world.death < NEVER) & (world.kind < NAMESAKE))
    in_health = np.isin(dead, health["pidx"].to_numpy())
    keep = ~in_health | (rng.random(len(dead)) < 0.65)
    p = dead[keep]
    n = len(p)
    death = world.death[p]
    return frame(p, death + rng.integers(1, 7, n), death=death)


def settlements(world: World, rng: np.random.Generator, trap: np.ndarray) -> pd.DataFrame:
    """Medical settlements: several a month for the chronically ill, 15+ months of history."""
    lo = add_months(world.first, -15) - 40
    hi = world.horizon
    group = world.group()
    sick = rng.random(world.n_persons) < np.array([.6, .6, .5])[group]
    sick &= world.kind < NAMESAKE
    rate = np.where(sick, np.minimum(rng.gamma(1.3, 1.2, world.n_persons), 8), 0.0)
    heavy = (rng.random(world.n_persons) < np.array([.035, .035, .02])[group]) & \
            (world.kind < NAMESAKE)
    onset = uniform_days(rng, lo, world.last - 60, world.n_persons)
    span_lo = np.where(heavy, onset, lo)
    span_hi = np.minimum(hi, world.death).astype(np.int64)
    span = np.maximum(span_hi - span_lo, 0)
    rate = np.where(heavy, rng.uniform(2, 5, world.n_persons), rate)
    counts = rng.poisson(rate * span / 30.4)
    counts[trap] = 0
    p = np.repeat(np.arange(world.n_persons), counts)
    n = len(p)
    date = (span_lo[p] + np.floor(rng.random(n) * (span[p] + 1))).astype(np.int32)
    is_heavy = heavy[p]
    inpatient = rng.random(n) < 0.01
    total = np.where(is_heavy, rng.uniform(4000, 25000, n),
                     np.where(inpatient, rng.uniform(2000, 20000, n),
                              rng.lognormal(4.9, 0.8, n)))
    share = np.where(is_heavy, rng.uniform(.25, .45, n), rng.uniform(.15, .55, n))
    major = np.where(is_heavy, rng.random(n) < .7, rng.random(n) < .001)
    df = frame(p, date, total=np.round(total, 2), oop=np.round(total * share, 2), major=major,
               hospital=rng.integers(0, len(HOSPITALS), n).astype(np.int8))
    # boundary plants: one major-illness settlement exactly 12 months before as_of (outside the
    # window) or one day later (inside), for persons without other major-illness settlements
    k = max(1, int((world.kind == ROSTER).sum()) // 1500)
    stable = world.stable_roster()
    rows = []
    for q in world.quarters:
        for offset in (0, 1):
            chosen = world.pick(stable, k, rng)
            for pi in chosen.tolist():
                rows.append((pi, add_months(q, -12) + offset))
    planted = np.array([r[0] for r in rows], dtype=np.int64)
    df.loc[df["pidx"].isin(planted), "major"] = False
    parts = [df]
    if rows:
        parts.append(frame(planted, np.array([r[1] for r in rows]), plant=True,
                           total=18000.0, oop=5200.0, major=True, hospital=np.int8(0)))
    if len(trap):
        m = len(trap)
        bait = []
        for offset in (200, 120, 60, 20):  # heavy major-illness costs in the last year
            bait.append(frame(trap, np.full(m, world.first - offset), plant=True,
                              total=30000.0, oop=12000.0, major=True, hospital=np.int8(1)))
        parts.extend(bait)
    world.plants["major_illness_boundary"] = planted.tolist()
    return pd.concat(parts, ignore_index=True)


def certificates(world: World, rng: np.random.Generator, trap: np.ndarray) -> pd.DataFrame:
    """Disability certificates: 10-year validity; some revoked, some expired."""
    p = persons_with(world, rng, (.11, .11, .035))
    n = len(p)
    issue = uniform_days(rng, np.maximum(day("2012-01-01"), world.birth[p] + 365),
                         world.horizon, n)
    category = rng.choice(len(CERT_CATEGORIES), n, p=[.12, .12, .02, .45, .12, .12, .05])
    grade = rng.choice(np.arange(1, 5), n, p=[.18, .30, .30, .22])
    change = np.where(rng.random(n) < 0.03, uniform_days(rng, issue, world.horizon + 365, n),
                      NEVER)
    df = frame(p, issue, category=category.astype(np.int8), grade=grade.astype(np.int8),
               valid_until=add_years(issue, 10), revoked=change.astype(np.int32),
               shows_expired=rng.random(n) < 0.6)
    # boundary plants: valid until exactly as_of (counts) or the day before (does not), for
    # adults in the roster who are not recipients
    k = max(1, int((world.kind == ROSTER).sum()) // 1500)
    ok = world.stable_roster() & (world.group() == 1) & (age_at(world.birth, world.first) >= 20)
    plants = []
    for q in world.quarters:
        for offset in (0, -1):
            chosen = world.pick(ok, k, rng)
            until = np.full(len(chosen), q + offset)
            plants.append(frame(chosen, add_years(until, -10), plant=True, category=np.int8(3),
                                grade=np.int8(1 + (offset == 0)), valid_until=until,
                                revoked=np.int32(NEVER), shows_expired=False))
    planted = np.concatenate([f["pidx"].to_numpy() for f in plants])
    parts = [df[~df["pidx"].isin(planted)], *plants]
    if len(trap):
        m = len(trap)
        parts.append(frame(trap, np.full(m, world.first - 500), plant=True, category=np.int8(3),
                           grade=np.int8(1), valid_until=add_years(np.full(m, world.first), 8),
                           revoked=np.int32(NEVER), shows_expired=False))
    world.plants["certificate_boundary"] = planted.tolist()
    return pd.concat(parts, ignore_index=True)
