"""The clean object model: persons, roster households and roster rows over time.

Everything here is the truth the department files are rendered from. Arrays are indexed by
person (``pidx``), household (``hh``) or roster row. Dates are day numbers (see dates.py).
Quarter files are snapshots of this one timeline, so a record keeps its key across quarters.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from safetynet.sample_data import codes, identity
from safetynet.sample_data.dates import NEVER, add_months, add_years, age_at, day

CATEGORIES = ("dibao", "tekun", "dibao_edge", "rigid_expense", "anti_return", "other")
RELATIONS = ("head", "spouse", "child", "parent", "grandchild", "sibling", "other")
STATUSES = ("active", "gradual_exit", "exited")
ROSTER, GENERAL, NAMESAKE, NEAR_ID = 0, 1, 2, 3  # person kinds
DECOY_KINDS = {NAMESAKE: "namesake", NEAR_ID: "near_id"}
RECIPIENT_CATEGORIES = (0, 1)  # dibao, tekun
COUNTY_CODES = np.array([c[0] for c in codes.COUNTIES], dtype=object)
# Extraction lag (days after as_of) per department file: each department extracts on its own day.
EXTRACT_LAG = {"civil_affairs_roster": 0, "civil_affairs_standards": 0, "health_deaths": 21,
               "civil_affairs_cremations": 14, "hrss_pension": 10, "hrss_unemployment": 12,
               "public_security_vehicles": 15, "natural_resources_properties": 18,
               "market_regulation_business": 7, "medical_security_settlements": 20,
               "disability_federation_certificates": 5}


def rng_for(seed: int, part: str) -> np.random.Generator:
    """An independent random stream per generator part (adding a part changes no other)."""
    return np.random.default_rng([seed, zlib.crc32(part.encode())])


@dataclass
class World:
    """Persons, households and roster rows, plus the quarter dates and dibao standards."""

    quarters: tuple[int, ...]
    seed: int
    # persons
    kind: np.ndarray
    female: np.ndarray
    birth: np.ndarray
    county: np.ndarray  # index into codes.COUNTIES (residence)
    region: np.ndarray  # 12-digit residence region code
    urban: np.ndarray
    id18: np.ndarray
    name: np.ndarray
    surname_len: np.ndarray
    minority: np.ndarray
    death: np.ndarray
    decoy_of: np.ndarray
    twin: np.ndarray
    dup: np.ndarray
    reserved: np.ndarray  # planted or protected persons: no random plant picks them again
    # households
    hh_id: np.ndarray
    hh_county: np.ndarray
    hh_region: np.ndarray
    hh_urban: np.ndarray
    hh_category: np.ndarray
    hh_start: np.ndarray
    hh_ge: np.ndarray
    hh_exit: np.ndarray
    hh_income: np.ndarray
    hh_size: np.ndarray
    # roster rows
    row_pidx: np.ndarray
    row_hh: np.ndarray
    row_relation: np.ndarray
    row_start: np.ndarray
    row_exit: np.ndarray
    row_legacy: np.ndarray
    row_key: np.ndarray
    standards: np.ndarray  # (quarters, counties, 2 = urban/rural) monthly yuan
    primary_hh: np.ndarray  # person -> first household (-1 for non-roster)
    plants: dict[str, list[int]] = field(default_factory=dict)
    has_trad: np.ndarray | None = None
    has_homo: np.ndarray | None = None
    ends_x: np.ndarray | None = None  # ID check character is X

    @property
    def n_persons(self) -> int:
        return len(self.kind)

    @property
    def first(self) -> int:
        return self.quarters[0]

    @property
    def last(self) -> int:
        return self.quarters[-1]

    @property
    def horizon(self) -> int:
        """Last day any department file may contain."""
        return self.last + max(EXTRACT_LAG.values())

    def group(self) -> np.ndarray:
        """0 member of a recipient household, 1 other roster person, 2 not in the roster."""
        g = np.full(self.n_persons, 2, dtype=np.int8)
        roster = self.primary_hh >= 0
        recip = np.isin(self.hh_category, RECIPIENT_CATEGORIES)
        g[roster] = np.where(recip[self.primary_hh[roster]], 0, 1)
        return g

    def rows_at(self, as_of: int) -> tuple[np.ndarray, np.ndarray]:
        """(row indices in the roster file at as_of, their status codes 0/1/2)."""
        present = (self.row_start <= as_of) & (self.row_exit > as_of - 365)
        idx = np.flatnonzero(present)
        status = np.where(self.row_exit[idx] <= as_of, 2,
                          np.where(self.hh_ge[self.row_hh[idx]] <= as_of, 1, 0))
        return idx, status.astype(np.int8)

    def stable_roster(self) -> np.ndarray:
        """Persons in the roster, in status active, in every quarter (safe targets for plants)."""
        ok = np.zeros(self.n_persons, dtype=bool)
        first_rows = self.primary_hh >= 0
        ok[first_rows] = True
        for q in self.quarters:
            idx, status = self.rows_at(q)
            active = np.zeros(self.n_persons, dtype=bool)
            active[self.row_pidx[idx[status == 0]]] = True
            ok &= active
        return ok & ~self.dup & ~self.twin & (self.death == NEVER)

    def arrow(self, attr: str) -> pa.Array:
        """A person attribute (id18, name) as a cached Arrow string array."""
        cache = self.__dict__.setdefault("_arrow", {})
        if attr not in cache:
            cache[attr] = pa.array(getattr(self, attr), pa.string())
        return cache[attr]

    def stable_households(self) -> np.ndarray:
        """Households whose every row is listed from the first quarter on and never exits."""
        ok = (self.row_start <= self.first) & (self.row_exit == NEVER)
        bad = np.bincount(self.row_hh[~ok], minlength=len(self.hh_id))
        return (bad == 0) & (self.hh_ge == NEVER)

    def pick(self, mask: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
        """Choose up to k unreserved persons from mask and reserve them."""
        pool = np.flatnonzero(mask & ~self.reserved)
        if len(pool) == 0 or k <= 0:
            return np.empty(0, dtype=np.int64)
        chosen = np.sort(rng.choice(pool, size=min(k, len(pool)), replace=False))
        self.reserved[chosen] = True
        return chosen


def _uniform_days(rng: np.random.Generator, lo: int | np.ndarray, hi: int | np.ndarray,
                  n: int) -> np.ndarray:
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.maximum(np.asarray(hi, dtype=np.int64), lo)
    return (lo + np.floor(rng.random(n) * (hi - lo + 1))).astype(np.int32)


def _region_codes(county: np.ndarray, urban: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(county)
    town = rng.integers(1, 16, n)
    village = np.where(urban, rng.integers(1, 31, n), rng.integers(201, 241, n))
    return np.array([f"{c}{t:03d}{v:03d}" for c, t, v in
                     zip(COUNTY_CODES[county].tolist(), town.tolist(), village.tolist(),
                         strict=True)], dtype=object)


def _standards(quarters: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    n = len(codes.COUNTIES)
    urban = np.round(rng.uniform(820, 1060, n), -1)
    rural = np.maximum(600, urban - np.round(rng.uniform(150, 300, n), -1))
    out = np.zeros((len(quarters), n, 2))
    out[0, :, 0], out[0, :, 1] = urban, rural
    for q in range(1, len(quarters)):  # some counties raise the standard from July / January
        raise_ = np.where(rng.random(n) < 0.5, np.round(rng.uniform(20, 60, n), -1), 0)
        out[q] = np.minimum(1100, out[q - 1] + raise_[:, None])
    return out


def _households(n: int, quarters: tuple[int, ...], standards: np.ndarray,
                rng: np.random.Generator) -> dict[str, np.ndarray]:
    sizes = rng.choice(np.arange(1, 7), size=n // 2 + 10, p=[.30, .26, .20, .12, .08, .04])
    ends = np.cumsum(sizes)
    n_hh = int(np.searchsorted(ends, n) + 1)
    sizes = sizes[:n_hh].copy()
    sizes[-1] -= int(ends[n_hh - 1] - n)
    t0, t_last = quarters[0], quarters[-1]
    weights = np.array(codes.COUNTY_WEIGHTS) / sum(codes.COUNTY_WEIGHTS)
    county = rng.choice(len(codes.COUNTIES), size=n_hh, p=weights)
    urban_share = np.array([c[3] for c in codes.COUNTIES])
    urban = rng.random(n_hh) < urban_share[county]
    single = sizes == 1
    p_single = [.42, .28, .08, .07, .10, .05]
    p_family = [.56, .0, .14, .08, .15, .07]
    category = np.where(single, rng.choice(6, n_hh, p=p_single), rng.choice(6, n_hh, p=p_family))
    new = (rng.random(n_hh) < 0.06) & (t_last > t0)
    start = np.where(new, _uniform_days(rng, t0 + 1, t_last, n_hh),
                     _uniform_days(rng, day("2014-01-01"), t0 - 30, n_hh))
    exit_ = np.full(n_hh, NEVER, dtype=np.int32)
    leaving = rng.random(n_hh) < 0.05
    exit_[leaving] = _uniform_days(rng, np.maximum(start[leaving] + 60, t0 - 330), t_last + 30,
                                   int(leaving.sum()))
    ge = np.full(n_hh, NEVER, dtype=np.int32)
    gradual = (category == 0) & ~leaving & ~new & (rng.random(n_hh) < 0.14)
    k = int(gradual.sum())
    ge[gradual] = _uniform_days(rng, np.maximum(start[gradual] + 180, t0 - 300), t_last - 15, k)
    lag = np.where(rng.random(k) < 0.35, 0, rng.integers(5, 200, k))
    exit_[gradual] = add_months(ge[gradual], 6) + lag
    std = standards[0, county, np.where(urban, 0, 1)]
    factor = np.select([category == 0, category == 1, category == 2, category == 3,
                        category == 4],
                       [rng.uniform(0, .8, n_hh), rng.uniform(0, .3, n_hh),
                        rng.uniform(.9, 1.4, n_hh), rng.uniform(.6, 1.6, n_hh),
                        rng.uniform(1, 2, n_hh)], rng.uniform(.5, 2, n_hh))
    income = np.round(factor * std, -1)
    seq = np.zeros(n_hh, dtype=np.int64)
    for c in range(len(codes.COUNTIES)):
        members = np.flatnonzero(county == c)
        seq[members] = np.arange(1, len(members) + 1)
    hh_id = np.array([f"HH{COUNTY_CODES[c]}{s:06d}" for c, s in
                      zip(county.tolist(), seq.tolist(), strict=True)], dtype=object)
    return {"size": sizes, "county": county, "urban": urban, "category": category,
            "start": start, "exit": exit_, "ge": ge, "income": income, "hh_id": hh_id,
            "region": _region_codes(county, urban, rng)}


def _members(hh: dict[str, np.ndarray], t0: int, rng: np.random.Generator
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Household index, relation, birth day and sex of each roster person."""
    sizes = hh["size"]
    n = int(sizes.sum())
    hh_of = np.repeat(np.arange(len(sizes)), sizes)
    rank = np.arange(n) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    tekun = hh["category"][hh_of] == 1
    head_age = np.where(tekun, rng.uniform(58, 92, n), rng.triangular(24, 55, 84, n))
    head_birth = (t0 - head_age * 365.25).astype(np.int64)[np.cumsum(sizes) - sizes][hh_of]
    u = rng.random(n)
    relation = np.where(rank == 0, 0,
                        np.where((rank == 1) & (u < .8), 1,
                                 np.select([u < .78, u < .88, u < .96, u < .98], [2, 3, 4, 5], 6)))
    young_head = head_birth > t0 - 55 * 365
    relation = np.where((relation == 3) & ~young_head, 2, relation)
    offset_years = np.select(
        [relation == 0, relation == 1, relation == 2, relation == 3, relation == 4,
         relation == 5],
        [np.zeros(n), rng.normal(0, 3, n), rng.uniform(20, 38, n), -rng.uniform(20, 34, n),
         rng.uniform(44, 60, n), rng.uniform(-9, 9, n)], rng.uniform(-30, 30, n))
    birth = head_birth + (offset_years * 365.25).astype(np.int64) + rng.integers(-150, 150, n)
    birth = np.where(birth > t0 - 200, t0 - rng.integers(200, 5000, n), birth)
    birth = np.clip(birth, day("1926-01-01"), t0 - 200).astype(np.int32)
    female = rng.random(n) < 0.5
    head_female = rng.random(n) < 0.35
    first = np.cumsum(sizes) - sizes
    female = np.where(relation == 0, head_female, female)
    female = np.where(relation == 1, ~head_female[first][hh_of], female)
    return hh_of, relation.astype(np.int8), birth, female


def build_world(n: int, quarters: tuple[int, ...], seed: int) -> World:
    """Generate the population, households and roster timeline for `n` roster persons."""
    rng = rng_for(seed, "population")
    t0, t_last = quarters[0], quarters[-1]
    standards = _standards(quarters, rng_for(seed, "standards"))
    hh = _households(n, quarters, standards, rng)
    hh_of, relation, birth_r, female_r = _members(hh, t0, rng)
    # general population (incl. decoys): half as many persons as the roster
    n_gen = max(20, n // 2)
    n_ns = max(4, round(0.012 * n))
    n_near = max(4, round(0.012 * n))
    p_total = n + n_gen
    kind = np.full(p_total, GENERAL, dtype=np.int8)
    kind[:n] = ROSTER
    kind[n:n + n_ns] = NAMESAKE
    kind[n + n_ns:n + n_ns + n_near] = NEAR_ID
    gen_age = np.minimum(rng.gamma(2.2, 18.0, n_gen), 95)
    birth = np.concatenate([birth_r, (t0 - gen_age * 365.25 - rng.integers(0, 365, n_gen))
                            .astype(np.int32)])
    birth = np.clip(birth, day("1926-01-01"), t0 - 200).astype(np.int32)
    female = np.concatenate([female_r, rng.random(n_gen) < 0.5])
    weights = np.array(codes.COUNTY_WEIGHTS) / sum(codes.COUNTY_WEIGHTS)
    county = np.concatenate([hh["county"][hh_of], rng.choice(len(codes.COUNTIES), n_gen,
                                                               p=weights)])
    urban = np.concatenate([hh["urban"][hh_of], rng.random(n_gen) < 0.55])
    region = np.concatenate([hh["region"][hh_of], _region_codes(county[n:], urban[n:], rng)])
    minority = rng.random(p_total) < 0.025
    primary_hh = np.full(p_total, -1, dtype=np.int64)
    primary_hh[:n] = hh_of
    reserved = np.zeros(p_total, dtype=bool)
    reserved[n:] = True  # plants pick roster persons only
    dup = np.zeros(p_total, dtype=bool)
    twin = np.zeros(p_total, dtype=bool)
    decoy_of = np.full(p_total, -1, dtype=np.int64)

    # roster rows: one per roster person, plus second rows of duplicate enrolments
    row_pidx = np.arange(n)
    row_hh = hh_of.copy()
    row_rel = relation.copy()
    row_start = hh["start"][hh_of].copy()
    row_exit = hh["exit"][hh_of].copy()
    n_hh = len(hh["size"])
    hh_recip = np.isin(hh["category"], RECIPIENT_CATEGORIES)
    settled = (hh["start"][hh_of] <= t0 - 200) & (hh["exit"][hh_of] == NEVER) & \
              (hh["ge"][hh_of] == NEVER) & (age_at(birth_r, t0) >= 18)
    n_dup = max(3, round(0.009 * n))
    dup_p = rng.choice(np.flatnonzero(settled), size=min(n_dup, int(settled.sum())),
                       replace=False)
    dup_p.sort()
    steady_hh = np.flatnonzero((hh["exit"] == NEVER) & (hh["ge"] == NEVER) &
                               (hh["start"] <= t0 - 30) & (hh["size"] <= 5))
    # the second household: same recipient status, another county for 60% of them
    want_other = rng.random(len(dup_p)) < 0.6
    target = np.full(len(dup_p), -1, dtype=np.int64)
    own = hh_of[dup_p]
    for _ in range(30):  # rejection sampling, vectorised
        open_ = target < 0
        if not open_.any():
            break
        pick = steady_hh[rng.integers(0, len(steady_hh), int(open_.sum()))]
        own_o = own[open_]
        fits = (hh_recip[pick] == hh_recip[own_o]) & (pick != own_o) & \
            ((hh["county"][pick] != hh["county"][own_o]) == want_other[open_]) & \
            ~np.isin(pick, target)
        _, first_pick = np.unique(pick, return_index=True)
        fits &= np.isin(np.arange(len(pick)), first_pick)  # one new row per household
        target[np.flatnonzero(open_)[fits]] = pick[fits]
    placed = target >= 0
    dup_p, target = dup_p[placed], target[placed]
    join = _uniform_days(rng, day("2023-01-01"), t_last, len(dup_p))
    moved = rng.random(len(dup_p)) < 0.4  # the old county exits the person some weeks later
    row_exit[dup_p[moved]] = join[moved] + rng.integers(20, 150, int(moved.sum()))
    extra_p, extra_hh = dup_p, target
    extra_start = np.maximum(join, hh["start"][target])
    extra_exit = np.full(len(dup_p), NEVER)
    dup[dup_p] = True
    reserved[dup] = True
    row_pidx = np.concatenate([row_pidx, extra_p]).astype(np.int64)
    row_hh = np.concatenate([row_hh, extra_hh]).astype(np.int64)
    row_rel = np.concatenate([row_rel, np.full(len(extra_p), 6)]).astype(np.int8)
    row_start = np.concatenate([row_start, extra_start]).astype(np.int32)
    row_exit = np.concatenate([row_exit, extra_exit]).astype(np.int32)
    hh_size = np.bincount(row_hh, minlength=n_hh)

    world = World(
        quarters=quarters, seed=seed, kind=kind, female=female, birth=birth, county=county,
        region=region, urban=urban, id18=np.empty(p_total, dtype=object),
        name=np.empty(p_total, dtype=object), surname_len=np.zeros(p_total, dtype=np.int8),
        minority=minority, death=np.full(p_total, NEVER, dtype=np.int32), decoy_of=decoy_of,
        twin=twin, dup=dup, reserved=reserved, hh_id=hh["hh_id"], hh_county=hh["county"],
        hh_region=hh["region"], hh_urban=hh["urban"], hh_category=hh["category"],
        hh_start=hh["start"], hh_ge=hh["ge"], hh_exit=hh["exit"], hh_income=hh["income"],
        hh_size=hh_size, row_pidx=row_pidx, row_hh=row_hh, row_relation=row_rel,
        row_start=row_start, row_exit=row_exit, row_legacy=np.zeros(len(row_pidx), bool),
        row_key=np.empty(0, dtype=object), standards=standards, primary_hh=primary_hh)
    _plant_gradual_exits(world, rng)
    _plant_twins(world, rng)
    _plant_ages(world, rng)
    _names_and_ids(world, rng)
    _mark_lookalikes(world)
    _deaths(world, rng)
    order = np.lexsort((world.row_relation, world.row_hh))
    for attr in ("row_pidx", "row_hh", "row_relation", "row_start", "row_exit"):
        setattr(world, attr, getattr(world, attr)[order])
    world.row_key = np.array([f"CY{i:010d}" for i in range(1, len(order) + 1)], dtype=object)
    legacy_ok = world.birth[world.row_pidx] < day("2000-01-01")
    world.row_legacy = legacy_ok & (rng.random(len(order)) < 0.006)
    world.has_trad, world.has_homo = identity.name_flags(world.name, world.surname_len)
    world.ends_x = np.array([s[-1] == "X" for s in world.id18.tolist()], dtype=bool)
    return world


def _plant_gradual_exits(world: World, rng: np.random.Generator) -> None:
    """Per quarter: households whose gradual exit started exactly 6 months (due) and 5 months
    (not yet due) before as_of, still in gradual exit."""
    k = max(1, len(world.hh_id) // 700)
    ok = (world.hh_category == 0) & (world.hh_exit == NEVER) & (world.hh_ge == NEVER) & \
         (world.hh_start <= world.first - 400)
    pool = list(rng.permutation(np.flatnonzero(ok)))
    planted = []
    for q in world.quarters:
        for months in (6, 5):
            for _ in range(k):
                if pool:
                    h = int(pool.pop())
                    world.hh_ge[h] = add_months(q, -months)
                    planted.append(h)
    world.plants["gradual_exit_households"] = planted
    members = np.isin(world.primary_hh, planted)
    world.reserved |= members


def _plant_twins(world: World, rng: np.random.Generator) -> None:
    """Pairs of roster heads in one county who share name, birth date and sex."""
    n = int((world.kind == ROSTER).sum())
    k = max(3, round(0.005 * n))
    heads = np.flatnonzero((world.kind == ROSTER) & ~world.reserved &
                           (_person_relation(world) == 0))
    stable = np.zeros(world.n_persons, dtype=bool)
    hh = world.primary_hh[heads]
    good = (world.hh_start[hh] <= world.first - 30) & (world.hh_exit[hh] == NEVER) & \
           (world.hh_ge[hh] == NEVER)
    stable[heads[good]] = True
    pairs: list[tuple[int, int]] = []
    per_group = k // (2 * len(codes.COUNTIES)) + 1  # spread over counties and sexes
    for c in rng.permutation(len(codes.COUNTIES)).tolist():
        for female in (False, True):
            pool = rng.permutation(np.flatnonzero(stable & (world.county == c) &
                                                  (world.female == female)))
            take = min(per_group, k - len(pairs), len(pool) // 2)
            pairs.extend((int(pool[2 * i]), int(pool[2 * i + 1])) for i in range(take))
    for a, b in pairs:
        world.birth[b] = world.birth[a]
        world.twin[[a, b]] = True
        world.reserved[[a, b]] = True
    world.plants["twins"] = [p for pair in pairs for p in pair]


def _plant_ages(world: World, rng: np.random.Generator) -> None:
    """Per quarter: persons aged exactly 15, 16, 59 and 60 on as_of (age-limit boundaries)."""
    k = max(1, int((world.kind == ROSTER).sum()) // 1500)
    stable = world.stable_roster()
    planted: dict[str, list[int]] = {}
    for q in world.quarters:
        for label, years, plus_one in (("16", 16, 0), ("15", 16, 1), ("60", 60, 0),
                                       ("59", 60, 1)):
            young = years == 16
            relation_ok = np.isin(_person_relation(world), [2, 4] if young else [0, 1])
            chosen = world.pick(stable & relation_ok, k, rng)
            for p in chosen.tolist():
                world.birth[p] = add_years(q, -years) + plus_one
            planted.setdefault(f"age_{label}", []).extend(chosen.tolist())
    world.plants.update(planted)


def _person_relation(world: World) -> np.ndarray:
    rel = np.full(world.n_persons, -1, dtype=np.int8)
    first = world.row_hh == world.primary_hh[world.row_pidx]
    rel[world.row_pidx[first]] = world.row_relation[first]
    return rel


def _names_and_ids(world: World, rng: np.random.Generator) -> None:
    n_all = world.n_persons
    names, slen = identity.make_names(world.female, world.minority, rng)
    # children and grandchildren mostly carry the head's surname
    rel = _person_relation(world)
    heads = np.full(len(world.hh_id), -1, dtype=np.int64)
    head_rows = world.row_relation == 0
    heads[world.row_hh[head_rows]] = world.row_pidx[head_rows]
    kids = np.flatnonzero(np.isin(rel, [2, 4]) & ~world.minority & (rng.random(n_all) < 0.85))
    for p in kids.tolist():
        h = heads[world.primary_hh[p]]
        if h >= 0 and slen[h] > 0:
            names[p] = names[h][:slen[h]] + names[p][slen[p]:]
            slen[p] = slen[h]
    twins = world.plants["twins"]
    for a, b in zip(twins[::2], twins[1::2], strict=True):
        names[b], slen[b], world.minority[b] = names[a], slen[a], world.minority[a]
    # ID prefixes: mostly the residence county, some elsewhere; Xinjiang for minority names
    prefix = COUNTY_CODES[world.county].astype(np.int64)
    u = rng.random(n_all)
    elsewhere = np.array(codes.BIRTH_ONLY_COUNTIES, dtype=np.int64)
    prefix = np.where(u < 0.12, elsewhere[rng.integers(0, len(elsewhere), n_all)], prefix)
    other = COUNTY_CODES.astype(np.int64)[rng.integers(0, len(COUNTY_CODES), n_all)]
    prefix = np.where((u >= 0.12) & (u < 0.15), other, prefix)
    xj = np.array(codes.MINORITY_BIRTH_COUNTIES, dtype=np.int64)
    prefix = np.where(world.minority, xj[rng.integers(0, len(xj), n_all)], prefix)
    for a, b in zip(twins[::2], twins[1::2], strict=True):
        prefix[b] = prefix[a]
    # decoys copy a stable roster person's name, birth date and county
    # decoys shadow adult members of recipient households: their bait records would fire
    adult = age_at(world.birth, world.first) >= 20
    stable = world.stable_roster() & ~world.reserved & ~world.minority & adult
    preferred = np.flatnonzero(stable & (world.group() == 0))
    decoys = np.flatnonzero(world.kind >= NAMESAKE)
    pool = preferred if len(preferred) >= len(decoys) else np.flatnonzero(stable)
    targets = rng.choice(pool, size=len(decoys), replace=False)
    world.reserved[targets] = True
    world.decoy_of[decoys] = targets
    for d, t in zip(decoys.tolist(), targets.tolist(), strict=True):
        same_name = world.kind[d] == NAMESAKE or rng.random() < 0.5
        if same_name:
            names[d], slen[d] = names[t], slen[t]
        world.birth[d], world.female[d] = world.birth[t], world.female[t]
        world.county[d], world.urban[d] = world.county[t], world.urban[t]
        world.minority[d] = world.minority[t] if same_name else False
        prefix[d] = prefix[t]
    world.region[decoys] = _region_codes(world.county[decoys], world.urban[decoys], rng)
    world.name, world.surname_len = names, slen
    seq = rng.integers(0, 500, n_all) * 2 + ~world.female
    bodies = identity.id_bodies(prefix, world.birth, seq)
    near = world.kind == NEAR_ID
    for _ in range(50):  # unique bodies; near-ID decoys are derived below
        _, first = np.unique(bodies, return_index=True)
        clash = np.ones(n_all, dtype=bool)
        clash[first] = False
        clash &= ~near
        if not clash.any():
            break
        seq = rng.integers(0, 500, n_all) * 2 + ~world.female
        bodies = np.where(clash, identity.id_bodies(prefix, world.birth, seq), bodies)
    taken = set(bodies[~near].tolist())
    for d in np.flatnonzero(near).tolist():
        body = str(bodies[world.decoy_of[d]])
        while True:
            pos = int(rng.choice([14, 15, 3, 4, 5], p=[.35, .35, .1, .1, .1]))
            digit = str((int(body[pos]) + int(rng.integers(1, 10))) % 10)
            candidate = int(body[:pos] + digit + body[pos + 1:])
            if candidate not in taken:
                break
        taken.add(candidate)
        bodies[d] = candidate
    world.id18 = identity.with_check(bodies)


def _mark_lookalikes(world: World) -> None:
    """Accidental namesakes: a general person with a roster person's name, birth date and
    county is a namesake decoy; two such roster persons are twins."""
    rows = pd.DataFrame({"name": world.name[world.row_pidx], "birth": world.birth[world.row_pidx],
                         "county": world.hh_county[world.row_hh], "pidx": world.row_pidx})
    per_key = rows.groupby(["name", "birth", "county"])["pidx"]
    many = per_key.transform("nunique") > 1
    world.twin[rows.loc[many, "pidx"].to_numpy()] = True
    first = per_key.first()
    general = np.flatnonzero(world.kind == GENERAL)
    keys = pd.MultiIndex.from_arrays([world.name[general], world.birth[general],
                                      world.county[general]])
    hit = keys.isin(first.index)
    if hit.any():
        match = first.reindex(keys[hit]).to_numpy()
        world.kind[general[hit]] = NAMESAKE
        world.decoy_of[general[hit]] = match


def _deaths(world: World, rng: np.random.Generator) -> None:
    """Death dates (NEVER for the living) and the roster exits that follow them."""
    t0 = world.first
    lo, hi = t0 - 240, world.horizon
    age = age_at(world.birth, t0)
    hazard = np.minimum(0.3, 0.0008 * np.exp(0.09 * (age - 40)))
    hazard = np.where(world.kind == ROSTER, 3.5 * hazard, hazard)
    p = 1 - np.exp(-hazard * (hi - lo) / 365)
    dies = (rng.random(world.n_persons) < p) & ~(world.reserved & (world.kind == ROSTER))
    dies &= world.kind != NAMESAKE  # decoy deaths are planted with their trap records
    dies &= world.kind != NEAR_ID
    world.death[dies] = _uniform_days(rng, lo, hi, int(dies.sum()))
    k = max(1, int((world.kind == ROSTER).sum()) // 1500)
    stable = world.stable_roster()
    plants = []
    for q in world.quarters:
        for offset in (0, 1):  # dies on as_of (counts) or the day after (does not, yet)
            chosen = world.pick(stable, k, rng)
            world.death[chosen] = q + offset
            plants.extend(chosen.tolist())
    world.plants["deaths_on_boundary"] = plants
    decoys = np.flatnonzero(world.kind >= NAMESAKE)
    dead_decoys = decoys[rng.random(len(decoys)) < 0.3]
    world.death[dead_decoys] = _uniform_days(rng, t0 - 200, t0 - 10, len(dead_decoys))
    # civil affairs exits a dead roster member after a lag, sometimes not within the horizon
    rows_dead = world.death[world.row_pidx] < NEVER
    n_dead = int(rows_dead.sum())
    u = rng.random(n_dead)
    lag = np.where(u < .45, rng.integers(20, 90, n_dead),
                   np.where(u < .8, rng.integers(90, 240, n_dead), NEVER))
    boundary = np.isin(world.row_pidx[rows_dead], plants)
    lag = np.where(boundary, np.maximum(lag, 120), lag)
    exit_ = np.minimum(NEVER, world.death[world.row_pidx[rows_dead]].astype(np.int64) + lag)
    world.row_exit[rows_dead] = np.minimum(world.row_exit[rows_dead], exit_).astype(np.int32)
