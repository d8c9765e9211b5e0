"""Comparison levels (Splink-style tables of record_l / person_r / expected) and the EM model."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
from stdnum.cn.ric import calc_check_digit

from safetynet.matching.model import SESSIONS, FellegiSunterModel, estimate_u, fit
from safetynet.matching.prepare import drop_temp, prepare
from safetynet.matching.scoring import compare
from safetynet.matching.settings import LEVELS, NEUTRAL, MatchSettings
from safetynet.warehouse import connect

AS_OF = date(2025, 3, 31)


def make_id(body17: str) -> str:
    return body17 + calc_check_digit(body17 + "0")


PERSON = make_id("43010219800101123")           # 430102198001011233, male
LEGACY = PERSON[:6] + PERSON[8:17]
ENDS_000 = make_id("43010219870101600")          # the check passes: a lucky truncation
assert ENDS_000.endswith("0")


def _sub(s: str, i: int, d: str) -> str:
    return s[:i] + d + s[i + 1:]


# IdComparison: the record's ID (as the department wrote it) against the roster person's.
ID_CASES = [
    {"kind": "missing", "id_l": None, "id_r": PERSON, "expected": "null"},
    {"kind": "exact", "id_l": PERSON, "id_r": PERSON, "expected": "exact"},
    {"kind": "legacy15", "id_l": LEGACY, "id_r": PERSON, "expected": "legacy15"},
    {"kind": "near_id_valid", "id_l": make_id("43010219800101124"), "id_r": PERSON,
     "expected": "different_valid"},
    {"kind": "namesake_valid", "id_l": make_id("43010219800101991"), "id_r": PERSON,
     "expected": "different_valid"},
    {"kind": "typo_sequence", "id_l": _sub(PERSON, 15, "9"), "id_r": PERSON,
     "expected": "one_substitution"},
    {"kind": "typo_birth_date", "id_l": _sub(PERSON, 12, "5"), "id_r": PERSON,
     "expected": "one_substitution"},
    {"kind": "typo_region", "id_l": _sub(PERSON, 3, "9"), "id_r": PERSON,
     "expected": "one_substitution"},
    {"kind": "typo_check", "id_l": _sub(PERSON, 17, "7"), "id_r": PERSON,
     "expected": "one_substitution"},
    {"kind": "transposition", "id_l": PERSON[:14] + PERSON[15] + PERSON[14] + PERSON[16:],
     "id_r": PERSON, "expected": "transposition"},
    {"kind": "dropped_digit", "id_l": PERSON[:10] + PERSON[11:], "id_r": PERSON,
     "expected": "one_indel"},
    {"kind": "extra_digit", "id_l": PERSON[:10] + "7" + PERSON[10:], "id_r": PERSON,
     "expected": "one_indel"},
    {"kind": "excel_truncated", "id_l": PERSON[:15] + "000", "id_r": PERSON,
     "expected": "prefix15"},
    {"kind": "excel_float_text", "id_l": PERSON[:15] + "000.0", "id_r": PERSON,
     "expected": "prefix15"},
    {"kind": "lucky_truncation", "id_l": ENDS_000[:15] + "000", "id_r": ENDS_000[:15] + "123",
     "expected": "prefix15"},
    {"kind": "valid_000_other_prefix", "id_l": ENDS_000[:15] + "000",
     "id_r": make_id("43010319870101123"), "expected": "different_valid"},
    {"kind": "two_edits", "id_l": _sub(_sub(PERSON, 15, "9"), 14, "8"), "id_r": PERSON,
     "expected": "two_edits"},
    {"kind": "far_damaged", "id_l": _sub(_sub(_sub(PERSON, 15, "9"), 14, "8"), 16, "0"),
     "id_r": PERSON, "expected": "damaged_different"},
    {"kind": "scientific_agrees", "id_l": "4.30102E+17", "id_r": PERSON, "expected": "damaged"},
    {"kind": "scientific_other_region", "id_l": "4.40106E+17", "id_r": PERSON,
     "expected": "damaged_different"},
    {"kind": "garbage", "id_l": "12345", "id_r": PERSON, "expected": "damaged"},
]

ROSTER_DDL = """create table staged.roster (household_id varchar, id_number varchar, name varchar,
    sex varchar, birth_date date, region_code varchar, as_of date, _source varchar,
    _record_key varchar)"""
RECORDS_DDL = """create table staged.vehicles (id_number varchar, name varchar, sex varchar,
    birth_date date, region_code varchar, as_of date, _source varchar, _record_key varchar)"""


def _levels(cases: list[dict], settings: MatchSettings | None = None) -> dict[str, dict]:
    """Stage each case's roster person and record, compare exactly those pairs, return levels."""
    settings = settings or MatchSettings()
    con = connect(":memory:")
    con.execute(ROSTER_DDL)
    con.execute(RECORDS_DDL)
    for i, case in enumerate(cases):
        con.execute("insert into staged.roster values (?, ?, ?, ?, ?, ?, ?, 'r', ?)",
                    [f"H{i}", case.get("id_r", make_id(f"4301021970010{i:04d}")),
                     case.get("name_r", "张三"), case.get("sex_r"), case.get("dob_r"),
                     case.get("region_r", "430102001001"), AS_OF, f"r{i}"])
        con.execute("insert into staged.vehicles values (?, ?, ?, ?, ?, ?, 's', ?)",
                    [case.get("id_l"), case.get("name_l", "张三"), case.get("sex_l"),
                     case.get("dob_l"), case.get("region_l"), AS_OF, case["kind"]])
    prepare(con, f"date '{AS_OF}'", settings)
    con.execute("create temp table case_map (kind varchar, rkey varchar)")
    con.executemany("insert into case_map values (?, ?)",
                    [[c["kind"], f"r{i}"] for i, c in enumerate(cases)])
    # records with the same identity fields share an identity (rid): a case is its pair
    con.execute("""create temp table case_pairs as
        select distinct m.kind, rr.rid, p.person_id
        from case_map m join _sn_records rr on rr.record_key = m.kind
        join _sn_roster p on p._record_key = m.rkey""")
    con.execute("create temp table pairs as select distinct rid, person_id, 'test' as rules "
                "from case_pairs")
    compare(con, "pairs", "levels", settings)
    rows = con.execute("""select c.kind, l.id_level, l.name_level, l.dob_level,
                                 l.sex_level, l.region_level
                          from levels l join case_pairs c using (rid, person_id)""").fetchall()
    drop_temp(con)
    con.close()
    return {r[0]: dict(zip(("id", "name", "birth_date", "sex", "region"), r[1:], strict=True))
            for r in rows}


def test_id_comparison_levels() -> None:
    got = _levels(ID_CASES)
    wrong = {c["kind"]: (got[c["kind"]]["id"], c["expected"]) for c in ID_CASES
             if got.get(c["kind"], {}).get("id") != c["expected"]}
    assert wrong == {}


def test_a_valid_000_is_another_person_when_not_reexamined() -> None:
    case = next(c for c in ID_CASES if c["kind"] == "lucky_truncation")
    got = _levels([case], MatchSettings(reexamine_valid_000=False))
    assert got["lucky_truncation"]["id"] == "different_valid"


# BirthDate / Sex / Region: the record's own columns; agreement inside an agreeing ID is neutral.
def person(n: int, dob: str = "19800101", male: bool = True) -> str:
    """A distinct roster ID per case (odd order code: male)."""
    return make_id(f"430102{dob}{2 * n + (1 if male else 0):03d}")


FIELD_CASES = [
    {"kind": "no_id_all_agree", "id_l": None, "dob_l": "1980-01-01", "dob_r": "1980-01-01",
     "sex_l": "male", "sex_r": "male", "region_l": "430102001002", "id_r": person(1),
     "expected": {"birth_date": "exact", "sex": "agree", "region": "county"}},
    {"kind": "typo_id_agree_in_id", "id_l": _sub(person(2), 15, "9"), "dob_l": "1980-01-01",
     "sex_l": "male", "region_l": "430102", "id_r": person(2),
     "expected": {"birth_date": "in_id", "sex": "in_id", "region": "county"}},
    {"kind": "typo_in_date_digits", "id_l": _sub(person(3), 12, "5"), "dob_l": "1980-01-01",
     "id_r": person(3), "expected": {"birth_date": "exact", "sex": "null", "region": "null"}},
    {"kind": "dob_one_digit", "id_l": None, "dob_l": "1980-01-07", "id_r": person(4),
     "expected": {"birth_date": "one_digit"}},
    {"kind": "dob_month_day_swapped", "id_l": None, "dob_l": "1980-03-04",
     "id_r": person(5, "19800403"), "expected": {"birth_date": "month_day_swapped"}},
    {"kind": "dob_else", "id_l": None, "dob_l": "1975-06-01", "id_r": person(6),
     "expected": {"birth_date": "else"}},
    {"kind": "sex_different", "id_l": None, "sex_l": "female", "id_r": person(7),
     "expected": {"sex": "different", "birth_date": "null"}},
    {"kind": "sex_from_roster_id", "id_l": None, "sex_l": "female",
     "id_r": person(8, male=False), "expected": {"sex": "agree"}},
    {"kind": "region_prefecture", "id_l": None, "region_l": "430104", "id_r": person(9),
     "expected": {"region": "prefecture"}},
    {"kind": "region_else", "id_l": None, "region_l": "440106", "id_r": person(10),
     "expected": {"region": "else"}},
    {"kind": "region_legacy_recode", "id_l": None, "region_l": "430124001001",
     "region_r": "430182001001", "id_r": person(11), "expected": {"region": "legacy_recode"}},
    {"kind": "region_bad_code", "id_l": None, "region_l": "湖南", "id_r": person(12),
     "expected": {"region": "null"}},
    {"kind": "name_traditional", "id_l": None, "name_l": "劉德華", "name_r": "刘德华",
     "id_r": person(13), "expected": {"name": "exact"}},
    {"kind": "name_homophone", "id_l": None, "name_l": "张炜", "name_r": "张伟",
     "id_r": person(14), "expected": {"name": "pinyin"}},
    {"kind": "name_no_dot", "id_l": None, "name_l": "阿卜杜热合曼", "name_r": "阿卜杜·热合曼",
     "id_r": person(15), "expected": {"name": "nodot"}},
    {"kind": "name_else", "id_l": None, "name_l": "李四", "name_r": "张三", "id_r": person(16),
     "expected": {"name": "else"}},
]


def test_field_comparison_levels() -> None:
    got = _levels(FIELD_CASES)
    wrong = {}
    for case in FIELD_CASES:
        for comparison, expected in case["expected"].items():
            if got[case["kind"]][comparison] != expected:
                wrong[f"{case['kind']}.{comparison}"] = (got[case["kind"]][comparison], expected)
    assert wrong == {}


# --- the model -------------------------------------------------------------------------------

def _simulate(rng: np.random.Generator, m: dict, u: dict, n_match: int, n_non: int,
              comps: tuple[str, ...]) -> list[tuple[tuple[str, ...], int]]:
    """Pattern counts drawn from known m / u (conditionally independent levels)."""
    counts: dict[tuple[str, ...], int] = {}
    for n, table in ((n_match, m), (n_non, u)):
        columns = []
        for c in comps:
            levels = list(table[c])
            p = np.array([table[c][lv] for lv in levels])
            columns.append(np.array(levels)[rng.choice(len(levels), n, p=p / p.sum())])
        for row in zip(*columns, strict=True):
            counts[row] = counts.get(row, 0) + 1
    return sorted(counts.items())


def test_em_recovers_m_and_keeps_fixed_levels() -> None:
    settings = MatchSettings(prior_strength=1.0)
    comps = ("name", "birth_date", "sex", "region")
    true_m = {"name": {"exact": .9, "nodot": .01, "pinyin": .05, "fuzzy": .01, "else": .03},
              "birth_date": {"exact": .96, "one_digit": .02, "month_day_swapped": .01,
                             "else": .01},
              "sex": {"agree": .98, "different": .02},
              "region": {"county": .8, "legacy_recode": .01, "prefecture": .1, "else": .09}}
    true_u = {"name": {"exact": .01, "nodot": .001, "pinyin": .02, "fuzzy": .05, "else": .919},
              "birth_date": {"exact": .01, "one_digit": .05, "month_day_swapped": .01,
                             "else": .93},
              "sex": {"agree": .5, "different": .5},
              "region": {"county": .2, "legacy_recode": .01, "prefecture": .3, "else": .49}}
    rng = np.random.default_rng(7)
    block = _simulate(rng, true_m, true_u, 20_000, 60_000, comps)
    u = {c: dict(true_u.get(c, {})) for c in LEVELS}
    u["id"] = {lv: 1.0 / (len(LEVELS["id"]) - 1) for lv in LEVELS["id"] if lv not in NEUTRAL}
    model = fit({"exact_id": block, "name_dob": []}, [(("exact", "exact", "exact", "agree",
                                                         "county"), 10)], u, 1e6, settings)
    for c in comps:
        for level, expected in true_m[c].items():
            assert model.m[c][level] == pytest.approx(expected, abs=0.01), (c, level)
    share = model.info["sessions"]["exact_id"]["match_share"]
    assert share == pytest.approx(0.25, abs=0.01)
    # the fixed level keeps its prior whatever the data
    assert model.m["id"]["different_valid"] == settings.priors["id"]["different_valid"]["m"]
    assert model.weights()["birth_date"]["in_id"] == 0.0
    assert {name for name, *_ in SESSIONS} == set(model.info["sessions"])


def test_u_from_random_pairs_keeps_unseen_levels_small_but_positive() -> None:
    settings = MatchSettings()
    counts = {"name": {"exact": 10, "else": 99_990, "null": 500},
              "id": {"different_valid": 100_000}}
    u = estimate_u(counts, settings)
    assert u["name"]["exact"] == pytest.approx(10 / 100_000, rel=0.05)
    assert 0 < u["name"]["pinyin"] < 1e-5  # never seen: the prior's share of 1000 pseudo-pairs
    assert sum(u["name"].values()) == pytest.approx(1.0)
    assert "null" not in u["name"]  # neutral levels are not estimated


def test_model_round_trips_and_weights_are_log2_m_over_u() -> None:
    settings = MatchSettings()
    u = estimate_u({}, settings)
    model = fit({}, [], u, 1e9, settings)
    again = FellegiSunterModel.from_dict(model.to_dict())
    assert again.weights() == model.weights()
    m, uu = model.m["name"]["exact"], model.u["name"]["exact"]
    assert model.weights()["name"]["exact"] == pytest.approx(math.log2(m / uu), abs=1e-4)
    assert model.prior_weight < 0
