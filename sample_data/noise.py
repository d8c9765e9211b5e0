"""Noise on department records (how IDs and names really arrive) and a few bad rows.

Each record carries at most one noise kind, chosen once on the timeline, so a record looks the
same in every quarter. Decoys never get noise that destroys their ID (they must stay unlinkable
by ID), and planted boundary records stay clean.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from safetynet.sample_data import identity
from safetynet.sample_data.dates import day
from safetynet.sample_data.population import NAMESAKE, World

NOISE_KINDS = ("clean", "legacy15", "lowercase_x", "fullwidth", "spaces_dashes", "apostrophe",
               "scientific", "typo", "transposition", "missing_id", "traditional", "homophone",
               "name_spaces", "middle_dot")
CODE = {k: i for i, k in enumerate(NOISE_KINDS)}
NAME_KINDS = NOISE_KINDS[10:]
# Probability for an eligible, still clean record (lowercase_x: among IDs ending in X;
# middle_dot: among minority names).
RATES = {"legacy15": .02, "lowercase_x": .35, "fullwidth": .012, "spaces_dashes": .018,
         "apostrophe": .018, "scientific": .015, "typo": .015, "transposition": .01,
         "missing_id": .015, "traditional": .025, "homophone": .02, "name_spaces": .015,
         "middle_dot": .5}
DESTRUCTIVE = ("scientific", "typo", "transposition", "missing_id")
TWIN_RATE = .08  # missing_id / scientific on roster namesake twins: unidentifiable records
ALL_KINDS = NOISE_KINDS[1:]
NO_SCIENTIFIC = tuple(k for k in ALL_KINDS if k != "scientific")
NO_DOB_REGION = tuple(k for k in ALL_KINDS if k not in ("scientific", "missing_id"))
_TYPO_POS = (0, 1, 2, 3, 4, 5, 14, 15, 16)  # region and sequence digits: the birth date stays
_PAIRS = ((0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (14, 15), (15, 16))
_FULLWIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def assign(world: World, pidx: np.ndarray, plant: np.ndarray, allowed: tuple[str, ...],
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Noise code per record (int8, 0 = clean) and a random parameter per record."""
    n = len(pidx)
    ends_x = world.ends_x[pidx]
    eligible = {
        "legacy15": world.birth[pidx] < day("2000-01-01"),
        "lowercase_x": ends_x,
        "scientific": ~ends_x,  # Excel keeps an ID ending in X as text
        "traditional": world.has_trad[pidx],
        "homophone": world.has_homo[pidx],
        "name_spaces": ~world.minority[pidx],
        "middle_dot": world.minority[pidx],
    }
    decoy = world.kind[pidx] >= NAMESAKE
    twin = world.twin[pidx]
    noise = np.zeros(n, dtype=np.int8)
    for kind in ALL_KINDS:
        draw = rng.random(n)
        if kind not in allowed:
            continue
        ok = (noise == 0) & ~plant & eligible.get(kind, True)
        if kind in DESTRUCTIVE:
            ok &= ~decoy
        rate = np.full(n, RATES[kind])
        if kind in ("missing_id", "scientific"):
            rate = np.where(twin, TWIN_RATE, rate)
        noise[ok & (draw < rate)] = CODE[kind]
    return noise, rng.integers(0, 1 << 30, n, dtype=np.int32)


def _transpose(s: str, param: int) -> str:
    for i in range(len(_PAIRS)):
        a, b = _PAIRS[(param + i) % len(_PAIRS)]
        if s[a] != s[b]:
            return s[:a] + s[b] + s[a] + s[b + 1:]
    for a in range(6, 13):  # all region and sequence digits equal: use the birth date
        if s[a] != s[a + 1]:
            return s[:a] + s[a + 1] + s[a] + s[a + 2:]
    return s


def _typo(s: str, param: int) -> str:
    pos = _TYPO_POS[param % len(_TYPO_POS)]
    digit = str((int(s[pos]) + 1 + (param // 9) % 9) % 10)
    return s[:pos] + digit + s[pos + 1:]


def _spaced(s: str, param: int) -> str:
    style = param % 3
    if style == 0:
        return f"{s[:6]} {s[6:14]} {s[14:]}"
    if style == 1:
        return f"{s[:6]}-{s[6:14]}-{s[14:]}"
    return f"{s[:6]} {s[6:10]} {s[10:14]} {s[14:]}"


_ID_RENDER = {
    "legacy15": lambda s, p: identity.legacy15(s),
    "lowercase_x": lambda s, p: s[:-1] + "x",
    "fullwidth": lambda s, p: s.translate(_FULLWIDTH),
    "spaces_dashes": _spaced,
    "apostrophe": lambda s, p: "'" + s,
    "scientific": lambda s, p: format(float(s), ".5E"),
    "typo": _typo,
    "transposition": _transpose,
    "missing_id": lambda s, p: None,
}


def id_values(world: World, pidx: np.ndarray, noise: np.ndarray, param: np.ndarray,
              excel_numbers: bool = False) -> np.ndarray:
    """ID cells as the department writes them (object array; None = empty).

    excel_numbers: `scientific` becomes a number cell holding 15 significant digits, as Excel
    stores a typed 18-digit number (the last three digits are lost)."""
    out = world.id18[pidx].copy()
    noisy = np.flatnonzero((noise > 0) & (noise <= CODE["missing_id"]))
    for i, s, code, p in zip(noisy.tolist(), out[noisy].tolist(), noise[noisy].tolist(),
                             param[noisy].tolist(), strict=True):
        kind = NOISE_KINDS[code]
        if kind == "scientific" and excel_numbers:
            out[i] = float(s[:15] + "000")
        else:
            out[i] = _ID_RENDER[kind](s, p)
    return out


def name_values(world: World, pidx: np.ndarray, noise: np.ndarray, param: np.ndarray,
                gbk: bool = False) -> np.ndarray:
    """Name cells as the department writes them."""
    out = world.name[pidx].copy()
    noisy = np.flatnonzero(noise >= CODE["traditional"])
    if len(noisy) == 0:
        return out
    trad = identity.traditional(out[noisy])
    for j, i in enumerate(noisy.tolist()):
        kind, p, name = NOISE_KINDS[noise[i]], int(param[i]), out[i]
        slen = int(world.surname_len[pidx[i]])
        if kind == "traditional":
            out[i] = trad[j]
        elif kind == "homophone":
            out[i] = identity.homophone_variant(name, slen, p)
        elif kind == "name_spaces":
            out[i] = identity.spaced_variant(name, slen, p)
        else:
            out[i] = identity.dot_variant(name, p, gbk=gbk)
    return out


def assign_bad(df: pd.DataFrame, world: World, kinds: tuple[tuple[str, str], ...],
               rng: np.random.Generator, rate: float = 0.0012) -> np.ndarray:
    """Bad-row code per record: 0 none, i = kinds[i - 1] (column, reason code)."""
    n = len(df)
    bad = np.zeros(n, dtype=np.int8)
    pool = np.flatnonzero((df["noise"].to_numpy() == 0) & ~df["plant"].to_numpy() &
                          (world.kind[df["pidx"].to_numpy()] < NAMESAKE))
    pool = rng.permutation(pool)
    k = max(1, round(rate * n))
    for i in range(len(kinds)):
        bad[pool[i * k:(i + 1) * k]] = i + 1
    return bad


def arrow_cells(world: World, pidx: np.ndarray, noise: np.ndarray, param: np.ndarray
                ) -> tuple[pa.Array, pa.Array]:
    """ID and name cells as Arrow strings for large tables: the persons' clean values taken
    by index, with only the noisy records rendered in Python."""
    take = pa.array(pidx)
    ids = world.arrow("id18").take(take)
    names = world.arrow("name").take(take)
    hit = (noise > 0) & (noise <= CODE["missing_id"])
    if hit.any():
        rows = np.flatnonzero(hit)
        values = id_values(world, pidx[rows], noise[rows], param[rows])
        ids = pc.replace_with_mask(ids, pa.array(hit), pa.array(values.tolist(), pa.string()))
    hit = noise >= CODE["traditional"]
    if hit.any():
        rows = np.flatnonzero(hit)
        values = name_values(world, pidx[rows], noise[rows], param[rows])
        names = pc.replace_with_mask(names, pa.array(hit), pa.array(values.tolist(), pa.string()))
    return ids, names
