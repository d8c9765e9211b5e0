"""Comparisons built from levels (Splink style): each pair gets the first level that applies.

- ``IdComparison``: null -> exact -> legacy15 -> different_valid (a valid ID that is not the
  candidate's: another person) -> one_substitution -> transposition -> one_indel -> prefix15
  (Excel kept the first 15 digits) -> two_edits -> damaged (unusable, not contradicting) ->
  damaged_different.
- ``NameComparison``: null -> exact (name_key) -> nodot -> pinyin -> fuzzy -> else.
- ``BirthDateComparison``: null -> in_id -> exact -> one_digit -> month_day_swapped -> else.
- ``SexComparison``: null -> in_id -> agree -> different.
- ``RegionComparison``: null -> county -> legacy_recode -> prefecture -> else.

The ID holds the birth date and sex: when the ID agrees with the candidate's in 15 or more digits
(``ID_INFORMATIVE``) and the record's own birth date / sex also agree, the agreement is counted once
(inside the ID level) and the field gets the neutral ``in_id`` level. A disagreement still counts.
The region is the record's residence county, which the ID (birth county) does not hold. Fields are
the record's own columns: nothing is derived from a damaged ID for scoring (only for blocking).
An ID that passes its check but ends in ``000`` (``valid000``, re-examined as a possible Excel
truncation) is ``prefix15`` when its first 15 digits are the candidate's, else ``different_valid``.
Scores on Chinese text use rapidfuzz (DuckDB's string distances count UTF-8 bytes).
"""

from __future__ import annotations

import pyarrow as pa
from rapidfuzz import fuzz, process

from .names import DOT, _char_pinyin, pinyin_from_key

# Levels that mean (nearly) all digits agree: the region and birth date digits are inside the
# agreement (u of these levels comes from random pairs, which share neither), so an agreeing
# birth date / sex of the record is not counted a second time.
ID_INFORMATIVE = ("exact", "legacy15", "one_substitution", "transposition", "one_indel",
                  "prefix15", "two_edits")
ID_ONE_EDIT = ("one_substitution", "transposition", "one_indel")


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


def _same_pinyin(l_nodot: str, r_nodot: str) -> bool:
    """Same number of characters and the same toneless reading (surname table included).

    The cheap test (last character's reading, a given-name character) runs first: random
    pairs almost never pass it, so pinyin of whole names is computed for few of them."""
    if len(l_nodot) != len(r_nodot):
        return False
    if len(l_nodot) > 1 and _char_pinyin(l_nodot[-1]) != _char_pinyin(r_nodot[-1]):
        return False
    return pinyin_from_key(l_nodot) == pinyin_from_key(r_nodot)


def _fuzzy_level(l_nodot: str, r_nodot: str, similarity: float,
                 fuzzy_min: float) -> tuple[str, float]:
    similarity = round(similarity, 4)
    if _same_pinyin(l_nodot, r_nodot):
        return "pinyin", similarity
    if similarity >= fuzzy_min:
        return "fuzzy", similarity
    return "else", similarity


NAME_PAIR_SCHEMA = pa.schema([("l_nodot", pa.string()), ("r_nodot", pa.string()),
                              ("level", pa.string()), ("similarity", pa.float64())])


def compare_nodot_pairs(pairs: pa.Table, *, fuzzy_min: float = 0.85) -> pa.Table:
    """Batch form for distinct (l_nodot, r_nodot) pairs that already differ (no nulls).

    Returns the pairs with ``level`` (pinyin / fuzzy / else) and ``similarity``.
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


def _in(levels: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{lv}'" for lv in levels) + ")"


# --- level SQL over a pair: record `r` (linker's _sn_rec), roster person `p` (_sn_persons) ---

ID_LEVEL_SQL = """
case r.id_kind
    when 'missing' then 'null'
    when 'usable' then
        case when r.normalized = p.person_id then
                  case when r.quality = 'legacy15' then 'legacy15' else 'exact' end
             else 'different_valid' end
    when 'edit' then
        case when r.digits = p.person_id then 'exact'
             when (case when length(r.digits) = 18 then hamming(r.digits, p.person_id) end) = 1
                 then 'one_substitution'
             when damerau_levenshtein(r.digits, p.person_id) = 1 then
                 case when length(r.digits) = 18 then 'transposition' else 'one_indel' end
             when r.tail000 and left(r.digits, 15) = left(p.person_id, 15) then 'prefix15'
             when damerau_levenshtein(r.digits, p.person_id) = 2 then 'two_edits'
             else 'damaged_different' end
    when 'valid000' then
        case when left(r.digits, 15) = left(p.person_id, 15) then 'prefix15'
             else 'different_valid' end
    when 'edit15' then
        case when hamming(r.digits, p.id15) = 1 then 'one_substitution'
             when damerau_levenshtein(r.digits, p.id15) = 1 then 'transposition'
             when damerau_levenshtein(r.digits, p.id15) = 2 then 'two_edits'
             else 'damaged_different' end
    when 'scientific' then
        case when r.prefix is null or starts_with(p.person_id, r.prefix)
                  or starts_with(p.id15, r.prefix) then 'damaged'
             else 'damaged_different' end
    else 'damaged' end"""

ID_EDITS_SQL = """
case when r.id_kind in ('edit', 'valid000') then damerau_levenshtein(r.digits, p.person_id)
     when r.id_kind = 'edit15' then damerau_levenshtein(r.digits, p.id15) end"""

NAME_LEVEL_SQL = """
case when rn.name_key_nodot is null or p.name_key_nodot is null then 'null'
     when rn.name_key = p.name_key then 'exact'
     when rn.name_key_nodot = p.name_key_nodot then 'nodot'
     else null end"""  # the rest (pinyin / fuzzy / else) comes from compare_nodot_pairs


def birth_date_level_sql(id_level: str = "id_level", r: str = "r", p: str = "p") -> str:
    """BirthDateComparison on the record's own birth date (neutral when the ID already agrees).

    `r` / `p`: aliases holding rec_birth, id_birth / birth_date_eff."""
    mine, theirs = f"{r}.rec_birth", f"{p}.birth_date_eff"
    return f"""
case when {mine} is null or {theirs} is null then 'null'
     when {mine} = {theirs} then
         case when {id_level} in {_in(ID_INFORMATIVE)} and {r}.id_birth = {theirs}
              then 'in_id' else 'exact' end
     when hamming(strftime({mine}, '%Y%m%d'), strftime({theirs}, '%Y%m%d')) = 1
         then 'one_digit'
     when year({mine}) = year({theirs}) and month({mine}) = day({theirs})
          and day({mine}) = month({theirs}) then 'month_day_swapped'
     else 'else' end"""


def sex_level_sql(id_level: str = "id_level", r: str = "r", p: str = "p") -> str:
    """SexComparison on the record's own sex (neutral when the ID's sex digit is shared)."""
    informative = ("exact", "legacy15", *ID_ONE_EDIT, "two_edits")
    return f"""
case when {r}.rec_sex is null or {p}.sex_eff is null then 'null'
     when {r}.rec_sex = {p}.sex_eff then
         case when {id_level} in {_in(informative)} then 'in_id' else 'agree' end
     else 'different' end"""


REGION_LEVEL_SQL = """
case when r.rec_county is null or p.counties is null then 'null'
     when list_contains(p.counties, r.rec_county) then 'county'
     when list_contains(p.counties_recoded, r.rec_county_recoded) then 'legacy_recode'
     when list_contains(p.prefectures, left(r.rec_county, 4)) then 'prefecture'
     else 'else' end"""


def weight_case(column: str, weights: dict[str, float], default: float = 0.0) -> str:
    """SQL CASE giving the match weight of a level column (levels are internal constants)."""
    whens = " ".join(
        f"when '{level.replace(chr(39), '')}' then {float(w)!r}" for level, w in weights.items())
    return f"(case {column} {whens} else {float(default)!r} end)"
