"""A synthetic warehouse in the documented shapes, for the benchmark, browser tests and demos.

Writes `links.roster`, `links.record_links`, `staged.<table>` and `warnings.warnings` for a few
quarters in the documented shapes (docs/architecture.md, "Matching outputs", "Warnings"), then
lets the monitoring module derive `warnings.history` and `warnings.lifecycle`
(`update_lifecycle`), with some referrals delivered, some answered and deadlines checked.
Deterministic for a seed. Not a pipeline: nothing here is linked or evaluated by rules.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from stdnum.cn import ric

from safetynet.warehouse import connect, create_table_like, table_exists
from safetynet.workbench.auth import add_user
from safetynet.workbench.db import WORKBENCH_DDL

QUARTERS = (date(2026, 3, 31), date(2026, 6, 30), date(2026, 9, 30))
# county -> prefecture (Changsha 4301, Zhuzhou 4302)
COUNTIES = ("430102", "430104", "430121", "430202", "430203")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文斌辉鹏飞宇浩然子轩梓涵欣怡佳琪思远雨桐晨阳"

DDL = """
create table if not exists links.roster (
    as_of date, household_id varchar, id_number varchar, name varchar, sex varchar,
    birth_date date, relation varchar, region_code varchar, urban_rural varchar,
    category varchar, status varchar, assistance_start date, gradual_exit_start date,
    household_size integer, declared_income double, _source varchar, _record_key varchar,
    _row bigint, _file varchar, person_id varchar, id_quality varchar, name_key varchar,
    birth_date_eff date, sex_eff varchar, county_code varchar
);
create table if not exists warnings.warnings (
    as_of date, warning_key varchar, rule_id varchar, title varchar, direction varchar,
    subject_level varchar, person_id varchar, household_id varchar, name varchar,
    region_code varchar, county_code varchar, severity varchar, routes varchar[],
    due_date date, action varchar, evidence json, rule_pack varchar
);
"""


@dataclass(frozen=True)
class Rule:
    rule_id: str
    title: str
    direction: str
    household: bool
    severity: str
    routes: tuple[str, ...]
    table: str | None
    source: str | None


RULES = (
    Rule("DEATH_REVIEW", "死亡人员待核查", "exit", False, "high", ("civil_affairs",),
         "deaths", "ps_deaths"),
    Rule("VEHICLE_OWNED", "家庭成员名下有机动车", "exit_review", False, "medium",
         ("civil_affairs",), "vehicles", "ps_vehicles"),
    Rule("PROPERTY_RECENT_PURCHASE", "近36个月购买住房", "exit_review", False, "high",
         ("civil_affairs",), "properties", "nr_properties"),
    Rule("PROPERTY_MULTIPLE", "家庭拥有多套住房", "exit_review", True, "high",
         ("civil_affairs",), "properties", "nr_properties"),
    Rule("BUSINESS_REGISTERED", "登记为市场主体经营者", "exit_review", False, "medium",
         ("civil_affairs",), "business_persons", "mr_business"),
    Rule("PENSION_CONTRIBUTING", "正常缴纳职工养老保险", "exit_review", False, "high",
         ("civil_affairs",), "pension", "hrss_pension"),
    Rule("GRADUAL_EXIT_DUE", "渐退期满待退出", "exit", True, "medium", ("civil_affairs",),
         None, None),
    Rule("DUPLICATE_ENROLMENT", "重复享受低保", "integrity", False, "high", ("civil_affairs",),
         None, None),
    Rule("SEVERE_DISABILITY_UNCOVERED", "重度残疾人未纳入救助", "discovery", False, "high",
         ("civil_affairs",), "disability_certs", "dpf_certs"),
    Rule("HIGH_MEDICAL_EXPENSE", "医疗支出型困难家庭", "discovery", True, "high",
         ("medical_security", "civil_affairs"), "medical_settlements", "ms_settlements"),
    Rule("MAJOR_ILLNESS", "重特大疾病患者", "discovery", False, "medium",
         ("medical_security", "civil_affairs"), "medical_settlements", "ms_settlements"),
    Rule("UNEMPLOYED_WORKING_AGE", "劳动年龄内登记失业", "discovery", False, "low", ("hrss",),
         "unemployment", "hrss_unemployment"),
)
RULE_BY_ID = {r.rule_id: r for r in RULES}


def make_id(rng: random.Random, county: str, birth: date) -> str:
    """A valid 18-character ID number (GB 11643 check character via python-stdnum)."""
    body = f"{county}{birth:%Y%m%d}{rng.randrange(1000):03d}"
    return body + ric.calc_check_digit(body)


def _name(rng: random.Random) -> str:
    if rng.random() < 0.02:
        return "阿不都·" + "".join(rng.choice(GIVEN) for _ in range(2))
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _persons(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """Roster people in households of 1-4, spread over the counties, towns and villages."""
    people: list[dict[str, Any]] = []
    h = 0
    while len(people) < n:
        h += 1
        county = COUNTIES[h % len(COUNTIES)]
        region = f"{county}{1 + h % 3:03d}{1 + (h // 3) % 4:03d}"
        size = rng.choice((1, 1, 2, 2, 3, 3, 4))
        category = rng.choice(("dibao", "dibao", "dibao", "tekun", "dibao_edge", "anti_return"))
        status = "gradual_exit" if rng.random() < 0.05 else "active"
        for m in range(size):
            birth = date(1940 + rng.randrange(70), 1 + rng.randrange(12), 1 + rng.randrange(28))
            pid = make_id(rng, county, birth)
            people.append({
                "household_id": f"H{county}{h:07d}", "id_number": pid, "person_id": pid,
                "name": _name(rng), "sex": "male" if int(pid[16]) % 2 else "female",
                "birth_date": birth, "relation": "head" if m == 0 else rng.choice(
                    ("spouse", "child", "parent", "grandchild")),
                "region_code": region, "county_code": county,
                "urban_rural": "urban" if county in ("430102", "430104", "430202") else "rural",
                "category": category, "status": status, "household_size": size,
                "declared_income": float(rng.randrange(0, 600)),
                "assistance_start": date(2018 + rng.randrange(7), 1 + rng.randrange(12), 1),
                "gradual_exit_start": date(2025, 12, 1) if status == "gradual_exit" else None,
            })
    return people[:n]


def _record(rule: Rule, rng: random.Random, key: str, as_of: date) -> dict[str, Any]:
    fields: dict[str, Any]
    if rule.table == "deaths":
        fields = {"death_date": str(as_of - timedelta(days=rng.randrange(20, 200))),
                  "record_type": rng.choice(("death_registration", "cremation"))}
    elif rule.table == "vehicles":
        fields = {"vehicle_class": rng.choice(("passenger_car", "truck", "motorcycle")),
                  "plate_number": f"湘A{rng.randrange(10000, 99999)}", "status": "normal",
                  "registration_date": str(as_of - timedelta(days=rng.randrange(30, 3000)))}
    elif rule.table == "properties":
        fields = {"usage": "residential", "unit_number": f"430{rng.randrange(10**8):08d}",
                  "acquisition_type": rng.choice(("purchase_new", "purchase_second_hand")),
                  "register_date": str(as_of - timedelta(days=rng.randrange(30, 1000))),
                  "status": "current"}
    elif rule.table == "business_persons":
        fields = {"entity_name": f"长沙市某某{rng.choice(('商贸', '餐饮', '建材'))}有限公司",
                  "entity_type": rng.choice(("company", "individual_business")),
                  "role": rng.choice(("legal_representative", "investor", "operator")),
                  "entity_status": "active"}
    elif rule.table == "pension":
        fields = {"insurance_type": "enterprise_employee", "status": "contributing",
                  "contribution_base": float(rng.randrange(3000, 9000))}
    elif rule.table == "disability_certs":
        fields = {"category": rng.choice(("physical", "visual", "intellectual")),
                  "grade": rng.choice((1, 2)), "status": "valid"}
    elif rule.table == "medical_settlements":
        fields = {"settle_date": str(as_of - timedelta(days=rng.randrange(10, 300))),
                  "out_of_pocket": float(rng.randrange(2000, 90000)),
                  "major_illness": rule.rule_id == "MAJOR_ILLNESS"}
    else:  # unemployment
        fields = {"registration_date": str(as_of - timedelta(days=rng.randrange(30, 600))),
                  "status": "active"}
    return {"table": rule.table, "source": rule.source, "record_key": key, **fields}


def _evidence(rule: Rule, rng: random.Random, person: dict[str, Any], as_of: date,
              keys: list[str]) -> dict[str, Any]:
    records = [_record(rule, rng, k, as_of) for k in keys]
    facts: dict[str, Any] = {}
    if rule.rule_id == "PROPERTY_MULTIPLE":
        facts["distinct_units"] = len(records)
    elif rule.rule_id == "PENSION_CONTRIBUTING":
        facts.update(declared_income=person["declared_income"],
                     household_size=person["household_size"], local_standard=780.0)
    elif rule.rule_id == "GRADUAL_EXIT_DUE":
        facts["gradual_exit_start"] = str(person["gradual_exit_start"] or date(2025, 12, 1))
    elif rule.rule_id == "DUPLICATE_ENROLMENT":
        facts["households"] = [person["household_id"], "H" + person["county_code"] + "9999999"]
    elif rule.rule_id == "HIGH_MEDICAL_EXPENSE":
        facts.update(out_of_pocket_12m=sum(r["out_of_pocket"] for r in records),
                     household_size=person["household_size"], local_standard=780.0)
    elif rule.rule_id in ("SEVERE_DISABILITY_UNCOVERED", "UNEMPLOYED_WORKING_AGE"):
        facts["age"] = as_of.year - person["birth_date"].year
    return {**facts, "records": records} if records else facts


def _warning_row(rule: Rule, person: dict[str, Any], as_of: date, evidence: dict[str, Any],
                 rng: random.Random) -> dict[str, Any]:
    subject = person["household_id"] if rule.household else person["person_id"]
    severity = rule.severity
    routes = list(rule.routes)
    if rule.rule_id == "PENSION_CONTRIBUTING" and rng.random() < 0.4:
        severity = "medium"
    if rule.rule_id == "HIGH_MEDICAL_EXPENSE" and person["category"] in ("dibao", "tekun"):
        severity, routes = "medium", ["medical_security"]
    if rule.rule_id == "MAJOR_ILLNESS" and person["category"] in ("dibao", "tekun"):
        routes = ["medical_security"]
    return {
        "as_of": as_of, "warning_key": f"{rule.rule_id}:{subject}", "rule_id": rule.rule_id,
        "title": rule.title, "direction": rule.direction,
        "subject_level": "household" if rule.household else "person",
        "person_id": None if rule.household else person["person_id"],
        "household_id": person["household_id"], "name": person["name"],
        "region_code": person["region_code"], "county_code": person["county_code"],
        "severity": severity, "routes": routes,
        "due_date": as_of + timedelta(days=rng.choice((30, 37, 45, 70, 90))),
        "action": "verify", "evidence": json.dumps(evidence, ensure_ascii=False),
        "rule_pack": "default@1",
    }


def _arrow(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)


_W_SCHEMA = pa.schema([
    ("as_of", pa.date32()), ("warning_key", pa.string()), ("rule_id", pa.string()),
    ("title", pa.string()), ("direction", pa.string()), ("subject_level", pa.string()),
    ("person_id", pa.string()), ("household_id", pa.string()), ("name", pa.string()),
    ("region_code", pa.string()), ("county_code", pa.string()), ("severity", pa.string()),
    ("routes", pa.list_(pa.string())), ("due_date", pa.date32()), ("action", pa.string()),
    ("evidence", pa.string()), ("rule_pack", pa.string())])
_L_SCHEMA = pa.schema([
    ("as_of", pa.date32()), ("source", pa.string()), ("table_name", pa.string()),
    ("record_key", pa.string()), ("person_id", pa.string()), ("status", pa.string()),
    ("method", pa.string()), ("score", pa.float64()), ("id_quality", pa.string()),
    ("explanation", pa.string())])


def _explanation(method: str, score: float, rng: random.Random) -> str:
    if method == "id_exact":
        exp = {"method": "id_exact", "id_quality": "valid", "reason": "身份证号完全一致"}
    else:
        exp = {"method": method, "id_quality": rng.choice(("missing", "scientific")),
               "prior": -6.2, "comparisons": [
                   {"field": "name", "level": "exact", "weight": 7.1},
                   {"field": "birth_date", "level": "exact", "weight": 8.4},
                   {"field": "region_code", "level": "same_county", "weight": 2.9}],
               "reason": "身份证号不可用，按姓名、出生日期、区县唯一匹配"}
    exp["score"] = score
    return json.dumps(exp, ensure_ascii=False)


def build_demo_warehouse(path: str | Path, *, warnings: int = 2_000, persons: int | None = None,
                         quarters: tuple[date, ...] = QUARTERS, review_items: int = 30,
                         seed: int = 20260930) -> dict[str, Any]:
    """Fill a warehouse with `warnings` warnings in the latest quarter (fewer in earlier ones).

    Returns the people, the latest quarter's warnings and the review items (for tests).
    """
    rng = random.Random(seed)
    persons = persons or max(50, warnings // 2)
    people = _persons(rng, persons)
    con = connect(path)
    con.execute("set enable_progress_bar = false")
    con.execute(DDL)
    con.execute(WORKBENCH_DDL)
    by_quarter: dict[date, list[dict[str, Any]]] = {}
    link_rows: list[dict[str, Any]] = []
    staged: dict[str, list[dict[str, Any]]] = {}
    n_rules = len(RULES)
    for qi, as_of in enumerate(sorted(quarters)):
        # The latest quarter has `warnings`; earlier ones a bit fewer, shifted: some persist,
        # some are new, some resolve, some reopen.
        target = warnings if qi == len(quarters) - 1 else int(warnings * (0.75 + 0.05 * qi))
        shift = (len(quarters) - 1 - qi) * max(1, persons // 7)
        rows: dict[str, dict[str, Any]] = {}
        i = 0
        while len(rows) < target and i < persons * n_rules * 2:
            p = people[(i + shift) % persons]
            rule = RULES[((i + shift) // persons + (i + shift)) % n_rules]
            i += 1
            subject = p["household_id"] if rule.household else p["person_id"]
            key = f"{rule.rule_id}:{subject}"
            if key in rows:
                continue
            n_rec = 0 if rule.table is None else (2 if rule.rule_id == "PROPERTY_MULTIPLE" else 1)
            rec_keys = [f"{(rule.source or 'x').upper()}-{as_of:%y%m}-{len(link_rows) + k:07d}"
                        for k in range(n_rec)]
            evidence = _evidence(rule, rng, p, as_of, rec_keys)
            rows[key] = _warning_row(rule, p, as_of, evidence, rng)
            for rec in evidence.get("records", []):
                staged.setdefault(rule.table, []).append(_staged_row(rec, p, as_of))
            for rk in rec_keys:
                method = "id_exact" if rng.random() < 0.9 else "name_dob_region"
                score = 1.0 if method == "id_exact" else round(0.9 + rng.random() * 0.09, 3)
                link_rows.append({"as_of": as_of, "source": rule.source,
                                  "table_name": rule.table, "record_key": rk,
                                  "person_id": p["person_id"], "status": "linked",
                                  "method": method, "score": score,
                                  "id_quality": "valid" if method == "id_exact" else "missing",
                                  "explanation": _explanation(method, score, rng)})
        by_quarter[as_of] = list(rows.values())
    review = _review_items(rng, people, max(quarters), review_items)
    link_rows += [r["link"] for r in review]
    staged.setdefault("medical_settlements", []).extend(r["staged"] for r in review)
    _load(con, people, by_quarter, link_rows, staged)
    con.close()
    latest = max(quarters)
    return {"people": people, "warnings": by_quarter[latest], "review": review,
            "as_of": latest}


def _staged_row(rec: dict[str, Any], person: dict[str, Any], as_of: date) -> dict[str, Any]:
    """The staged department record behind an evidence record (identity as sent)."""
    row: dict[str, Any] = {"as_of": as_of, "_source": rec["source"],
                           "_record_key": rec["record_key"], "id_number": person["person_id"],
                           "name": person["name"]}
    for key, value in rec.items():
        if key in ("table", "source", "record_key"):
            continue
        row[key] = date.fromisoformat(value) if key.endswith("_date") else value
    return row


def _review_items(rng: random.Random, people: list[dict[str, Any]], as_of: date,
                  n: int) -> list[dict[str, Any]]:
    items = []
    for k in range(n):
        p = people[rng.randrange(len(people))]
        key = f"MS-REVIEW-{k:05d}"
        score = round(0.6 + rng.random() * 0.25, 3)
        items.append({
            "person": p,
            "link": {"as_of": as_of, "source": "ms_settlements", "table_name": "medical_settlements",
                     "record_key": key, "person_id": None, "status": "review",
                     "method": "name_dob_region", "score": score, "id_quality": "check_failed",
                     "explanation": json.dumps({
                         "method": "name_dob_region", "candidate_person_ids": [p["person_id"]],
                         "reason": "身份证号校验位错误；姓名相近、出生日期一致，需人工确认",
                         "comparisons": [{"field": "name", "level": "similar", "weight": 3.2},
                                         {"field": "birth_date", "level": "exact", "weight": 8.4}],
                     }, ensure_ascii=False)},
            "staged": {"as_of": as_of, "_source": "ms_settlements", "_record_key": key,
                       "id_number": p["person_id"][:16] + ("0" if p["person_id"][16] != "0"
                                                           else "1") + p["person_id"][17],
                       "name": p["name"], "birth_date": p["birth_date"],
                       "region_code": p["region_code"],
                       "settle_date": as_of - timedelta(days=40), "out_of_pocket": 5200.0,
                       "major_illness": False},
        })
    return items


def _load(con: duckdb.DuckDBPyConnection, people: list[dict[str, Any]],
          by_quarter: dict[date, list[dict[str, Any]]], link_rows: list[dict[str, Any]],
          staged: dict[str, list[dict[str, Any]]]) -> None:
    quarters = sorted(by_quarter)
    roster = []
    for as_of in quarters:
        for k, p in enumerate(people):
            roster.append({**p, "as_of": as_of, "_source": "ca_roster", "_record_key": f"R{k:07d}",
                           "_row": k + 2, "_file": "roster.csv", "id_quality": "valid",
                           "name_key": p["name"],
                           "birth_date_eff": p["birth_date"], "sex_eff": p["sex"]})
    con.register("roster_rows", pa.Table.from_pylist(roster))
    con.execute("insert into links.roster by name select * from roster_rows")
    con.register("link_rows", _arrow(link_rows, _L_SCHEMA))
    from safetynet.matching.link_store import ensure_record_links, insert_record_links
    from safetynet.matching.linker import REVIEW_CANDIDATES_SQL

    ensure_record_links(con)
    insert_record_links(con, "select * from link_rows")

    con.execute(REVIEW_CANDIDATES_SQL)
    con.register("warning_rows", _arrow([w for q in quarters for w in by_quarter[q]], _W_SCHEMA))
    con.execute("insert into warnings.warnings by name select * from warning_rows")
    for view in ("roster_rows", "link_rows", "warning_rows"):
        con.unregister(view)
    for table, rows in staged.items():
        columns = list(dict.fromkeys(k for row in rows for k in row))
        con.register("staged_rows", pa.Table.from_pylist(
            [{c: row.get(c) for c in columns} for row in rows]))
        if not table_exists(con, "staged", table):
            create_table_like(con, f"staged.{table}", "select * from staged_rows")
        con.execute(f"insert into staged.{table} by name select * from staged_rows")
        con.unregister("staged_rows")
    _monitoring(con, quarters)


def _monitoring(con: duckdb.DuckDBPyConnection, quarters: list[date]) -> None:
    """History and lifecycle through the monitoring module itself, quarter by quarter; then
    some referrals delivered (in verification), some answered (closed), deadlines checked."""
    from safetynet.monitoring.deadlines import overdue
    from safetynet.monitoring.lifecycle import refresh_lifecycle, update_lifecycle
    from safetynet.monitoring.schema import ensure_tables

    ensure_tables(con)
    for as_of in quarters:
        update_lifecycle(con, as_of, actor="demo")
    latest = quarters[-1]
    con.execute("""
        insert into referrals.delivery_items (as_of, department, county_code, warning_key,
                                              warning_id, sha256, delivered_at)
        select as_of, routes[1], county_code, warning_key, 'W' || left(sha256(warning_key), 12),
               'demo', as_of + interval 5 day
        from warnings.warnings where as_of = ? and hash(warning_key) % 10 in (1, 2, 3, 4)""",
                [latest])
    con.execute("""
        insert into warnings.feedback (warning_key, as_of, result, result_date, officer, note,
                                       channel, source_file, row_number, received_at, actor)
        select warning_key, as_of,
               case hash(warning_key) % 3 when 0 then 'confirmed' else 'not_confirmed' end,
               as_of + interval 20 day, '张科员', '入户核查', 'file', 'feedback_demo.xlsx',
               row_number() over (order by warning_key), as_of + interval 21 day, 'intake'
        from warnings.warnings where as_of = ? and hash(warning_key) % 10 = 0""", [latest])
    refresh_lifecycle(con, actor="demo")
    overdue(con, latest + timedelta(days=55), actor="demo")


DEMO_USERS = (
    ("sheng", "province", "43", None, "省厅 李处长"),
    ("shi01", "prefecture", "4301", None, "长沙市局 王科长"),
    ("xian0102", "county", "430102", None, "芙蓉区 张科员"),
    ("xian0121", "county", "430121", None, "长沙县 刘科员"),
    ("zhen0102001", "town", "430102001", None, "芙蓉区某街道 陈干事"),
    ("yibao0102", "department", "430102", "medical_security", "芙蓉区医保局 赵科员"),
    ("renshe43", "department", "43", "hrss", "省人社厅 孙科员"),
)


def add_demo_users(path: str | Path, password: str) -> list[str]:
    """One account per role (usernames in DEMO_USERS), all with `password`."""
    con = connect(path)
    try:
        con.execute(WORKBENCH_DDL)
        for username, role, scope, dept, display in DEMO_USERS:
            add_user(con, username, password, role, scope, dept, display, replace=True)
    finally:
        con.close()
    return [u[0] for u in DEMO_USERS]

