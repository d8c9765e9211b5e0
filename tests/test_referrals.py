"""Referral files per department x county, manifest and referrals.files on a real DuckDB file."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import stat
from datetime import date
from pathlib import Path

import pytest
import yaml
from python_calamine import CalamineWorkbook

from safetynet.errors import ConfigError
from safetynet.referrals import warning_id, write_referrals
from safetynet.referrals.config import DEFAULT_COLUMNS
from safetynet.referrals.evidence import Evidence, load_evidence_config, render_evidence
from safetynet.warehouse import connect

AS_OF = date(2026, 9, 30)
PREV = date(2026, 6, 30)
EVIL_NAME = '=HYPERLINK("http://x","点")'

WARNINGS_DDL = """
create table warnings.warnings (
    as_of date, warning_key varchar, rule_id varchar, title varchar, direction varchar,
    subject_level varchar, person_id varchar, household_id varchar, name varchar,
    region_code varchar, county_code varchar, severity varchar, routes varchar[],
    due_date date, action varchar, evidence json, rule_pack varchar
)
"""
RULE_STATUS_DDL = """
create table warnings.rule_status (as_of date, rule_id varchar, status varchar, reason varchar)
"""
RECORD_LINKS_DDL = """
create table links.record_links (
    as_of date, source varchar, table_name varchar, record_key varchar, person_id varchar,
    status varchar, method varchar, score double, id_quality varchar, explanation json
)
"""


def _w(rule_id: str, subject: str, county: str, severity: str, routes: list[str],
       evidence: dict, *, name: str = "张三", household: str = "H001", person: bool = True,
       title: str = "预警", direction: str = "exit_review", as_of: date = AS_OF) -> dict:
    return {
        "as_of": as_of, "warning_key": f"{rule_id}:{subject}", "rule_id": rule_id,
        "title": title, "direction": direction,
        "subject_level": "person" if person else "household",
        "person_id": subject if person else None, "household_id": household, "name": name,
        "region_code": county + "001001", "county_code": county, "severity": severity,
        "routes": routes, "due_date": date(2026, 11, 6), "action": "verify",
        "evidence": json.dumps(evidence, ensure_ascii=False), "rule_pack": "default@1",
    }


VEHICLE = {"records": [{"table": "vehicles", "source": "ps_vehicles", "record_key": "V1",
                        "link_method": "id_exact", "link_score": 1.0,
                        "fields": {"plate_number": "湘A·12345", "vehicle_class": "passenger_car",
                                   "status": "normal", "plate_type": "02"}}],
           "declared_income": 480.0}
FIXTURE = [
    _w("VEHICLE_OWNED", "430102198001010011", "430102", "medium", ["civil_affairs"], VEHICLE,
       name=EVIL_NAME, title="名下有机动车"),
    # two routes; its link is not in the evidence: read from links.record_links
    _w("MAJOR_ILLNESS", "430103197502020022", "430103", "medium",
       ["medical_security", "civil_affairs"],
       {"settlements": [{"source": "yb_settle", "record_key": "S9", "settle_date": "2026-05-01",
                         "out_of_pocket": 20000, "major_illness": True}],
        "is_recipient": False},
       household="H002", title="重特大疾病", direction="discovery"),
    _w("UNEMPLOYED_WORKING_AGE", "430102199003030033", "430102", "low", ["hrss"],
       {"unemployment": {"source": "hrss_unemp", "record_key": "U1",
                         "registration_date": "2026-03-01", "status": "active",
                         "method": "id_exact", "score": 1.0}, "age": 36},
       household="H003", title="登记失业", direction="discovery"),
    _w("HIGH_MEDICAL_EXPENSE", "H004", "430102", "high",
       ["medical_security", "civil_affairs"],
       {"household_size": 3, "declared_income": 520.0, "local_standard": 650,
        "out_of_pocket_total": 30123.5, "threshold": 23400, "category": "dibao_edge"},
       household="H004", person=False, title="医疗支出过高", direction="discovery"),
    _w("DEATH_REVIEW", "430103196004040044", "430103", "high", ["civil_affairs"],
       {"source": "mz_deaths", "record_key": "D1", "table": "deaths",
        "death_date": "2026-08-01", "record_type": "cremation", "method": "id_exact",
        "score": 1.0}, household="H005", title="死亡", direction="exit"),
    # a regional rule routed to hrss whose evidence also carries vehicle data hrss must not see
    _w("WORKING_WITH_CAR", "430102198505050055", "430102", "high", ["civil_affairs", "hrss"],
       {"pension": {"source": "hrss_pension", "record_key": "P1",
                    "insurance_type": "enterprise_employee", "status": "contributing",
                    "contribution_base": 4200, "method": "id_exact", "score": 1.0},
        "vehicles": [{"source": "ps_vehicles", "record_key": "V7", "plate_number": "湘A·99999",
                      "vehicle_class": "passenger_car", "status": "normal",
                      "method": "id_exact", "score": 1.0}]},
       household="H006", title="在职且有车"),
    _w("VEHICLE_OWNED", "430102198001010011", "430102", "medium", ["civil_affairs"], VEHICLE,
       as_of=PREV),
]


def _insert(con, rows: list[dict]) -> None:
    cols = list(rows[0])
    con.executemany(
        f"insert into warnings.warnings ({', '.join(cols)}) values ({', '.join('?' * len(cols))})",
        [[r[c] for c in cols] for r in rows])


@pytest.fixture()
def con(tmp_path: Path):
    con = connect(tmp_path / "wh.duckdb")
    con.execute(WARNINGS_DDL)
    con.execute(RULE_STATUS_DDL)
    con.execute(RECORD_LINKS_DDL)
    _insert(con, FIXTURE)
    con.executemany("insert into warnings.rule_status values (?, ?, ?, ?)", [
        [AS_OF, "VEHICLE_OWNED", "evaluated", None],
        [AS_OF, "PROPERTY_MULTIPLE", "not_evaluated", "不动产登记数据本期未提供"],
        [PREV, "BUSINESS_REGISTERED", "not_evaluated", "上季度未提供"],
    ])
    con.execute("insert into links.record_links values (?, 'yb_settle', 'medical_settlements', "
                "'S9', '430103197502020022', 'linked', 'id_repaired', 0.95, 'check_failed', "
                "'{}')", [AS_OF])
    yield con
    con.close()


def _read_csv(path: Path) -> tuple[bytes, list[str], list[dict[str, str]]]:
    raw = path.read_bytes()
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    return raw, rows[0], [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def _expected_files(as_of: date) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for r in FIXTURE:
        if r["as_of"] == as_of:
            for dept in r["routes"]:
                out.setdefault((dept, r["county_code"]), set()).add(warning_id(r["warning_key"]))
    return out


def _layout() -> dict:
    return yaml.safe_load(DEFAULT_COLUMNS.read_text(encoding="utf-8"))


def _headers(dept: str) -> list[str]:
    cols = _layout()["departments"][dept]["columns"]
    flat = [c for item in cols for c in (item if isinstance(item, list) else [item])]
    return [c["header"] for c in flat]


def _csv_path(out: Path, dept: str, county: str) -> Path:
    label = _layout()["departments"][dept]["label"]
    return out / dept / county / f"转办_{label}_{county}_{AS_OF.isoformat()}.csv"


def test_split_per_department_and_county(con, tmp_path):
    out = tmp_path / "out"
    manifest = write_referrals(con, AS_OF, out)
    expected = _expected_files(AS_OF)
    got = {(f.department, f.county_code) for f in manifest.files}
    assert got == set(expected)
    assert {f.format for f in manifest.files} == {"csv", "xlsx"}
    for (dept, county), ids in expected.items():
        _, _, rows = _read_csv(_csv_path(out, dept, county))
        assert {r["预警编号"] for r in rows} == ids
    # the two-route warning is in both departments' files; the previous quarter is not
    two_route = warning_id("MAJOR_ILLNESS:430103197502020022")
    assert two_route in expected[("medical_security", "430103")]
    assert two_route in expected[("civil_affairs", "430103")]
    all_files = sorted(p.relative_to(out).as_posix() for p in out.rglob("转办_*"))
    assert all_files == sorted(f.path for f in manifest.files)


def test_columns_per_department_and_evidence_filter(con, tmp_path):
    out = tmp_path / "out"
    write_referrals(con, AS_OF, out)
    civil_raw, civil_headers, civil = _read_csv(_csv_path(out, "civil_affairs", "430102"))
    assert civil_headers == _headers("civil_affairs")
    assert civil_headers == ["预警编号", "线索状态", "规则", "预警事项", "方向", "严重程度", "户编号", "姓名",
                             "身份证号", "所在区划", "预警依据", "关联方式", "截止日期",
                             "核查结果", "核查日期", "核查人", "备注"]
    _, hrss_headers, hrss = _read_csv(_csv_path(out, "hrss", "430102"))
    assert hrss_headers == _headers("hrss")
    assert not {"户编号", "所在区划", "关联方式", "方向"} & set(hrss_headers)
    # hrss sees the pension record of the shared warning but no vehicle data
    shared = next(r for r in hrss if r["规则"] == "WORKING_WITH_CAR")
    assert "养老保险参保" in shared["预警依据"] and "4200" in shared["预警依据"]
    assert "车辆" not in shared["预警依据"] and "99999" not in shared["预警依据"]
    civil_shared = next(r for r in civil if r["规则"] == "WORKING_WITH_CAR")
    assert "湘A·99999" in civil_shared["预警依据"]
    vehicle = next(r for r in civil if r["规则"] == "VEHICLE_OWNED")
    assert vehicle["预警依据"].startswith("公安车辆登记：载客汽车 湘A·12345 状态正常（号牌02）")
    assert vehicle["关联方式"] == "身份证号一致（1.00）"
    assert vehicle["方向"] == "退出核查" and vehicle["严重程度"] == "中"
    assert vehicle["截止日期"] == "2026-11-06" and vehicle["核查结果"] == ""
    assert vehicle["线索状态"] == "新增"  # no lifecycle plan given: every lead is new
    # medical security: household-level warning without income or category
    _, med_headers, med = _read_csv(_csv_path(out, "medical_security", "430102"))
    assert med_headers == _headers("medical_security")
    household = next(r for r in med if r["规则"] == "HIGH_MEDICAL_EXPENSE")
    assert "近12个月个人自付合计30123.50元" in household["预警依据"]
    assert "申报" not in household["预警依据"] and "救助类别" not in household["预警依据"]
    assert household["户编号"] == "H004" and household["身份证号"] == ""
    civil_household = next(r for r in civil if r["规则"] == "HIGH_MEDICAL_EXPENSE")
    assert "申报人均月收入520元" in civil_household["预警依据"]
    assert "救助类别：低保边缘" in civil_household["预警依据"]
    # link read from links.record_links when the evidence lacks it
    _, _, med_103 = _read_csv(_csv_path(out, "medical_security", "430103"))
    assert med_103[0]["关联方式"] == "身份证号修复后一致（一位录入差错）（0.95）"
    assert "低保特困对象" not in med_103[0]["预警依据"]
    assert civil_raw.startswith(b"\xef\xbb\xbf")


def test_sorted_by_severity_then_rule(con, tmp_path):
    out = tmp_path / "out"
    write_referrals(con, AS_OF, out)
    _, _, rows = _read_csv(_csv_path(out, "civil_affairs", "430102"))
    rank = {"高": 0, "中": 1, "低": 2}
    keys = [(rank[r["严重程度"]], r["规则"], r["户编号"], r["身份证号"]) for r in rows]
    assert keys == sorted(keys) and len(set(k[0] for k in keys)) > 1


def test_xlsx_opens_with_calamine_and_matches_csv(con, tmp_path):
    out = tmp_path / "out"
    write_referrals(con, AS_OF, out)
    csv_path = _csv_path(out, "civil_affairs", "430102")
    _, headers, rows = _read_csv(csv_path)
    sheet = CalamineWorkbook.from_path(str(csv_path.with_suffix(".xlsx"))).get_sheet_by_index(0)
    data = sheet.to_python()
    assert data[0] == headers
    assert [[str(c) for c in r] for r in data[1:]] == [[r[h] for h in headers] for r in rows]


def test_formula_injection_neutralised(con, tmp_path):
    out = tmp_path / "out"
    write_referrals(con, AS_OF, out)
    csv_path = _csv_path(out, "civil_affairs", "430102")
    _, _, rows = _read_csv(csv_path)
    assert "'" + EVIL_NAME in [r["姓名"] for r in rows]
    from openpyxl import load_workbook
    ws = load_workbook(csv_path.with_suffix(".xlsx")).active
    cells = [c for row in ws.iter_rows() for c in row if c.value and "HYPERLINK" in str(c.value)]
    assert cells and all(c.data_type == "s" and c.value.startswith("'=") for c in cells)


def test_rerun_is_byte_identical_and_noop(con, tmp_path):
    out = tmp_path / "out"
    first = write_referrals(con, AS_OF, out)
    files = sorted(p for p in out.rglob("*") if p.is_file())
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    table_before = con.execute("select * from referrals.files order by all").fetchall()
    second = write_referrals(con, AS_OF, out)
    assert second.written == () and first.written
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files} == before
    assert sorted(p for p in out.rglob("*") if p.is_file()) == files
    assert con.execute("select * from referrals.files order by all").fetchall() == table_before
    assert second.to_dict() == first.to_dict()
    # a fresh folder gets the same bytes (nothing in a file depends on when it was written)
    other = write_referrals(con, AS_OF, tmp_path / "again")
    for f in other.files:
        assert (tmp_path / "again" / f.path).read_bytes() == (out / f.path).read_bytes()
    assert (tmp_path / "again" / "manifest.json").read_bytes() == (out / "manifest.json").read_bytes()


def test_changed_file_is_new_version_and_empty_one_withdrawn(con, tmp_path):
    out = tmp_path / "out"
    write_referrals(con, AS_OF, out)
    untouched = _csv_path(out, "medical_security", "430102")
    mtime = untouched.stat().st_mtime_ns
    first_written = con.execute(
        "select first_written_at from referrals.files where department = 'medical_security' "
        "and county_code = '430102' and format = 'csv'").fetchall()
    con.execute("update warnings.warnings set title = '死亡（已更正）' where rule_id = 'DEATH_REVIEW'")
    con.execute("delete from warnings.warnings where rule_id = 'UNEMPLOYED_WORKING_AGE'")
    con.execute("delete from warnings.warnings where rule_id = 'WORKING_WITH_CAR'")
    manifest = write_referrals(con, AS_OF, out)

    changed = _csv_path(out, "civil_affairs", "430103")
    assert "死亡（已更正）" in changed.read_text(encoding="utf-8-sig")
    versions = con.execute(
        "select version, is_current, sha256 from referrals.files where as_of = ? and "
        "department = 'civil_affairs' and county_code = '430103' and format = 'csv' "
        "order by version", [AS_OF]).fetchall()
    assert [(v, cur) for v, cur, _ in versions] == [(1, False), (2, True)]
    assert versions[1][2] == hashlib.sha256(changed.read_bytes()).hexdigest() != versions[0][2]
    listed = {(f.department, f.county_code, f.format): f.version for f in manifest.files}
    assert listed[("civil_affairs", "430103", "csv")] == 2
    assert listed[("medical_security", "430102", "csv")] == 1
    # hrss has no warning left: its files are gone and no longer current
    assert not (out / "hrss").exists()
    assert ("hrss", "430102", "csv") not in listed and "hrss" not in manifest.totals
    assert any("hrss" in p for p in manifest.withdrawn)
    assert con.execute("select count(*) from referrals.files where department = 'hrss' "
                       "and is_current").fetchone()[0] == 0
    assert untouched.stat().st_mtime_ns == mtime
    assert con.execute(
        "select first_written_at from referrals.files where department = 'medical_security' "
        "and county_code = '430102' and format = 'csv'").fetchall() == first_written


def test_manifest_hashes_totals_and_not_evaluated(con, tmp_path):
    out = tmp_path / "out"
    write_referrals(con, AS_OF, out)
    data = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert data["as_of"] == data["generated_for"] == "2026-09-30"
    for f in data["files"]:
        assert hashlib.sha256((out / f["path"]).read_bytes()).hexdigest() == f["sha256"]
        _, _, rows = _read_csv((out / f["path"]).with_suffix(".csv"))
        assert f["rows"] == len(rows)
    expected = _expected_files(AS_OF)
    for dept, total in data["totals"].items():
        ids = set().union(*(v for (d, _), v in expected.items() if d == dept))
        assert total["warnings"] == len(ids)
        assert total["counties"] == len({c for d, c in expected if d == dept})
    assert data["not_evaluated"] == [{"rule_id": "PROPERTY_MULTIPLE",
                                      "reason": "不动产登记数据本期未提供"}]
    table = con.execute("select department, county_code, format, path, rows, sha256 from "
                        "referrals.files where as_of = ? order by all", [AS_OF]).fetchall()
    assert table == sorted((f["department"], f["county_code"], f["format"], f["path"], f["rows"],
                            f["sha256"]) for f in data["files"])
    summary = (out / "清单_2026-09-30.csv").read_text(encoding="utf-8-sig")
    assert summary.startswith("类型,部门,区县,格式,条数")
    assert "PROPERTY_MULTIPLE本期未运行，不代表无预警" in summary
    assert "BUSINESS_REGISTERED" not in summary


def test_files_and_folders_are_owner_only(con, tmp_path):
    out = tmp_path / "out"
    write_referrals(con, AS_OF, out)
    paths = list(out.rglob("*"))
    assert paths
    for p in paths:
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode == (0o700 if p.is_dir() else 0o600), p


def test_warning_id_is_stable_across_quarters(con, tmp_path):
    write_referrals(con, AS_OF, tmp_path / "q3")
    write_referrals(con, PREV, tmp_path / "q2")
    _, _, q3 = _read_csv(_csv_path(tmp_path / "q3", "civil_affairs", "430102"))
    q2_path = next((tmp_path / "q2").rglob("转办_*.csv"))
    _, _, q2 = _read_csv(q2_path)
    assert q2[0]["预警编号"] in {r["预警编号"] for r in q3}
    assert len({r["预警编号"] for r in q3}) == len(q3)


def test_unconfigured_department_fails_before_writing(con, tmp_path):
    con.execute("update warnings.warnings set routes = ['civil_affairs', 'public_security'] "
                "where rule_id = 'DEATH_REVIEW'")
    with pytest.raises(ConfigError, match="public_security"):
        write_referrals(con, AS_OF, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_layout_is_data_a_new_department_needs_only_config(con, tmp_path):
    layout = _layout()
    layout["departments"]["public_security"] = {
        "label": "公安", "evidence": ["deaths"],
        "columns": [{"header": "编号", "field": "warning_id"}, {"header": "依据", "field": "evidence"},
                    {"header": "反馈"}]}
    con.execute("update warnings.warnings set routes = ['public_security'] "
                "where rule_id = 'DEATH_REVIEW'")
    out = tmp_path / "out"
    manifest = write_referrals(con, AS_OF, out, columns_config=layout)
    path = out / next(f.path for f in manifest.files
                      if f.department == "public_security" and f.format == "csv")
    assert path.name == "转办_公安_430103_2026-09-30.csv"
    _, headers, rows = _read_csv(path)
    assert headers == ["编号", "依据", "反馈"]
    assert rows[0]["依据"] == "死亡信息：火化记录 死亡日期2026-08-01"


@pytest.mark.parametrize("raw, expected", [
    ({"source": "ps_vehicles", "table": "vehicles", "record_key": "V1", "plate_number": "湘B1",
      "vehicle_class": "truck", "status": "normal"}, "公安车辆登记：载货汽车 湘B1 状态正常"),
    ([{"table": "properties", "unit_number": "1-101", "usage": "residential",
       "acquisition_type": "purchase_new", "status": "current"},
      {"table": "properties", "unit_number": "2-202", "usage": "residential",
       "acquisition_type": "inheritance", "status": "current"}],
     "不动产登记：住宅 单元1-101 购买新房 现势；住宅 单元2-202 继承 现势"),
    ({"household_ids": ["H1", "H2"], "county_codes": ["430102", "430103"], "months": 36},
     "所在户：H1、H2，所在区县：430102、430103，回溯36个月"),
    ({"regional_flag": "x", "person_id": "430102198001010011"}, "regional_flag：x"),
])
def test_evidence_sentences(raw, expected):
    templates = load_evidence_config()
    assert render_evidence(Evidence.parse(raw), templates, lambda _kind: True) == expected


def test_renamed_department_label_replaces_old_files(con, tmp_path):
    out = tmp_path / "out"
    write_referrals(con, AS_OF, out)
    old = _csv_path(out, "hrss", "430102")
    layout = _layout()
    layout["departments"]["hrss"]["label"] = "人力社保"
    manifest = write_referrals(con, AS_OF, out, columns_config=layout)
    new = out / "hrss" / "430102" / "转办_人力社保_430102_2026-09-30.csv"
    assert new.is_file() and not old.exists()
    assert old.relative_to(out).as_posix() in manifest.withdrawn
    rows = con.execute("select path, version, is_current from referrals.files where "
                       "department = 'hrss' and format = 'csv' order by version").fetchall()
    assert rows == [(old.relative_to(out).as_posix(), 1, False),
                    (new.relative_to(out).as_posix(), 2, True)]


def test_engine_shaped_roster_evidence_keeps_record_region():
    """DUPLICATE_ENROLMENT as the rule engine writes it: roster records without a link."""
    raw = {"records": [
        {"table": "roster", "source": "mz_roster", "record_key": f"R{i}", "row": i, "file": "a.csv",
         "person_id": "430102198001010011", "link_method": None, "link_score": None,
         "fields": {"household_id": hh, "region_code": county + "001001", "county_code": county,
                    "category": "dibao", "status": "active"}}
        for i, (hh, county) in enumerate([("H1", "430102"), ("H7", "430103")])],
        "households": 2, "counties": 2}
    templates = load_evidence_config()
    ev = Evidence.parse(json.dumps(raw))
    assert render_evidence(ev, templates, lambda _k: True) == (
        "低保名册：户H1 区划430102001001 低保 在保；户H7 区划430103001001 低保 在保。"
        "在册户数2户，在册区县数2个")
    assert "430102198001010011" not in render_evidence(ev, templates, lambda _k: True)
    assert render_evidence(ev, templates, lambda k: k == "person") == ""


def test_lifecycle_plan_skips_closed_leads_and_marks_persisting_ones(con, tmp_path):
    key = "MAJOR_ILLNESS:430103197502020022"
    out = tmp_path / "out"
    plan = {key: "pending"}
    write_referrals(con, AS_OF, out, plan=plan)
    _, _, rows = _read_csv(_csv_path(out, "medical_security", "430103"))
    row = next(r for r in rows if r["预警编号"] == warning_id(key))
    assert row["线索状态"] == "持续未办结"
    assert {r["线索状态"] for r in rows if r["预警编号"] != warning_id(key)} <= {"新增"}
    write_referrals(con, AS_OF, tmp_path / "out2", plan={key: "skip"})
    for path in (tmp_path / "out2").rglob("转办_*.csv"):
        assert warning_id(key) not in {r["预警编号"] for r in _read_csv(path)[2]}
