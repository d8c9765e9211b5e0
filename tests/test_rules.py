"""Warning rules on real DuckDB files: every regression case, packs, and the engine's contract."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from safetynet.errors import ConfigError, SafetynetError
from safetynet.warehouse import connect
from safetynet.warning_rules.engine import evaluate
from safetynet.warning_rules.packs import PACKS_DIR, load_pack
from safetynet.warning_rules.regression import (
    CASES_DIR,
    Case,
    build_case_warehouse,
    check_case,
    load_cases,
    run_case,
)
from safetynet.warning_rules.rule import RULES_DIR
from safetynet.workdays import CalendarYearMissing

ALL_CASES = [c for p in sorted(CASES_DIR.glob("*.yml")) for c in load_cases(p)]
AS_OF = dt.date(2026, 9, 30)
DUE_Q3 = dt.date(2026, 11, 10)          # 25th working day after 2026-09-30 (National Day)

# Real-format IDs used across the engine tests.
HEAD = "430102198001010110"
SPOUSE = "430102198203050229"
CHILD = "430102200506120318"
OTHER = "430103199004151053"


@pytest.fixture(scope="module")
def case_con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(tmp_path_factory.mktemp("cases") / "cases.duckdb")
    yield con
    con.close()


@pytest.fixture(scope="module")
def packs() -> dict[str, object]:
    return {name: load_pack(name) for name in ("default", "example_region")}


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.label)
def test_regression_case(case: Case, case_con: duckdb.DuckDBPyConnection, packs: dict) -> None:
    status, warnings = run_case(case, case_con, pack=packs[case.pack])
    assert check_case(case, status, warnings) == []
    for w in warnings:                       # every warning carries its evidence and contract
        assert w["warning_key"] == f"{case.rule_id}:{w['person_id'] or w['household_id']}"
        assert w["action"] == "verify"
        assert w["rule_pack"] == f"{case.pack}@1.0.0"
        assert w["evidence"]["records"], "evidence lists source records"
        for rec in w["evidence"]["records"]:
            assert {"table", "source", "record_key", "row", "file", "link_method",
                    "link_score", "fields"} <= set(rec)


def test_regression_harness_catches_a_wrong_expectation(case_con: duckdb.DuckDBPyConnection,
                                                         packs: dict) -> None:
    case = next(c for c in ALL_CASES if c.rule_id == "VEHICLE_OWNED" and c.kind == "must_fire")
    status, warnings = run_case(case, case_con, pack=packs["default"])
    wrong = Case(**{**case.__dict__, "expect": [{**case.expect[0], "severity": "high"}]})
    assert check_case(wrong, status, warnings)
    flipped = Case(**{**case.__dict__, "kind": "must_not_fire", "expect": []})
    assert check_case(flipped, status, warnings)


# ---------- example region pack ----------

def _quarter(con: duckdb.DuckDBPyConnection, **tables: list[dict]) -> set[str]:
    """A small quarter: one dibao household (head, spouse, child) and a dibao_edge person."""
    roster = [
        {"household_id": "H1", "id_number": HEAD, "name": "张三", "household_size": 3,
         "declared_income": 300, "region_code": "430102003004"},
        {"household_id": "H1", "id_number": SPOUSE, "name": "李四", "relation": "spouse",
         "category": "other", "household_size": 3, "region_code": "430102003004"},
        {"household_id": "H1", "id_number": CHILD, "name": "张小五", "relation": "child",
         "household_size": 3, "region_code": "430102003004"},
        {"household_id": "H9", "id_number": OTHER, "name": "欧阳·娜", "category": "dibao_edge",
         "region_code": "430103002001"},
    ]
    case = Case(rule_id="-", kind="must_fire", name="quarter", as_of=AS_OF, roster=roster,
                tables=tables)
    return build_case_warehouse(con, case)


def test_example_region_pack_exempts_motorcycles_and_looks_back_24_months(tmp_path: Path) -> None:
    con = connect(tmp_path / "w.duckdb")
    loaded = _quarter(
        con,
        vehicles=[{"id_number": SPOUSE, "vehicle_class": "motorcycle", "status": "normal"},
                  {"id_number": HEAD, "vehicle_class": "passenger_car", "status": "normal"}],
        properties=[{"id_number": CHILD, "unit_number": "U1", "usage": "residential",
                     "acquisition_type": "purchase_new", "register_date": dt.date(2024, 3, 15),
                     "status": "current"}])
    default = evaluate(con, AS_OF, "default", loaded_tables=loaded)
    keys = {r[0] for r in con.execute("select warning_key from warnings.warnings").fetchall()}
    assert f"VEHICLE_OWNED:{SPOUSE}" in keys and f"VEHICLE_OWNED:{HEAD}" in keys
    assert f"PROPERTY_RECENT_PURCHASE:{CHILD}" in keys          # 30 months < 36
    assert default.rule_pack == "default@1.0.0"

    region = evaluate(con, AS_OF, load_pack(PACKS_DIR / "example_region.yaml"),
                      loaded_tables=loaded)
    keys = {r[0] for r in con.execute("select warning_key from warnings.warnings").fetchall()}
    assert f"VEHICLE_OWNED:{SPOUSE}" not in keys                # motorcycle exempt
    assert f"VEHICLE_OWNED:{HEAD}" in keys                      # cars still count
    assert f"PROPERTY_RECENT_PURCHASE:{CHILD}" not in keys      # 30 months > 24
    packs_written = {r[0] for r in con.execute("select distinct rule_pack from warnings.warnings "
                                               "union select distinct rule_pack from "
                                               "warnings.rule_status").fetchall()}
    assert packs_written == {"example_region@1.0.0"}            # rerun replaced the as_of
    assert region.pack_hash != default.pack_hash
    con.close()


# ---------- packs ----------

def _write_pack(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.parametrize("body, message", [
    ("rules:\n  NO_SUCH_RULE: {parameters: {months: 3}}\n", "规则不存在"),
    ("rules:\n  VEHICLE_OWNED: {parameters: {vehicle_kinds: [truck]}}\n", "参数 vehicle_kinds 不存在"),
    ("rules:\n  VEHICLE_OWNED: {parameters: {vehicle_types: [motocycle]}}\n", "不在允许范围"),
    ("rules:\n  VEHICLE_OWNED: {parameters: {vehicle_types: []}}\n", "非空列表"),
    ("rules:\n  PROPERTY_RECENT_PURCHASE: {parameters: {months: '24'}}\n", "必须是数值"),
    ("rules:\n  PROPERTY_RECENT_PURCHASE: {parameters: {months: 0}}\n", "不得小于"),
    ("rules:\n  GRADUAL_EXIT_DUE: {enabled: 'no'}\n", "enabled"),
    ("rules:\n  GRADUAL_EXIT_DUE: {months: 5}\n", "只能设置"),
])
def test_pack_overrides_are_validated(tmp_path: Path, body: str, message: str) -> None:
    path = _write_pack(tmp_path, "bad", "name: bad\nversion: '1'\nextends: default\n" + body)
    with pytest.raises(ConfigError, match=message):
        load_pack(path)


def test_pack_extends_chain_disable_and_hash(tmp_path: Path) -> None:
    _write_pack(tmp_path, "province", "name: province\nversion: '2'\nextends: default\nrules:\n"
                "  UNEMPLOYED_WORKING_AGE: {parameters: {max_age: 64}}\n")
    city = _write_pack(tmp_path, "city", "name: city\nversion: '2.1'\nextends: province\nrules:\n"
                       "  MAJOR_ILLNESS: {enabled: false}\n"
                       "  VEHICLE_OWNED: {parameters: {working_days: 15}}\n")
    pack = load_pack(city)
    assert pack.chain == ("city", "province", "default")
    assert pack.label == "city@2.1"
    assert pack.rules["UNEMPLOYED_WORKING_AGE"].parameters["max_age"] == 64
    assert pack.rules["VEHICLE_OWNED"].due_amount == 15
    assert not pack.rules["MAJOR_ILLNESS"].enabled
    assert len(pack.enabled_rules()) == 11
    assert pack.hash != load_pack("default").hash
    assert pack.hash == load_pack(city).hash                      # stable
    loop = _write_pack(tmp_path, "loop", "name: loop\nversion: '1'\nextends: loop\n")
    with pytest.raises(ConfigError, match="循环"):
        load_pack(loop)
    with pytest.raises(ConfigError, match="找不到规则包"):
        load_pack("no_such_pack")


def test_parameters_are_bound_not_spliced(tmp_path: Path) -> None:
    """A parameter value full of SQL is compared as data: no error, no match, nothing injected."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    path = rules / "vehicle_owned.yml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "    allowed: [passenger_car, truck, motorcycle, tricycle, trailer, tractor, other]\n", ""),
        encoding="utf-8")
    pack_path = _write_pack(tmp_path, "odd", "name: odd\nversion: '1'\nextends: default\nrules:\n"
                            "  VEHICLE_OWNED: {parameters: {vehicle_types: "
                            "[\"x') or true or ('\", \"passenger_car'; drop table links.roster; --\"]}}\n")
    pack = load_pack(pack_path, rules_dir=rules).only("VEHICLE_OWNED")
    con = connect(tmp_path / "w.duckdb")
    loaded = _quarter(con, vehicles=[{"id_number": HEAD, "vehicle_class": "passenger_car",
                                      "status": "normal"}])
    summary = evaluate(con, AS_OF, pack, loaded_tables=loaded)
    assert summary.by_rule == {"VEHICLE_OWNED": 0}
    assert con.execute("select count(*) from links.roster").fetchone()[0] == 4
    con.close()


# ---------- engine ----------

def test_engine_writes_the_warning_contract(tmp_path: Path) -> None:
    con = connect(tmp_path / "w.duckdb")
    loaded = _quarter(
        con,
        deaths=[{"id_number": HEAD, "death_date": dt.date(2026, 8, 31),
                 "record_type": "death_registration", "link_method": "name_dob_region",
                 "link_score": 0.97}],
        vehicles=[{"id_number": SPOUSE, "vehicle_class": "truck", "status": "normal",
                   "plate_number": "湘A0001"},
                  {"id_number": SPOUSE, "vehicle_class": "passenger_car", "status": "normal",
                   "plate_number": "湘A0002"}],
        properties=[{"id_number": HEAD, "unit_number": "U1", "usage": "residential",
                     "acquisition_type": "self_built", "status": "current"},
                    {"id_number": CHILD, "unit_number": "U2", "usage": "residential",
                     "acquisition_type": "gift", "status": "current"}],
        medical_settlements=[{"id_number": OTHER, "settle_date": dt.date(2026, 1, 5),
                              "out_of_pocket": 12000, "major_illness": True}])
    summary = evaluate(con, AS_OF, "default", loaded_tables=loaded)
    assert summary.by_rule["DEATH_REVIEW"] == 1
    assert summary.by_rule["VEHICLE_OWNED"] == 1                 # two vehicles, one warning
    assert summary.by_rule["PROPERTY_MULTIPLE"] == 1
    assert summary.by_rule["HIGH_MEDICAL_EXPENSE"] == 1          # 12000 >= 12 x 1 x 800
    assert summary.by_rule["MAJOR_ILLNESS"] == 1
    assert summary.total_warnings == 5
    assert set(summary.not_evaluated) == {"PENSION_CONTRIBUTING", "BUSINESS_REGISTERED",
                                          "UNEMPLOYED_WORKING_AGE",
                                          "SEVERE_DISABILITY_UNCOVERED"}

    cols = [r[0] for r in con.execute("describe warnings.warnings").fetchall()]
    assert cols == ["as_of", "warning_key", "rule_id", "title", "direction", "subject_level",
                    "person_id", "household_id", "name", "region_code", "county_code",
                    "severity", "routes", "due_date", "action", "evidence", "rule_pack"]
    rows = {r[1]: r for r in con.execute("select * from warnings.warnings").fetchall()}
    death = rows[f"DEATH_REVIEW:{HEAD}"]
    assert death[2:9] == ("DEATH_REVIEW", "在册人员有死亡或火化记录，需核查停发", "exit", "person",
                          HEAD, "H1", "张三")
    assert death[9:11] == ("430102003004", "430102")
    assert death[13] == dt.date(2026, 11, 30)                    # death date + 3 months
    ev = json.loads(death[15])
    assert ev["records"][0]["link_method"] == "name_dob_region"
    assert ev["records"][0]["link_score"] == 0.97
    assert ev["records"][0]["fields"]["death_date"] == "2026-08-31"

    vehicle = rows[f"VEHICLE_OWNED:{SPOUSE}"]
    assert vehicle[8] == "李四" and vehicle[13] == DUE_Q3 and vehicle[12] == ["civil_affairs"]
    plates = [r["fields"]["plate_number"] for r in json.loads(vehicle[15])["records"]]
    assert sorted(plates) == ["湘A0001", "湘A0002"]

    household = rows["PROPERTY_MULTIPLE:H1"]
    assert household[5:9] == ("household", None, "H1", "张三")  # the head's name
    assert json.loads(household[15])["distinct_units"] == 2

    medical = rows["HIGH_MEDICAL_EXPENSE:H9"]
    assert medical[8:11] == ("欧阳·娜", "430103002001", "430103")
    assert medical[11:13] == ("high", ["medical_security", "civil_affairs"])

    status = {r[0]: r[1:] for r in con.execute(
        "select rule_id, status, reason, warning_count from warnings.rule_status").fetchall()}
    assert len(status) == 12
    assert status["PENSION_CONTRIBUTING"][0] == "not_evaluated"
    assert "养老保险参保信息" in status["PENSION_CONTRIBUTING"][1]
    assert status["VEHICLE_OWNED"] == ("evaluated", "", 1)

    # Rerun of the same as_of replaces; another as_of keeps history.
    evaluate(con, AS_OF, "default", loaded_tables=loaded)
    assert con.execute("select count(*), count(distinct warning_key) from warnings.warnings"
                       ).fetchone() == (5, 5)
    assert con.execute("select count(*) from warnings.rule_status").fetchone()[0] == 12
    con.close()


def test_unloaded_or_missing_inputs_are_not_evaluated(tmp_path: Path) -> None:
    con = connect(tmp_path / "w.duckdb")
    loaded = _quarter(con, vehicles=[{"id_number": HEAD, "vehicle_class": "truck",
                                      "status": "normal"}])
    # The vehicles relation exists, but the flow says it was not loaded this quarter.
    summary = evaluate(con, AS_OF, "default", loaded_tables=loaded - {"vehicles"})
    assert summary.by_rule.get("VEHICLE_OWNED") is None
    assert "未加载" in summary.not_evaluated["VEHICLE_OWNED"]
    assert "未加载数据源：死亡火化信息" in summary.not_evaluated["DEATH_REVIEW"]
    # Without loaded_tables nor meta.source_loads: relations and their rows decide.
    summary = evaluate(con, AS_OF, "default")
    assert "links.deaths 不存在" in summary.not_evaluated["DEATH_REVIEW"]
    assert summary.by_rule["VEHICLE_OWNED"] == 1
    # Without loaded_tables: meta.source_loads decides when it has rows for the as_of.
    con.execute("insert into meta.source_loads (as_of, source, table_name, status) values "
                "(?, 'ps_vehicles', 'vehicles', 'missing')", [AS_OF])
    summary = evaluate(con, AS_OF, "default")
    assert "VEHICLE_OWNED" in summary.not_evaluated
    con.execute("update meta.source_loads set status = 'loaded'")
    assert evaluate(con, AS_OF, "default").by_rule["VEHICLE_OWNED"] == 1
    # Without either: a relation holding no rows for this as_of is not evaluated.
    con.execute("delete from meta.source_loads")
    con.execute("update links.vehicles set as_of = date '2026-06-30'")
    summary = evaluate(con, AS_OF, "default")
    assert "没有 2026-09-30 的数据" in summary.not_evaluated["VEHICLE_OWNED"]
    assert con.execute("select count(*) from warnings.warnings where rule_id = 'VEHICLE_OWNED'"
                       ).fetchone()[0] == 0
    con.close()


def test_missing_local_standard_is_reported(tmp_path: Path) -> None:
    con = connect(tmp_path / "w.duckdb")
    case = Case(rule_id="-", kind="must_fire", name="x", as_of=AS_OF,
                roster=[{"household_id": "H1", "id_number": HEAD}],
                standards=[{"county_code": "430103", "urban_rural": "urban",
                            "monthly_standard": 800}],
                tables={"pension": [{"id_number": HEAD, "insurance_type": "enterprise_employee",
                                     "status": "contributing", "contribution_base": 5000}]})
    loaded = build_case_warehouse(con, case)
    evaluate(con, AS_OF, "default", loaded_tables=loaded)
    reason = con.execute("select reason from warnings.rule_status "
                         "where rule_id = 'PENSION_CONTRIBUTING'").fetchone()[0]
    assert "缺少低保标准" in reason and "430102/urban" in reason
    con.close()


def test_missing_calendar_year_fails_before_writing(tmp_path: Path) -> None:
    con = connect(tmp_path / "w.duckdb")
    q4 = dt.date(2026, 12, 31)
    case = Case(rule_id="-", kind="must_fire", name="q4", as_of=q4,
                roster=[{"household_id": "H1", "id_number": HEAD, "status": "gradual_exit",
                         "gradual_exit_start": dt.date(2026, 1, 1)}])
    loaded = build_case_warehouse(con, case)
    with pytest.raises(CalendarYearMissing, match="2027 年法定节假日安排未配置"):
        evaluate(con, q4, "default", loaded_tables=loaded)
    assert con.execute("select count(*) from warnings.rule_status").fetchone()[0] == 0
    # A site folder with the year's arrangement (fictional here) makes the run possible.
    holidays = tmp_path / "holidays"
    holidays.mkdir()
    (holidays / "2027.yaml").write_text(
        "scope: national\nholidays: [2027-01-01, 2027-02-05..2027-02-11]\n"
        "workdays: [2027-02-13]\n", encoding="utf-8")
    evaluate(con, q4, "default", loaded_tables=loaded, holidays_dir=holidays)
    due = con.execute("select due_date from warnings.warnings "
                      "where rule_id = 'GRADUAL_EXIT_DUE'").fetchone()[0]
    # Jan 2027: 20 working days (1st off); Feb 1-4 -> 24; 5-11 off; 12th is the 25th.
    assert due == dt.date(2027, 2, 12)
    con.close()


def test_a_malformed_rule_output_is_a_loud_error(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    path = rules / "duplicate_enrolment.yml"
    text = path.read_text(encoding="utf-8")
    # Drop the grouping: one output row per roster row -> duplicate subjects.
    text = text.replace("      group by e.person_id\n", "      group by all\n").replace(
        "          min(e.household_id) as household_id,", "          e.household_id,")
    path.write_text(text, encoding="utf-8")
    pack = load_pack(PACKS_DIR / "default.yaml", rules_dir=rules).only("DUPLICATE_ENROLMENT")
    con = connect(tmp_path / "w.duckdb")
    loaded = build_case_warehouse(con, Case(
        rule_id="-", kind="must_fire", name="dup", as_of=AS_OF,
        roster=[{"household_id": "H1", "id_number": HEAD},
                {"household_id": "H2", "id_number": HEAD}]))
    with pytest.raises(SafetynetError, match="主体重复"):
        evaluate(con, AS_OF, pack, loaded_tables=loaded)
    assert con.execute("select count(*) from warnings.warnings").fetchone()[0] == 0
    con.close()
