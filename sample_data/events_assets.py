"""Timelines of income and assets: pension, unemployment, vehicles, real estate, businesses."""

from __future__ import annotations

import numpy as np
import pandas as pd

from safetynet.sample_data import codes
from safetynet.sample_data.dates import NEVER, add_months, add_years, age_at, day
from safetynet.sample_data.events_common import (
    adult_from,
    choose,
    frame,
    persons_with,
    uniform_days,
)
from safetynet.sample_data.population import ROSTER, World

PENSION_TYPES = ("enterprise_employee", "public_institution", "urban_rural_resident")
PENSION_STATUSES = ("contributing", "suspended", "terminated", "receiving")


def pension(world: World, rng: np.random.Generator, trap: np.ndarray) -> pd.DataFrame:
    """One insurance record per insured person; status may change once (job lost/found, 60)."""
    p = persons_with(world, rng, (.45, .55, .85), min_age=16)
    n = len(p)
    group = world.group()[p]
    elderly = age_at(world.birth[p], world.first) >= 60
    type_p = np.array([[.22, .03, .75], [.35, .05, .60], [.55, .12, .33]])[group]
    type_p = np.where(elderly[:, None], np.array([.3, .08, .62]), type_p)
    ptype = (rng.random(n)[:, None] > np.cumsum(type_p, axis=1)).sum(axis=1).astype(np.int8)
    ptype = np.where(world.dup[p], 2, ptype).astype(np.int8)
    lo = np.maximum(day("2005-01-01"), adult_from(world, p))
    start = uniform_days(rng, lo, world.horizon, n)
    b60 = add_years(world.birth[p], 60)
    resident = ptype == 2
    status_a = np.where(resident, rng.choice([0, 1], n, p=[.7, .3]),
                        rng.choice([0, 1, 2], n, p=[.55, .35, .10])).astype(np.int8)
    status_a = np.where(b60 <= start, 3, status_a).astype(np.int8)
    flip = (rng.random(n) < .15) & (status_a < 2)
    change = np.where(b60 <= world.horizon, np.maximum(b60, start), NEVER)
    status_b = np.where(b60 <= world.horizon, 3, 1 - status_a).astype(np.int8)
    flip_day = uniform_days(rng, world.first - 60, world.horizon, n)
    change = np.where((change == NEVER) & flip, np.maximum(flip_day, start + 30), change)
    status_b = np.where(change == NEVER, status_a, status_b).astype(np.int8)
    low = rng.random(n) < .25
    base = np.where(low, rng.uniform(1800, 2600, n), rng.uniform(3000, 9500, n))
    base = np.where(resident, np.nan, np.round(base, -1))
    df = frame(p, start, ptype=ptype, status_a=status_a, status_b=status_b,
               change=change.astype(np.int32), base=base, thousands=rng.random(n) < .2)
    parts = [df]
    # boundary plants: income + base / size == standard exactly (medium, `>` is high)
    k = max(1, int((world.kind == ROSTER).sum()) // 1500)
    ok = world.stable_roster() & (world.group() == 0) & \
        (age_at(world.birth, world.first) >= 22) & (age_at(world.birth, world.last) <= 55)
    hh = world.primary_hh
    std = world.standards[0, world.county, np.where(world.urban, 0, 1)]
    gap = (std - np.where(hh >= 0, world.hh_income[np.maximum(hh, 0)], 0)) * \
        world.hh_size[np.maximum(hh, 0)]
    ok &= (gap >= 1500) & (gap <= 9000) & (world.hh_size[np.maximum(hh, 0)] >= 2) & \
        world.stable_households()[np.maximum(hh, 0)]
    chosen = world.pick(ok, 2 * k, rng)
    if len(chosen):
        parts = [df[~df["pidx"].isin(chosen)]]
        parts.append(frame(chosen, np.full(len(chosen), world.first - 700), plant=True,
                           ptype=np.int8(0), status_a=np.int8(0), status_b=np.int8(0),
                           change=np.int32(NEVER), base=np.round(gap[chosen], 2),
                           thousands=False))
    if len(trap):
        parts.append(frame(trap, np.full(len(trap), world.first - 900), plant=True,
                           ptype=np.int8(0), status_a=np.int8(0), status_b=np.int8(0),
                           change=np.int32(NEVER), base=6500.0, thousands=False))
    world.plants["pension_equal_standard"] = chosen.tolist()
    return pd.concat(parts, ignore_index=True)


def unemployment(world: World, rng: np.random.Generator, trap: np.ndarray) -> pd.DataFrame:
    """Unemployment registrations: active until an end date (sometimes never written)."""
    p = persons_with(world, rng, (.09, .07, .04), min_age=16, max_age=64)
    n = len(p)
    reg = uniform_days(rng, np.maximum(world.first - 730, adult_from(world, p, 16)),
                       world.horizon, n)
    end = (reg + 20 + rng.exponential(210, n)).astype(np.int64)
    end = np.where(rng.random(n) < 0.08, NEVER, end).astype(np.int32)
    df = frame(p, reg, end=end, end_blank=rng.random(n) < 0.03)
    ages = [pi for label in ("age_15", "age_16", "age_59", "age_60")
            for pi in world.plants.get(label, [])]
    planted = np.array(ages, dtype=np.int64)
    parts = [df[~df["pidx"].isin(planted)]]
    for who in (planted, trap):
        if len(who):
            parts.append(frame(who, np.full(len(who), world.first - 90), plant=True,
                               end=np.int32(NEVER), end_blank=False))
    return pd.concat(parts, ignore_index=True)


_TYPE_P_ROSTER = {"K33": 10, "K31": 8, "K32": 2, "H11": 1, "H31": 4, "H41": 2, "M21": 25,
                  "M22": 12, "M11": 5, "N11": 16, "B11": 1, "T11": 3, "T21": 7, "J11": 4}
_TYPE_P_GENERAL = {"K33": 40, "K31": 15, "K32": 8, "K11": 1, "H11": 3, "H31": 6, "H41": 3,
                   "M21": 10, "M22": 5, "M11": 2, "N11": 3, "B11": 1, "T11": 1, "T21": 1,
                   "J11": 1}
_TERMINAL = {"E": 45, "P": 25, "B": 18, "M": 5, "C": 3, "K": 2, "L": 2}
_NORMAL = {"A": 84, "G": 7, "Q": 5, "GQ": 2, "D": 1, "I": 1}
_PLATE_LETTERS = np.array(list("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"))


def vehicles(world: World, rng: np.random.Generator, trap: np.ndarray) -> pd.DataFrame:
    """Motor vehicles of adults; some later deregistered, scrapped, transferred or stolen."""
    owners = persons_with(world, rng, (.07, .12, .40), min_age=18)
    second = owners[(world.group()[owners] == 2) & (rng.random(len(owners)) < .2)]
    p = np.sort(np.concatenate([owners, second]))
    n = len(p)
    general = world.group()[p] == 2
    vtype = np.where(general, choose(rng, _TYPE_P_GENERAL, n), choose(rng, _TYPE_P_ROSTER, n))
    lo = np.maximum(day("2005-01-01"), adult_from(world, p))
    reg = (lo + (world.horizon - lo) * rng.random(n) ** 0.7).astype(np.int32)
    ends = rng.random(n) < .3
    change = np.where(ends, uniform_days(rng, reg + 90, world.horizon + 400, n), NEVER)
    df = frame(p, reg, vtype=vtype.astype(object), normal_code=choose(rng, _NORMAL, n),
               end_code=choose(rng, _TERMINAL, n), change=change.astype(np.int32),
               disabled=(np.char.startswith(vtype.astype(str), "K") & (rng.random(n) < .03)),
               plate=_plates(world, p, rng), new_energy=rng.random(n) < .15)
    parts = [df]
    # near misses: disabled-use cars and deregistered cars of recipient household members
    k = max(1, int((world.kind == ROSTER).sum()) // 1500)
    ok = world.stable_roster() & (world.group() == 0) & (age_at(world.birth, world.first) >= 25)
    for disabled, change_day in ((True, NEVER), (False, world.first - 200)):
        chosen = world.pick(ok, k, rng)
        m = len(chosen)
        parts.append(frame(chosen, np.full(m, world.first - 800), plant=True,
                           vtype="K33", normal_code="A", end_code="E",
                           change=np.int32(change_day), disabled=disabled,
                           plate=_plates(world, chosen, rng), new_energy=False))
    if len(trap):
        m = len(trap)
        parts.append(frame(trap, np.full(m, world.first - 400), plant=True, vtype="K33",
                           normal_code="A", end_code="E", change=np.int32(NEVER),
                           disabled=False, plate=_plates(world, trap, rng), new_energy=False))
    return pd.concat(parts, ignore_index=True)


def _plates(world: World, p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    prefix = np.array([c[2] for c in codes.COUNTIES], dtype=object)[world.county[p]]
    tail = _PLATE_LETTERS[rng.integers(0, len(_PLATE_LETTERS), (len(p), 5))]
    tail[:, 0] = _PLATE_LETTERS[rng.integers(0, 10, len(p))]
    return prefix + np.array(["".join(t) for t in tail.tolist()], dtype=object)


_FLAT_ACQ = {"purchase_new": 35, "purchase_second_hand": 25, "inheritance": 12, "gift": 5,
             "expropriation_resettlement": 13, "other": 10}
_BUY_ACQ = {"purchase_new": 55, "purchase_second_hand": 45}
_GENERAL_ACQ = {"purchase_new": 50, "purchase_second_hand": 30, "inheritance": 8, "gift": 3,
                "self_built": 5, "expropriation_resettlement": 4}


def properties(world: World, rng: np.random.Generator, trap: np.ndarray) -> pd.DataFrame:
    """Real-estate units and their owners; spouses co-own about half of the family homes."""
    t0, horizon = world.first, world.horizon
    heads = world.row_pidx[world.row_relation == 0]
    hh = world.primary_hh[heads]
    recip = np.isin(world.hh_category[hh], (0, 1))
    rural = ~world.hh_urban[hh]
    units: list[pd.DataFrame] = []

    def add(owner, start, acq, usage="residential", plant=False):
        m = len(owner)
        units.append(frame(owner, start, plant=plant, acq=np.broadcast_to(
            np.asarray(acq, dtype=object), (m,)).copy(), usage=usage))

    home_rural = heads[rural & (rng.random(len(heads)) < .55)]
    add(home_rural, uniform_days(rng, day("1998-01-01"), day("2022-12-31"), len(home_rural)),
        "self_built")
    home_urban = heads[~rural & (rng.random(len(heads)) < .30)]
    add(home_urban, uniform_days(rng, day("2000-01-01"), horizon, len(home_urban)),
        choose(rng, _FLAT_ACQ, len(home_urban)))
    extra = heads[recip & (rng.random(len(heads)) < .04)]
    add(extra, uniform_days(rng, day("2005-01-01"), horizon, len(extra)),
        choose(rng, {"purchase_second_hand": 3, "inheritance": 3, "self_built": 2}, len(extra)))
    shops = heads[rng.random(len(heads)) < .02]
    add(shops, uniform_days(rng, day("2008-01-01"), horizon, len(shops)),
        choose(rng, _BUY_ACQ, len(shops)), usage="commercial")
    buyers = persons_with(world, rng, (.015, .015, 0), min_age=20)
    add(buyers, uniform_days(rng, t0 - 1100, horizon, len(buyers)),
        choose(rng, _BUY_ACQ, len(buyers)))
    general = persons_with(world, rng, (0, 0, .6), min_age=22)
    general = np.concatenate([general, general[rng.random(len(general)) < .2]])
    usage = choose(rng, {"residential": 90, "commercial": 5, "other": 4, "industrial": 1},
                   len(general))
    add(general, uniform_days(rng, np.maximum(day("1998-01-01"), adult_from(world, general, 22)),
                              horizon, len(general)), choose(rng, _GENERAL_ACQ, len(general)),
        usage=usage)
    # boundary plants per quarter: bought exactly 36 months before as_of (outside) or a day
    # later (inside); expropriation resettlement and a shop bought recently (near misses)
    k = max(1, int((world.kind == ROSTER).sum()) // 1500)
    ok = world.stable_roster() & (world.group() == 0) & (age_at(world.birth, t0) >= 25)
    planted: list[int] = []
    for q in world.quarters:
        for offset, acq, use in ((0, "purchase_new", "residential"),
                                 (1, "purchase_second_hand", "residential"),
                                 (-100, "expropriation_resettlement", "residential"),
                                 (-100, "purchase_new", "commercial")):
            chosen = world.pick(ok, k, rng)
            when = add_months(q, -36) + offset if offset >= 0 else q + offset
            add(chosen, np.full(len(chosen), when), acq, usage=use, plant=True)
            planted.extend(chosen.tolist())
    if len(trap):
        add(trap, np.full(len(trap), t0 - 200), "purchase_new", plant=True)
    world.plants["property_boundary"] = planted
    df = pd.concat(units, ignore_index=True)
    df = df[df["start"].to_numpy() >= adult_from(world, df["pidx"].to_numpy(), 16)]
    n = len(df)
    df["unit"] = np.arange(n)
    sold = rng.random(n) < .06
    df["change"] = np.where(sold & ~df["plant"].to_numpy(),
                            uniform_days(rng, df["start"].to_numpy() + 365, horizon + 365, n),
                            NEVER).astype(np.int32)
    df["self_built_rural"] = df["acq"].to_numpy() == "self_built"
    df["building"] = rng.integers(1, 31, n)
    df["town"] = rng.integers(1, 16, n)
    df["subzone"] = rng.integers(1, 40, n)
    # spouses co-own about half of the family homes: one record per owner, same unit
    spouse = _spouse_of(world)
    owner = df["pidx"].to_numpy()
    co = (spouse[owner] >= 0) & (rng.random(n) < .5) & (df["usage"].to_numpy() == "residential") \
        & ~df["plant"].to_numpy()
    co_rows = df[co].copy()
    co_rows["pidx"] = spouse[owner[co]]
    df["shared"] = co
    co_rows["shared"] = True
    return pd.concat([df, co_rows], ignore_index=True)


def _spouse_of(world: World) -> np.ndarray:
    spouse = np.full(world.n_persons, -1, dtype=np.int64)
    base = world.row_hh == world.primary_hh[world.row_pidx]
    head_of = np.full(len(world.hh_id), -1, dtype=np.int64)
    is_head = base & (world.row_relation == 0)
    head_of[world.row_hh[is_head]] = world.row_pidx[is_head]
    is_sp = base & (world.row_relation == 1)
    h = head_of[world.row_hh[is_sp]]
    ok = h >= 0
    spouse[h[ok]] = world.row_pidx[is_sp][ok]
    return spouse


_ENTITY_P_ROSTER = {"individual_business": 55, "company": 22, "sole_proprietorship": 7,
                    "cooperative": 10, "partnership": 6}
_ENTITY_P_GENERAL = {"individual_business": 40, "company": 42, "sole_proprietorship": 8,
                     "cooperative": 4, "partnership": 6}
_ENTITY_CODE = {"individual_business": "个体工商户", "sole_proprietorship": "个人独资企业",
                "cooperative": "农民专业合作社", "partnership": "普通合伙企业"}
_COMPANY_ROLES = {"法定代表人": 40, "股东": 35, "监事": 15, "经理": 10}


def business(world: World, rng: np.random.Generator, trap: np.ndarray) -> pd.DataFrame:
    """Roles of persons in market entities; entities may later be cancelled or revoked."""
    p = persons_with(world, rng, (.035, .06, .15), min_age=18)
    n = len(p)
    general = world.group()[p] == 2
    kind = np.where(general, choose(rng, _ENTITY_P_GENERAL, n), choose(rng, _ENTITY_P_ROSTER, n))
    company = rng.random(n) < .5
    etype = np.where(kind == "company", np.where(company, "有限责任公司(自然人投资或控股)",
                                                 "股份有限公司(非上市)"), "")
    for k, label in _ENTITY_CODE.items():
        etype = np.where(kind == k, label, etype)
    role = np.select([kind == "individual_business", kind == "sole_proprietorship",
                      kind == "cooperative", kind == "partnership"],
                     ["经营者", "投资人", np.where(rng.random(n) < .6, "法定代表人", "成员"),
                      "执行事务合伙人"], choose(rng, _COMPANY_ROLES, n))
    est = uniform_days(rng, np.maximum(day("2008-01-01"), adult_from(world, p)),
                       world.horizon, n)
    u = rng.random(n)
    end_code = np.select([u < .25, u < .32, u < .34], ["注销", "吊销", "迁出"], "")
    change = np.where(end_code != "", uniform_days(rng, est + 180, world.horizon + 500, n), NEVER)
    df = frame(p, est, etype=etype.astype(object), role=role.astype(object),
               end_code=end_code.astype(object), change=change.astype(np.int32),
               words=rng.integers(0, 10_000, n))
    parts = [df]
    if len(trap):
        m = len(trap)
        parts.append(frame(trap, np.full(m, world.first - 300), plant=True, etype="个体工商户",
                           role="经营者", end_code="", change=np.int32(NEVER),
                           words=rng.integers(0, 10_000, m)))
    return pd.concat(parts, ignore_index=True)
