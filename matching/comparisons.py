"""Comparisons built from levels (Splink style): each returns the first level that applies.

NameComparison: null -> exact (name_key) -> nodot (name_key_nodot) -> pinyin -> fuzzy -> different.
Scores on Chinese text use rapidfuzz (DuckDB's string distances count UTF-8 bytes).
"""

from __future__ import annotations

import pyarrow as pa
from rapidfuzz import fuzz, process

from .names import DOT, pinyin_from_key


def compare_name_keys(
    l_key: str | None, r_key: str | None, *, fuzzy_min: float = 0.85
) -> tuple[str, float | None]:
    """Level and similarity (0..1, rapidfuzz ratio of the dot-less keys) of two name keys.

    Examples:
        >>> compare_name_keys("张三", "章三")
        ('pinyin', 0.5)
        >>> compare_name_keys("阿卜杜·热合曼", "阿卜杜热合曼")
        ('nodot', 1.0)
    """
    if not l_key or not r_key:
        return "null", None
    if l_key == r_key:
        return "exact", 1.0
    l_nodot, r_nodot = l_key.replace(DOT, ""), r_key.replace(DOT, "")
    if not l_nodot or not r_nodot:
        return "null", None
    if l_nodot == r_nodot:
        return "nodot", 1.0
    return _fuzzy_level(l_nodot, r_nodot, fuzz.ratio(l_nodot, r_nodot) / 100.0, fuzzy_min)


def _fuzzy_level(l_nodot: str, r_nodot: str, similarity: float,
                 fuzzy_min: float) -> tuple[str, float]:
    similarity = round(similarity, 4)
    if pinyin_from_key(l_nodot) == pinyin_from_key(r_nodot):
        return "pinyin", similarity
    if similarity >= fuzzy_min:
        return "fuzzy", similarity
    return "different", similarity


NAME_PAIR_SCHEMA = pa.schema([("l_nodot", pa.string()), ("r_nodot", pa.string()),
                              ("level", pa.string()), ("similarity", pa.float64())])


def compare_nodot_pairs(pairs: pa.Table, *, fuzzy_min: float = 0.85) -> pa.Table:
    """Batch form for distinct (l_nodot, r_nodot) pairs that already differ (no nulls).

    Returns the pairs with ``level`` (pinyin / fuzzy / different) and ``similarity``.
    """
    left = pairs.column("l_nodot").to_pylist()
    right = pairs.column("r_nodot").to_pylist()
    sims = process.cpdist(left, right, scorer=fuzz.ratio, workers=1) if left else []
    levels, scores = [], []
    for l_nodot, r_nodot, sim in zip(left, right, sims, strict=True):
        level, score = _fuzzy_level(l_nodot, r_nodot, float(sim) / 100.0, fuzzy_min)
        levels.append(level)
        scores.append(score)
    return pa.table([pa.array(left, pa.string()), pa.array(right, pa.string()),
                     pa.array(levels, pa.string()), pa.array(scores, pa.float64())],
                    schema=NAME_PAIR_SCHEMA)


def weight_case(column: str, weights: dict[str, float], default: float = 0.0) -> str:
    """SQL CASE giving the match weight of a level column (levels are internal constants)."""
    whens = " ".join(
        f"when '{level.replace(chr(39), '')}' then {float(w)!r}" for level, w in weights.items())
    return f"(case {column} {whens} else {float(default)!r} end)"
