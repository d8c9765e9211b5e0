"""The link step on a real DuckDB file: each method, each noise kind, the decoys, idempotence.

The hand-made persons and records below sit inside a generated background quarter (3,000 roster
persons, 24,000 department records): the Fellegi–Sunter model is fitted on the quarter's own data,
so the background gives EM something to learn from, as a real quarter does.
"""

from __future__ import annotations

import json
from datetime import date

import pytest
from stdnum.cn.ric import calc_check_digit

from safetynet.errors import ConfigError, SafetynetError
from safetynet.matching.ids import normalize_id
from safetynet.matching.linker import MatchSettings, link
from safetynet.warehouse import connect

AS_OF = date(2025, 3, 31)
COUNTY = "430102"
REGION = COUNTY + "001002"


def make_id(body17: str) -> str:
    return body17 + calc_check_digit(body17 + "0")


def pid(birth: str, seq: str, county: str = COUNTY) -> str:
    return make_id(f"{county}{birth}{seq}")


# Roster persons: key -> (id_number as stored in the roster, name, sex, birth_date)
P = {
    "zhang": (pid("19800101", "123"), "张三", "male", "1980-01-01"),
    "legacy": (pid("19620505", "041"), "王芳", "female", "1962-05-05"),
    "x_check": ("", "李四", "male", "1949-12-31"),  # id filled below: one ending in X
    "fullwidth": (pid("19700707", "013"), "赵六", "male", "1970-07-07"),
    "dashes": (pid("19710808", "025"), "钱七", "male", "1971-08-08"),
    "apostrophe": (pid("19720909", "037"), "孙八", "male", "1972-09-09"),
    "scientific": (pid("19731010", "049"), "周九", "male", "1973-10-10"),
    "truncated": (pid("19741111", "051"), "吴十", "male", "1974-11-11"),
    "typo": (pid("19751212", "063"), "郑一", "male", "1975-12-12"),
    "transpose": (pid("19760102", "075"), "冯二", "male", "1976-01-02"),
    "dropped": (pid("19770203", "087"), "陈三", "male", "1977-02-03"),
    "extra": (pid("19780304", "099"), "褚四", "male", "1978-03-04"),
    "date_typo": (pid("19790405", "101"), "卫五", "male", "1979-04-05"),
    "missing": (pid("19810506", "113"), "蒋六", "male", "1981-05-06"),
    "traditional": (pid("19820607", "125"), "刘德华", "male", "1982-06-07"),
    "homophone": (pid("19830708", "137"), "张伟", "male", "1983-07-08"),
    "spaces": (pid("19840809", "149"), "欧阳明月", "female", "1984-08-09"),
    "minority": (pid("19850910", "151"), "阿卜杜·热合曼", "male", "1985-09-10"),
    "surname": (pid("19861011", "163"), "单田芳", "male", "1986-10-11"),
    "twin_a": (pid("19901212", "171"), "赵敏", "female", "1990-12-12"),
    "twin_b": (pid("19901212", "183"), "赵敏", "female", "1990-12-12"),
    "sexcheck": (pid("19911111", "195"), "孔明", "male", "1991-11-11"),
    "unusable": ("4.30102E+17", "曹操", "male", "1955-01-01"),
    "lucky_truncation": (pid("19870101", "645"), "诸葛亮", "male", "1987-01-01"),
    "real_000": ("430102199203019000", "司马光", "male", "1992-03-01"),  # a real ID ending 000
}
P["x_check"] = (next(make_id(f"{COUNTY}19491231{s:03d}") for s in range(1000)
                     if make_id(f"{COUNTY}19491231{s:03d}").endswith("X")),) + P["x_check"][1:]
LEGACY15 = P["legacy"][0][:6] + P["legacy"][0][8:17]


def _swap(s: str, i: int) -> str:
    return s[:i] + s[i + 1] + s[i] + s[i + 2:]


def _sub(s: str, i: int) -> str:
    return s[:i] + str((int(s[i]) + 3) % 10) + s[i + 1:]


def _first_swappable(s: str, start: int) -> int:
    return next(i for i in range(start, 16) if s[i] != s[i + 1])


TYPO_ID = _sub(P["typo"][0], 15)
TRANSPOSED_ID = _swap(P["transpose"][0], _first_swappable(P["transpose"][0], 6))
DATE_TYPO_ID = _sub(P["date_typo"][0], 12)  # a typo inside the birth date digits
NAMESAKE_ID = pid("19800101", "991")        # another real person: same name, birth, county
NEAR_ID = pid("19800101", "124")            # valid, one order digit from zhang's ID
# Excel truncation whose check character passes by chance (1 in 11): 430102198701016000
LUCKY_TRUNCATED = P["lucky_truncation"][0][:15] + "000"
OTHER_REGION_000 = "430103198701010000"     # valid too, but the first 15 digits differ

# (record_key, expected method, expected roster key or None, column values); "review" rows name
# the contradiction that holds them for an officer (None: two equally good candidates)
VEHICLES = [
    ("v01", "id_exact", "zhang", {"id_number": P["zhang"][0], "name": "张三"}),
    ("v02", "id_legacy15", "legacy", {"id_number": LEGACY15, "name": "王芳"}),
    ("v03", "id_exact", "x_check", {"id_number": P["x_check"][0].lower(), "name": "李四"}),
    ("v04", "id_exact", "fullwidth",
     {"id_number": "".join(chr(0xFF10 + int(c)) for c in P["fullwidth"][0]), "name": "赵六"}),
    ("v05", "id_exact", "dashes",
     {"id_number": f"{P['dashes'][0][:6]}-{P['dashes'][0][6:14]} {P['dashes'][0][14:]}",
      "name": "钱七"}),
    ("v06", "id_exact", "apostrophe", {"id_number": "'" + P["apostrophe"][0], "name": "孙八"}),
    ("v07", "name_dob_region", "scientific",
     {"id_number": "4.30102E+17", "name": "周九", "birth_date": "1973-10-10",
      "region_code": REGION}),
    ("v08", "name_dob_region", "truncated",
     {"id_number": P["truncated"][0][:15] + "000", "name": "吴十"}),  # birth, county from digits
    ("v09", "id_repaired", "typo", {"id_number": TYPO_ID, "name": "郑一"}),
    ("v10", "id_repaired", "transpose", {"id_number": TRANSPOSED_ID, "name": "冯二"}),
    ("v11", "id_repaired", "dropped", {"id_number": P["dropped"][0][:17], "name": "陈三"}),
    ("v12", "id_repaired", "extra",
     {"id_number": P["extra"][0][:10] + "5" + P["extra"][0][10:], "name": "褚四"}),
    ("v13", "id_repaired", "date_typo", {"id_number": DATE_TYPO_ID, "name": "卫五"}),
    ("v14", "name_dob_region", "missing",
     {"name": "蒋六", "birth_date": "1981-05-06", "region_code": REGION}),
    ("v15", "name_dob_region", "traditional",
     {"name": "劉德華", "birth_date": "1982-06-07", "region_code": REGION}),
    ("v16", "name_dob_region", "homophone",
     {"name": "张炜", "birth_date": "1983-07-08", "region_code": REGION}),
    ("v17", "name_dob_region", "spaces",
     {"name": "欧阳 明月", "birth_date": "1984-08-09", "region_code": REGION}),
    ("v18", "name_dob_region", "minority",
     {"name": "阿卜杜热合曼", "birth_date": "1985-09-10", "region_code": REGION}),
    ("v19", "name_dob_region", "minority",
     {"name": "阿卜杜．热合曼", "birth_date": "1985-09-10", "region_code": REGION}),
    ("v20", "name_dob_region", "surname",
     {"name": "善田芳", "birth_date": "1986-10-11", "region_code": REGION}),
    # decoys, contradictions (held for review) and refusals
    ("v21", "none", None, {"id_number": NAMESAKE_ID, "name": "张三", "birth_date": "1980-01-01",
                           "region_code": REGION}),
    ("v22", "none", None, {"id_number": NEAR_ID, "name": "张三"}),
    ("v23", "review", None, {"name": "赵敏", "birth_date": "1990-12-12", "region_code": REGION}),
    ("v24", "review", "sex:different", {"name": "孔明", "sex": "female",
                                        "birth_date": "1991-11-11", "region_code": REGION}),
    ("v25", "none", None, {"id_number": TYPO_ID, "name": "王五"}),  # one edit, other name
    ("v26", "review", "birth_date:one_digit",
     {"name": "蒋六", "birth_date": "1981-05-07", "region_code": REGION}),
    ("v27", "review", "region:prefecture", {"name": "蒋六", "birth_date": "1981-05-06",
                                            "region_code": "430103001002"}),
    ("v28", "none", None, {"name": "蒋六"}),
    ("v29", "review", "birth_date:one_digit",
     {"id_number": TYPO_ID, "name": "郑一", "birth_date": "1975-12-13"}),
    ("v30", "review", "id:damaged_different",
     {"id_number": P["truncated"][0][:13] + "9" + "1000", "name": "吴十",
      "birth_date": "1974-11-11", "region_code": REGION}),
    ("v31", "name_dob_region", "lucky_truncation",
     {"id_number": LUCKY_TRUNCATED, "name": "诸葛亮"}),
    ("v32", "none", None, {"id_number": OTHER_REGION_000, "name": "诸葛亮",
                           "birth_date": "1987-01-01", "region_code": REGION}),
    # a typo in a real ID ending 000 looks like Excel truncation; repair still finds it
    ("v33", "id_repaired", "real_000", {"id_number": "430102199213019000", "name": "司马光"}),
]

ROSTER_COLUMNS = """
    household_id varchar, id_number varchar, name varchar, sex varchar, birth_date date,
    relation varchar, region_code varchar, urban_rural varchar, category varchar,
    status varchar, assistance_start date, gradual_exit_start date, household_size integer,
    declared_income double, as_of date, _source varchar, _record_key varchar, _row bigint,
    _file varchar"""
IDENTITY = "id_number varchar, name varchar, sex varchar, birth_date date, region_code varchar"
META = "as_of date, _source varchar, _record_key varchar, _row bigint, _file varchar"


def _create_tables(con, roster: bool = True) -> None:
    if roster:
        con.execute(f"create table staged.roster ({ROSTER_COLUMNS})")
    con.execute(f"""create table staged.vehicles ({IDENTITY}, plate_number varchar,
        plate_type varchar, vehicle_class varchar, status varchar, disabled_use boolean,
        registration_date date, {META})""")
    con.execute(f"""create table staged.deaths ({IDENTITY}, death_date date,
        record_type varchar, {META})""")
    con.execute(f"""create table staged.standards (county_code varchar, urban_rural varchar,
        monthly_standard double, {META})""")


def _load(con, as_of: date) -> None:
    for i, (key, (id_number, name, sex, birth)) in enumerate(P.items(), start=1):
        con.execute(
            "insert into staged.roster values (?, ?, ?, ?, ?, 'head', ?, 'urban', 'dibao', "
            "'active', null, null, 1, 300.0, ?, 'ca_roster', ?, ?, 'roster.csv')",
            [f"H{i:03d}", id_number, name, sex, birth, REGION, as_of, key, i + 1])
    for row, (key, _method, _target, values) in enumerate(VEHICLES, start=2):
        con.execute(
            "insert into staged.vehicles values (?, ?, ?, ?, ?, '湘A00001', '02', "
            "'passenger_car', 'normal', false, null, ?, 'ps_vehicles', ?, ?, 'vehicles.csv')",
            [values.get("id_number"), values.get("name"), values.get("sex"),
             values.get("birth_date"), values.get("region_code"), as_of, key, row])
    # the same person enrolled twice (another household): still one person to link to
    con.execute(
        "insert into staged.roster values ('H999', ?, '蒋六', 'male', date '1981-05-06', 'head', "
        "?, 'rural', 'tekun', 'active', null, null, 1, 0, ?, 'ca_roster', 'dup', 99, 'roster.csv')",
        [P["missing"][0], REGION, as_of])
    con.execute(
        "insert into staged.deaths values (?, '张三', null, null, null, date '2025-02-01', "
        "'death_registration', ?, 'mps_deaths', 'd01', 2, 'deaths.csv')",
        [P["zhang"][0], as_of])


BACKGROUND_ROSTER = 3_000


def _background(con, as_of: date = AS_OF) -> None:
    """A generated quarter around the hand-made cases (matching.bench's generator)."""
    from safetynet.matching import bench

    bench.build(con, as_of, 24_000, BACKGROUND_ROSTER, seed=11)
    for table in ("vehicles", "deaths"):
        con.execute(f"alter table staged.{table} rename to bg_{table}")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    path = tmp_path_factory.mktemp("wh") / "warehouse.duckdb"
    con = connect(path)
    _background(con)
    _create_tables(con, roster=False)
    _load(con, AS_OF)
    summary = link(con, AS_OF)
    yield con, summary, path
    con.close()


def _links(con, as_of: date = AS_OF) -> dict[str, tuple]:
    rows = con.execute(
        "select record_key, status, method, person_id, score, id_quality, explanation "
        "from links.record_links where as_of = ? and source = 'ps_vehicles'", [as_of]).fetchall()
    return {r[0]: r[1:] for r in rows}


@pytest.mark.parametrize("case", VEHICLES, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in VEHICLES])
def test_each_record_is_decided_as_expected(warehouse, case) -> None:
    con, _summary, _path = warehouse
    key, method, target, _values = case
    status, got_method, person_id, score, _quality, explanation = _links(con)[key]
    explanation = json.loads(explanation)
    if method == "review" and target is None:
        assert (status, person_id) == ("review", None)
        assert sorted(explanation["candidate_person_ids"]) == sorted(
            [P["twin_a"][0], P["twin_b"][0]])
        assert [c["posterior"] for c in explanation["candidate_scores"]] == [
            pytest.approx(0.5, abs=1e-3)] * 2
    elif method == "review":
        assert (status, person_id) == ("review", None)
        assert explanation["held_for_review"] == target
        assert explanation["posterior"] >= MatchSettings().review_threshold
    elif method == "none":
        assert (status, got_method, person_id) == ("unlinked", "none", None)
        assert score == 0.0
    else:
        assert (status, got_method, person_id) == ("linked", method, P[target][0])
        assert MatchSettings().link_threshold <= score <= 1.0
        assert explanation["method"] == method
        assert explanation["posterior"] == score


def test_explanations_name_each_comparison_level(warehouse) -> None:
    con, _summary, _path = warehouse
    links = _links(con)
    homophone = json.loads(links["v16"][5])
    assert homophone["name"] == {"level": "pinyin", "similarity": 0.5}
    assert (homophone["birth_date"], homophone["region"]) == ("exact", "county")
    assert homophone["id"] == {"quality": "missing", "agreement": "null", "edits": None}
    weights = homophone["match_weights"]
    parts = ("prior", "id", "name", "birth_date", "region", "sex")
    assert weights["total"] == pytest.approx(sum(weights[k] for k in parts))
    assert weights["id"] == 0.0 and weights["name"] > 0 and weights["prior"] < 0
    assert set(homophone["blocking_rules"]) >= {"pinyin_dob_prefecture", "dob_county"}
    assert json.loads(links["v18"][5])["name"]["level"] == "nodot"
    assert json.loads(links["v19"][5])["name"]["level"] == "exact"
    scientific = json.loads(links["v07"][5])
    assert scientific["id"]["quality"] == "scientific"
    truncated = json.loads(links["v08"][5])
    assert (truncated["id"]["agreement"], truncated["birth_date"]) == ("prefix15", "null")
    typo = json.loads(links["v09"][5])
    assert (typo["id"]["agreement"], typo["id"]["edits"]) == ("one_substitution", 1)
    assert json.loads(links["v10"][5])["id"]["agreement"] == "transposition"
    assert json.loads(links["v11"][5])["id"]["agreement"] == "one_indel"
    # the namesake is scored (found by name + birth date) and refused: another valid ID
    namesake = json.loads(links["v21"][5])
    assert namesake["reason"] == "valid_id_not_in_roster"
    assert namesake["nearest_refused"]["id"]["agreement"] == "different_valid"
    assert namesake["nearest_refused"]["match_weights"]["id"] < -35
    assert namesake["nearest_refused"]["posterior"] < MatchSettings().review_threshold
    # the near-ID neighbour (valid, one digit away) is refused the same way
    near = json.loads(links["v22"][5])
    assert (near["reason"], near["nearest_refused"]["id"]["agreement"]) == (
        "valid_id_not_in_roster", "different_valid")
    assert near["nearest_refused"]["posterior"] < 1e-6
    # a valid ID met by no blocking rule: nothing else was compared
    outsider = con.execute(
        "select explanation from links.record_links where as_of = ? and source = "
        "'bench_vehicles' and id_quality = 'valid' and status = 'unlinked' and "
        "explanation->>'nearest_refused' is null limit 1", [AS_OF]).fetchone()[0]
    assert json.loads(outsider) == {
        "method": "none", "status": "unlinked", "id": {"quality": "valid",
                                                       "agreement": "not_in_roster"},
        "candidates": 0, "reason": "valid_id_not_in_roster"}
    assert json.loads(links["v28"][5])["reason"] == "no_birth_date"
    # a refused candidate is explained by levels only, never by the other person's ID or name
    other_name = json.loads(links["v25"][5])
    assert other_name["reason"] == "below_threshold"
    assert other_name["nearest_refused"]["name"]["level"] == "else"
    assert "person_id" not in json.dumps(other_name["nearest_refused"])
    assert json.loads(links["v30"][5])["id"]["agreement"] == "damaged_different"
    lucky = json.loads(links["v31"][5])
    assert (links["v31"][4], lucky["id"]["agreement"]) == ("valid", "prefix15")
    v32 = json.loads(links["v32"][5])
    assert (v32["reason"], v32["nearest_refused"]["id"]["agreement"]) == (
        "another_valid_id", "different_valid")
    assert links["v33"][4] == "truncated_excel"
    # exact-ID links outrank name links, and a pinyin-level name link outranks nothing exact
    assert links["v01"][3] >= links["v14"][3] >= links["v16"][3]
    assert json.loads(links["v01"][5])["match_weights"]["total"] > \
        json.loads(links["v14"][5])["match_weights"]["total"] > \
        json.loads(links["v16"][5])["match_weights"]["total"]


def test_model_is_stored_with_the_quarter(warehouse) -> None:
    con, summary, _path = warehouse
    settings_json, model_json = con.execute(
        "select settings, model from links.model where as_of = ?", [AS_OF]).fetchone()
    assert MatchSettings.from_json(settings_json) == MatchSettings()
    model = json.loads(model_json)
    ids = model["comparisons"]["id"]
    # EM on the quarter's own pairs: a one-edit ID and an exact name are strong evidence,
    # a different valid ID keeps its fixed prior and outweighs name + birth date + region
    assert ids["different_valid"]["fixed_m"] and ids["different_valid"]["weight"] < -35
    assert ids["one_substitution"]["weight"] > 15
    name = model["comparisons"]["name"]
    assert name["exact"]["weight"] > name["pinyin"]["weight"] > 0 > name["else"]["weight"]
    assert model["comparisons"]["birth_date"]["in_id"] == {"neutral": True, "weight": 0.0}
    assert model["info"]["sessions"]["exact_id"]["pairs"] > 3_000
    assert model["info"]["pairs_per_rule"]["name_dob"] > 0
    assert summary.model["prior_weight"] == model["prior_weight"] < -10


def test_decoys_are_never_linked(warehouse) -> None:
    con, _summary, _path = warehouse
    linked_to_zhang = con.execute(
        "select list(record_key order by record_key) from links.record_links "
        "where as_of = ? and person_id = ?", [AS_OF, P["zhang"][0]]).fetchone()[0]
    assert linked_to_zhang == ["d01", "v01"]


def test_roster_output(warehouse) -> None:
    con, summary, _path = warehouse
    rows = {r[0]: r[1:] for r in con.execute(
        "select _record_key, person_id, id_quality, name_key, birth_date_eff, sex_eff, "
        "county_code, household_id from links.roster where as_of = ?", [AS_OF]).fetchall()}
    assert rows["zhang"][:6] == (P["zhang"][0], "valid", "张三", date(1980, 1, 1), "male",
                                 COUNTY)
    assert rows["x_check"][0].endswith("X")
    assert rows["unusable"][:2] == (None, "scientific")
    assert rows["zhang"][6] == "H001"  # staged roster columns are kept
    background = BACKGROUND_ROSTER + BACKGROUND_ROSTER // 500  # generated persons + twins
    assert summary.roster_rows == len(P) + 1 + background
    # the duplicate counts once, the unusable not
    assert summary.roster_persons == len(P) - 1 + background
    assert summary.roster_unusable == 1
    assert summary.roster_id_quality == {"scientific": 1, "valid": len(P) + background}
    assert rows["dup"][0] == rows["missing"][0]
    keys = dict(con.execute("select _record_key, person_key from links.roster "
                            "where as_of = ?", [AS_OF]).fetchall())
    assert keys["dup"] == keys["missing"] and keys["zhang"].startswith("P")
    assert keys["unusable"] is None


def test_summary_counts(warehouse) -> None:
    _con, summary, _path = warehouse
    vehicles = summary.sources["ps_vehicles"]
    expected: dict[str, int] = {}
    for _key, method, _target, _values in VEHICLES:
        if method not in ("none", "review"):
            expected[method] = expected.get(method, 0) + 1
    assert vehicles.linked == expected
    assert vehicles.review == sum(1 for c in VEHICLES if c[1] == "review")
    assert vehicles.unlinked == sum(1 for c in VEHICLES if c[1] == "none")
    assert vehicles.records == len(VEHICLES)
    assert vehicles.id_quality["missing"] == sum(1 for c in VEHICLES if "id_number" not in c[3])
    assert summary.sources["mps_deaths"].linked == {"id_exact": 1}
    assert "standards" not in summary.tables
    assert json.loads(summary.to_json())["settings"]["name_fuzzy_min"] == 0.85


def test_views_show_linked_rows_only(warehouse) -> None:
    con, _summary, _path = warehouse
    n_linked = sum(1 for c in VEHICLES if c[1] not in ("none", "review"))
    rows = con.execute("select _record_key, person_id, link_method, link_score, plate_number "
                       "from links.vehicles where as_of = ?", [AS_OF]).fetchall()
    assert len(rows) == n_linked
    assert all(r[1] and r[2] and r[3] > 0 for r in rows)
    death = con.execute("select person_id, death_date from links.deaths").fetchall()
    assert death == [(P["zhang"][0], date(2025, 2, 1))]
    views = {r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_schema = 'links' "
        "and table_type = 'VIEW'").fetchall()}
    assert views >= {"vehicles", "deaths", "review_candidates"}


def test_rerun_is_idempotent_and_keeps_other_quarters(warehouse) -> None:
    con, _summary, path = warehouse
    before = con.execute("select * from links.record_links order by all").fetchall()
    roster_before = con.execute("select * from links.roster order by all").fetchall()
    link(con, AS_OF)
    assert con.execute("select * from links.record_links order by all").fetchall() == before
    assert con.execute("select * from links.roster order by all").fetchall() == roster_before
    # a second quarter lands beside the first; rerunning it leaves the first alone
    q2 = date(2025, 6, 30)
    _load(con, q2)
    link(con, q2)
    link(con, q2)
    counts = dict(con.execute(
        "select as_of, count(*) from links.record_links where source in ('ps_vehicles', "
        "'mps_deaths') group by all").fetchall())
    assert counts == {AS_OF: len(VEHICLES) + 1, q2: len(VEHICLES) + 1}
    # the same roster person keeps the same key in both quarters
    assert con.execute("select count(distinct person_key) from links.roster "
                       "where _record_key = 'zhang'").fetchone()[0] == 1
    temp = con.execute("select count(*) from information_schema.tables "
                       "where table_catalog = 'temp'").fetchone()[0]
    assert temp == 0
    con.execute("delete from staged.roster where as_of = ?", [q2])
    con.execute("delete from staged.vehicles where as_of = ?", [q2])
    con.execute("delete from staged.deaths where as_of = ?", [q2])


def test_settings_round_trip_and_change_the_outcome(tmp_path) -> None:
    from safetynet.matching.settings import DEFAULT_BLOCKING_RULES

    without_pinyin = tuple(r for r in DEFAULT_BLOCKING_RULES
                           if r.name not in ("pinyin_dob_prefecture", "dob_county"))
    settings = MatchSettings(blocking_rules=without_pinyin, reexamine_valid_000=False,
                             review_levels=("sex:different",))
    assert MatchSettings.from_json(settings.to_json()) == settings
    con = connect(tmp_path / "w.duckdb")
    _background(con)
    _create_tables(con, roster=False)
    _load(con, AS_OF)
    link(con, AS_OF, settings)
    links = _links(con)
    assert links["v16"][0] == "unlinked"  # no rule proposes the homophone any more
    assert links["v31"][0] == "unlinked"  # a valid-looking ID links only by that ID
    assert links["v30"][0] == "linked"  # a contradicting damaged ID no longer held for review
    assert links["v09"][1] == "id_repaired"
    with pytest.raises(ConfigError):
        MatchSettings(link_threshold=0.5, review_threshold=0.9)
    with pytest.raises(ConfigError):
        MatchSettings.from_json({"repair_max_edits": 1})
    con.close()


def test_no_roster_is_an_error_not_an_empty_result(tmp_path) -> None:
    con = connect(tmp_path / "w.duckdb")
    with pytest.raises(SafetynetError, match="staged.roster"):
        link(con, AS_OF)
    _create_tables(con)
    _load(con, AS_OF)
    with pytest.raises(SafetynetError, match="2025-06-30"):
        link(con, date(2025, 6, 30))
    con.close()


def test_absent_department_tables_are_skipped(tmp_path) -> None:
    con = connect(tmp_path / "w.duckdb")
    con.execute(f"create table staged.roster ({ROSTER_COLUMNS})")
    con.execute(
        "insert into staged.roster values ('H1', ?, '张三', 'male', null, 'head', ?, 'urban', "
        "'dibao', 'active', null, null, 1, 0, ?, 'ca_roster', 'r1', 2, 'roster.csv')",
        [P["zhang"][0], REGION, AS_OF])
    summary = link(con, AS_OF)
    assert summary.sources == {}
    assert con.execute("select birth_date_eff, person_id from links.roster").fetchall() == [
        (date(1980, 1, 1), P["zhang"][0])]
    assert con.execute("select count(*) from links.record_links").fetchone()[0] == 0
    con.close()


def test_synthetic_quarter_links_without_false_links(tmp_path) -> None:
    """60k noisy records (every noise kind, namesake decoys, roster twins) x 6k roster persons."""
    from safetynet.matching import bench

    con = connect(tmp_path / "bench.duckdb")
    bench.build(con, AS_OF, 60_000, 6_000, seed=7)
    summary = link(con, AS_OF)
    result = bench.quality(con, AS_OF)
    assert result["false_links"] == 0
    assert result["missed"] == 0
    assert result["review"] <= 5  # roster twins whose record carries no usable ID
    assert result["true_links"] > 11_000
    linked = {m for s in summary.sources.values() for m in s.linked}
    assert linked == {"id_exact", "id_legacy15", "id_repaired", "name_dob_region"}
    con.close()


def _single_edits(value: str) -> set[str]:
    """Every substitution, adjacent transposition, deletion and insertion of one character."""
    digits = "0123456789"
    edits = {value[:i] + d + value[i + 1:] for i in range(len(value)) for d in digits}
    edits |= {value[:i] + value[i + 1] + value[i] + value[i + 2:] for i in range(len(value) - 1)}
    edits |= {value[:i] + value[i + 1:] for i in range(len(value))}
    edits |= {value[:i] + d + value[i:] for i in range(len(value) + 1) for d in digits}
    return edits - {value}


def test_every_single_edit_of_a_roster_id_is_repaired(tmp_path) -> None:
    """Blocking on the first 12 / last 5 characters misses no one-edit neighbour."""
    con = connect(tmp_path / "w.duckdb")
    _create_tables(con)
    target = P["typo"][0]
    for key, (id_number, name, sex, birth) in P.items():
        con.execute(
            "insert into staged.roster values (?, ?, ?, ?, ?, 'head', ?, 'urban', 'dibao', "
            "'active', null, null, 1, 0, ?, 'ca_roster', ?, 2, 'roster.csv')",
            [key, id_number, name, sex, birth, REGION, AS_OF, key])
    damaged = sorted(e for e in _single_edits(target) if normalize_id(e).quality != "valid")
    for i, value in enumerate(damaged):
        con.execute(
            "insert into staged.vehicles (id_number, name, as_of, _source, _record_key) "
            "values (?, '郑一', ?, 'ps_vehicles', ?)", [value, AS_OF, f"e{i}"])
    link(con, AS_OF)
    got = con.execute(
        "select method, person_id, count(*) from links.record_links group by all").fetchall()
    assert got == [("id_repaired", target, len(damaged))]
    con.close()


REVIEW_DECISIONS_DDL = """create table links.review_decisions (source varchar, record_key varchar,
    person_id varchar, decision varchar, decided_by varchar, decided_at timestamp,
    reason varchar, origin varchar)"""


def _decide(con, record_key: str, person_id: str, decision: str) -> None:
    con.execute("insert into links.review_decisions values ('ps_vehicles', ?, ?, ?, 'officer1', "
                "timestamp '2025-04-10 09:00:00', '', 'review_queue')",
                [record_key, person_id, decision])


def test_review_decisions_accept_and_reject(tmp_path) -> None:
    con = connect(tmp_path / "w.duckdb")
    _create_tables(con)
    _load(con, AS_OF)
    con.execute(REVIEW_DECISIONS_DDL)
    _decide(con, "v23", P["twin_b"][0], "accept")        # the twins' record: an officer chose b
    _decide(con, "v01", P["zhang"][0], "reject")         # "wrong person" on an exact-ID link
    _decide(con, "v14", P["missing"][0], "reject")       # ... and on a name link
    _decide(con, "v24", P["sexcheck"][0], "accept")      # accepted although sex disagrees
    link(con, AS_OF)
    links = _links(con)
    status, method, person_id, _score, _quality, explanation = links["v23"]
    assert (status, method, person_id) == ("linked", "name_dob_region", P["twin_b"][0])
    assert json.loads(explanation)["review_decision"] == "accept"
    assert links["v24"][:3] == ("linked", "name_dob_region", P["sexcheck"][0])
    for key in ("v01", "v14"):
        assert links[key][:3] == ("unlinked", "none", None)
        assert json.loads(links[key][5])["reason"] == "rejected_by_review"
    # a rejection never links by elimination: the other twin stays for an officer to decide
    con.execute("delete from links.review_decisions")
    _decide(con, "v23", P["twin_a"][0], "reject")
    link(con, AS_OF)
    status, _method, person_id, _score, _quality, explanation = _links(con)["v23"]
    assert (status, person_id) == ("review", None)
    explained = json.loads(explanation)
    assert explained["candidate_person_ids"] == [P["twin_b"][0]]
    assert explained["rejected_by_review"] == [P["twin_a"][0]]
    con.close()
