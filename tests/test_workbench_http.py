"""The workbench over plain HTTP (FastAPI TestClient) on a real DuckDB warehouse file.

Covers sign-in, CSRF, region and department isolation, filtering/sorting/paging, masking, the
access log, dispositions (lifecycle change), XLSX export, the household chain, the review
queue, and letting go of the file when a quarterly run takes the run lock.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from python_calamine import CalamineWorkbook

from safetynet.lock import run_lock
from safetynet.monitoring.lifecycle import update_lifecycle
from safetynet.warehouse import connect
from safetynet.workbench import create_app
from safetynet.workbench.auth import (
    AccountError,
    add_user,
    hash_password,
    validate_account,
    verify_password,
)
from safetynet.workbench.db import WORKBENCH_DDL
from safetynet.workbench.demo import add_demo_users, build_demo_warehouse
from safetynet.workbench.queries import warning_id

PASSWORD = "test-password-123"
EVIL_NAME = '=HYPERLINK("http://x","<script>alert(1)</script>")'
FULL_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dX](?![0-9A-Za-z])")


def make_warehouse(path: Path, warnings: int = 300) -> dict[str, Any]:
    """A demo warehouse plus one crafted warning whose name is a formula and a script tag."""
    data = build_demo_warehouse(path, warnings=warnings, review_items=12)
    add_demo_users(path, PASSWORD)
    con = connect(path)
    try:
        row = con.execute(
            "select * from warnings.warnings where as_of = ? and county_code = '430102' "
            "and subject_level = 'person' order by warning_key limit 1",
            [data["as_of"]]).fetchall()
        cols = [d[0] for d in con.description]
        evil = dict(zip(cols, row[0], strict=True))
        evil.update(warning_key="VEHICLE_OWNED:EVIL", rule_id="VEHICLE_OWNED",
                    name=EVIL_NAME, person_id="43010219800101001X")
        con.execute(f"insert into warnings.warnings ({', '.join(evil)}) values "
                    f"({', '.join('?' for _ in evil)})", list(evil.values()))
        update_lifecycle(con, data["as_of"], actor="test")  # the monitoring module's own
    finally:
        con.close()
    return data


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the session's CSRF token."""
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"username": username, "password": password,
                                    "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    home = client.get("/warnings")
    return re.search(r'"X-CSRF-Token": "([^"]+)"', home.text).group(1)


def latest(rows: list[dict[str, Any]], **where: Any) -> list[dict[str, Any]]:
    return [r for r in rows if all(r[k] == v for k, v in where.items())]


def wids(html: str) -> list[str]:
    return re.findall(r'href="/w/(W[0-9a-f]{12})', html)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("wb") / "warehouse.duckdb"
    data = make_warehouse(path)
    app = create_app(path)
    with TestClient(app) as _:
        yield {"path": path, "app": app, "data": data}


def client_for(site: dict[str, Any], username: str) -> tuple[TestClient, str]:
    client = TestClient(site["app"])
    return client, login(client, username)


def query(site: dict[str, Any], sql: str, params: list[Any] | None = None) -> list[tuple]:
    """Read the warehouse through the app's own connection (same file, no second lock)."""
    with site["app"].state.warehouse.read() as con:
        return con.execute(sql, params or []).fetchall()


# --- accounts ------------------------------------------------------------------------------

def test_password_hash_is_salted_scrypt_and_verifies() -> None:
    a, b = hash_password("correct horse 1"), hash_password("correct horse 1")
    assert a != b and a.startswith("scrypt$16384$8$1$")
    assert verify_password("correct horse 1", a)
    assert not verify_password("correct horse 2", a)
    assert not verify_password("x", "md5$abc")


@pytest.mark.parametrize(("role", "scope", "dept"), [
    ("county", "4301", None), ("town", "430102", None), ("province", "43", "hrss"),
    ("department", "430102", None), ("mayor", "43", None), ("county", "43010x", None),
])
def test_inconsistent_accounts_are_refused(role: str, scope: str, dept: str | None) -> None:
    with pytest.raises(AccountError):
        validate_account("someone", role, scope, dept)


def test_pages_need_a_session(site: dict[str, Any]) -> None:
    client = TestClient(site["app"])
    for url in ("/", "/warnings", "/review", "/audit", "/households/H1"):
        r = client.get(url, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login", url
    r = client.get("/warnings", headers={"HX-Request": "true"}, follow_redirects=False)
    assert r.headers.get("HX-Redirect") == "/login"


def test_wrong_password_is_refused_logged_and_locked_out(site: dict[str, Any]) -> None:
    client = TestClient(site["app"])
    for _ in range(5):
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        r = client.post("/login", data={"username": "renshe43", "password": "wrong-password",
                                        "csrf_token": token})
        assert r.status_code == 401 and "用户名或密码错误" in r.text
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"username": "renshe43", "password": PASSWORD,
                                    "csrf_token": token})
    assert r.status_code == 401 and "次数过多" in r.text
    failures = query(site, "select count(*) from meta.access_log where username = 'renshe43' "
                     "and action = 'login_failed'")[0][0]
    assert failures == 6


def test_login_form_without_csrf_cookie_is_refused(site: dict[str, Any]) -> None:
    client = TestClient(site["app"])
    r = client.post("/login", data={"username": "sheng", "password": PASSWORD,
                                    "csrf_token": "forged"}, follow_redirects=False)
    assert r.status_code == 400 and "sn_session" not in r.cookies


def test_expired_session_sends_back_to_login(site: dict[str, Any]) -> None:
    client, _ = client_for(site, "shi01")
    with site["app"].state.warehouse.write() as con:
        con.execute("update meta.web_sessions set expires_at = timestamp '2000-01-01' "
                    "where username = 'shi01'")
    assert client.get("/warnings", follow_redirects=False).status_code == 303


# --- scope ---------------------------------------------------------------------------------

def test_county_officer_sees_only_own_county(site: dict[str, Any]) -> None:
    data = site["data"]
    mine = latest(data["warnings"], county_code="430102")
    client, _ = client_for(site, "xian0102")
    page = client.get("/warnings?per_page=100")
    total = int(re.search(r'id="total">([\d,]+)<', page.text).group(1).replace(",", ""))
    assert total == len(mine) + 1  # + the crafted warning
    other = latest(data["warnings"], county_code="430121")[0]
    r = client.get(f"/w/{warning_id(other['warning_key'])}")
    assert r.status_code == 404 and "不在您的管辖范围" in r.text
    assert other["name"] not in r.text
    # and the county filter cannot widen the scope
    r = client.get("/warnings?county=430121")
    assert 'id="total">0<' in r.text
    own = client.get(f"/w/{warning_id(mine[0]['warning_key'])}")
    assert own.status_code == 200


def test_town_officer_sees_only_own_town(site: dict[str, Any]) -> None:
    data = site["data"]
    town = [w for w in data["warnings"] if w["region_code"].startswith("430102001")]
    elsewhere = [w for w in data["warnings"]
                 if w["county_code"] == "430102" and not w["region_code"].startswith("430102001")]
    assert town and elsewhere
    client, _ = client_for(site, "zhen0102001")
    page = client.get("/warnings?per_page=100")
    total = int(re.search(r'id="total">([\d,]+)<', page.text).group(1).replace(",", ""))
    assert total == len(town) + _crafted_in_town(site)
    assert client.get(f"/w/{warning_id(elsewhere[0]['warning_key'])}").status_code == 404


def _crafted_in_town(site: dict[str, Any]) -> int:
    return query(site, "select count(*) from warnings.warnings where warning_key = "
                 "'VEHICLE_OWNED:EVIL' and starts_with(region_code, '430102001')")[0][0]


def test_department_user_sees_only_what_was_referred_to_it(site: dict[str, Any]) -> None:
    data = site["data"]
    referred = [w for w in data["warnings"] if w["county_code"] == "430102"
                and "medical_security" in w["routes"]]
    not_referred = [w for w in data["warnings"] if w["county_code"] == "430102"
                    and "medical_security" not in w["routes"]]
    assert referred and not_referred
    client, _ = client_for(site, "yibao0102")
    page = client.get("/warnings?per_page=100")
    assert f'id="total">{len(referred)}<' in page.text
    assert set(wids(page.text)) == {warning_id(w["warning_key"]) for w in referred}
    assert client.get(f"/w/{warning_id(not_referred[0]['warning_key'])}").status_code == 404
    assert client.get(f"/w/{warning_id(referred[0]['warning_key'])}").status_code == 200
    assert client.get(f"/households/{referred[0]['household_id']}").status_code == 403
    assert client.get("/review").status_code == 403


# --- the table -----------------------------------------------------------------------------

def test_filters_match_an_independent_count(site: dict[str, Any]) -> None:
    client, _ = client_for(site, "sheng")
    as_of = site["data"]["as_of"]
    expected = query(site, """
        select count(*) from warnings.warnings w join warnings.lifecycle l using (warning_key)
        where w.as_of = ? and w.severity = 'high' and w.direction = 'exit_review'
          and l.status = 'open'""", [as_of])[0][0]
    r = client.get("/warnings?severity=high&direction=exit_review&status=open&per_page=100",
                   headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text  # HTMX gets only the table area
    assert f'id="total">{expected:,}<' in r.text
    cells = re.findall(r'class="sev sev-(\w+)"', r.text)
    assert cells and set(cells) == {"high"}
    assert set(re.findall(r'class="st st-(\w+)"', r.text)) == {"open"}
    overdue = query(site, """
        select count(*) from warnings.warnings w join warnings.lifecycle l using (warning_key)
        where w.as_of = ? and l.overdue and l.status <> 'closed'""", [as_of])[0][0]
    r = client.get("/warnings?overdue=yes")
    assert f'id="total">{overdue:,}<' in r.text


def test_sorting_and_paging_cover_every_row_once(site: dict[str, Any]) -> None:
    client, _ = client_for(site, "xian0102")
    seen: list[str] = []
    dues: list[str] = []
    page = 1
    while True:
        r = client.get(f"/warnings?sort=due&order=asc&per_page=25&page={page}")
        rows = re.findall(r'href="/w/(W[0-9a-f]{12})[^"]*">.*?</tr>', r.text, re.S)
        dues += re.findall(r"<td>(\d{4}-\d\d-\d\d)</td>\s*<td>", r.text)
        seen += rows
        if 'rel="next"' not in r.text:
            break
        page += 1
    total = int(re.search(r'id="total">([\d,]+)<', r.text).group(1).replace(",", ""))
    assert len(seen) == total == len(set(seen)) == len(dues) and page == -(-total // 25)
    assert dues == sorted(dues) and dues[0] < dues[-1]


def test_junk_parameters_fall_back_to_defaults(site: dict[str, Any]) -> None:
    client, _ = client_for(site, "xian0102")
    r = client.get("/warnings?sort=name;drop table x&severity=extreme&page=-3&per_page=7"
                   "&as_of=yesterday&county=43' or 1=1")
    assert r.status_code == 200
    baseline = client.get("/warnings")
    assert re.search(r'id="total">[^<]+<', r.text).group(0) == \
        re.search(r'id="total">[^<]+<', baseline.text).group(0)


# --- privacy -------------------------------------------------------------------------------

def test_ids_are_masked_in_lists_and_for_supervisory_roles(site: dict[str, Any]) -> None:
    w = latest(site["data"]["warnings"], county_code="430102", subject_level="person")[0]
    wid = warning_id(w["warning_key"])
    county, _ = client_for(site, "xian0102")
    province, _ = client_for(site, "sheng")
    assert not FULL_ID.search(county.get("/warnings?per_page=100").text)
    assert not FULL_ID.search(province.get("/warnings?per_page=100").text)
    full = county.get(f"/w/{wid}").text
    masked = province.get(f"/w/{wid}").text
    assert w["person_id"] in full
    assert w["person_id"] not in masked and w["person_id"][:4] + "*" * 10 in masked
    assert w["name"] not in masked  # supervisory roles see the surname only
    logged = query(site, "select username from meta.access_log where action = 'view_warning' "
                   "and object = ?", [w["warning_key"]])
    assert {"xian0102", "sheng"} <= {r[0] for r in logged}


def test_html_escapes_hostile_values(site: dict[str, Any]) -> None:
    client, _ = client_for(site, "xian0102")
    r = client.get(f"/w/{warning_id('VEHICLE_OWNED:EVIL')}")
    assert r.status_code == 200
    assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"


def test_audit_log_is_for_the_province_role_and_masks_ids(site: dict[str, Any]) -> None:
    county, _ = client_for(site, "xian0102")
    w = latest(site["data"]["warnings"], county_code="430102", subject_level="person")[1]
    county.get(f"/w/{warning_id(w['warning_key'])}")
    assert county.get("/audit").status_code == 403
    province, _ = client_for(site, "sheng")
    r = province.get("/audit?action=view_warning&username=xian0102")
    assert r.status_code == 200 and "查看预警" in r.text
    assert w["person_id"][:4] + "*" * 10 + w["person_id"][-4:] in r.text
    assert not FULL_ID.search(r.text)


# --- disposition ---------------------------------------------------------------------------

def test_disposition_needs_csrf_and_updates_the_lifecycle(site: dict[str, Any]) -> None:
    w = [x for x in latest(site["data"]["warnings"], county_code="430102")
         if query(site, "select status from warnings.lifecycle where warning_key = ?",
                  [x["warning_key"]])[0][0] == "open"][0]
    wid = warning_id(w["warning_key"])
    client, csrf = client_for(site, "xian0102")
    form = {"result": "not_confirmed", "result_date": date.today().isoformat(),
            "officer": "张科员", "note": "入户核实，车辆已过户"}
    assert client.post(f"/w/{wid}/disposition", data=form).status_code == 403
    other, other_csrf = client_for(site, "xian0121")
    assert client.post(f"/w/{wid}/disposition",
                       data={**form, "csrf_token": other_csrf}).status_code == 403
    # another county's officer with a valid token of their own cannot reach it either
    assert other.post(f"/w/{wid}/disposition",
                      data={**form, "csrf_token": other_csrf}).status_code == 404
    assert query(site, "select status from warnings.lifecycle where warning_key = ?",
                 [w["warning_key"]])[0][0] == "open"

    r = client.post(f"/w/{wid}/disposition", data=form,
                    headers={"HX-Request": "true", "X-CSRF-Token": csrf})
    assert r.status_code == 200 and "核查结果已保存" in r.text and "已办结" in r.text
    status, result = query(site, "select status, last_result from warnings.lifecycle "
                           "where warning_key = ?", [w["warning_key"]])[0]
    assert (status, result) == ("closed", "not_confirmed")
    fb = query(site, "select result, officer, note, channel, actor from warnings.feedback "
               "where warning_key = ? and channel = 'web'", [w["warning_key"]])
    assert fb == [("not_confirmed", "张科员", "入户核实，车辆已过户", "web", "xian0102")]
    audit = query(site, "select from_status, to_status, channel from warnings.audit "
                  "where warning_key = ? and actor = 'xian0102'", [w["warning_key"]])
    assert audit == [("open", "closed", "web")]
    logged = query(site, "select detail from meta.access_log where action = 'disposition' "
                   "and object = ?", [w["warning_key"]])
    assert json.loads(logged[0][0])["result"] == "not_confirmed"
    # the (cached) table sees the change at once
    closed = client.get("/warnings?status=closed&per_page=100").text
    assert wid in wids(closed)


def test_disposition_rejects_bad_input_and_read_only_roles(site: dict[str, Any]) -> None:
    w = latest(site["data"]["warnings"], county_code="430102")[2]
    wid = warning_id(w["warning_key"])
    client, csrf = client_for(site, "xian0102")
    r = client.post(f"/w/{wid}/disposition", data={
        "result": "approved", "result_date": "2026-09-01", "csrf_token": csrf})
    assert r.status_code == 400 and "请选择核查结果" in r.text
    r = client.post(f"/w/{wid}/disposition", data={
        "result": "confirmed", "result_date": "2999-01-01", "csrf_token": csrf})
    assert r.status_code == 400
    province, pcsrf = client_for(site, "sheng")
    r = province.post(f"/w/{wid}/disposition", data={
        "result": "confirmed", "result_date": "2026-09-01", "csrf_token": pcsrf})
    assert r.status_code == 403
    assert not query(site, "select * from warnings.feedback where warning_key = ? "
                     "and channel = 'web'", [w["warning_key"]])


# --- export --------------------------------------------------------------------------------

def _xlsx_rows(content: bytes) -> list[list[Any]]:
    book = CalamineWorkbook.from_filelike(io.BytesIO(content))
    return book.get_sheet_by_index(0).to_python()


def test_export_is_the_current_filter_and_is_logged(site: dict[str, Any]) -> None:
    client, csrf = client_for(site, "xian0102")
    page = client.get("/warnings?severity=high&per_page=100").text
    total = int(re.search(r'id="total">([\d,]+)<', page).group(1).replace(",", ""))
    action = re.search(r'action="(/warnings/export[^"]*)"', page).group(1).replace("&amp;", "&")
    assert "severity=high" in action
    assert client.post(action).status_code == 403  # no CSRF token
    r = client.post(action, data={"csrf_token": csrf})
    assert r.status_code == 200 and r.headers["content-type"].startswith(
        "application/vnd.openxmlformats")
    rows = _xlsx_rows(r.content)
    assert rows[0][:5] == ["预警编号", "规则编号", "预警名称", "预警方向", "严重程度"]
    assert len(rows) - 1 == total and {r_[4] for r_ in rows[1:]} == {"高"}
    ids = [r_[10] for r_ in rows[1:] if r_[10]]
    assert ids and all(FULL_ID.fullmatch(i) for i in ids)  # county officers get full IDs
    entry = query(site, "select detail from meta.access_log where action = 'export' "
                  "and username = 'xian0102' order by ts desc limit 1")[0][0]
    assert json.loads(entry)["rows"] == total

    province, pcsrf = client_for(site, "sheng")
    rows = _xlsx_rows(province.post("/warnings/export?county=430102&rule=VEHICLE_OWNED",
                                    data={"csrf_token": pcsrf}).content)
    ids = [r_[10] for r_ in rows[1:] if r_[10]]
    assert ids and not any(FULL_ID.fullmatch(i) for i in ids)
    names = [r_[9] for r_ in rows[1:]]
    assert all(n.endswith("*") for n in names if n)


def test_export_neutralises_formulas(site: dict[str, Any]) -> None:
    client, csrf = client_for(site, "xian0102")
    rows = _xlsx_rows(client.post("/warnings/export?rule=VEHICLE_OWNED",
                                  data={"csrf_token": csrf}).content)
    evil = [r for r in rows if r[1] == "VEHICLE_OWNED" and "HYPERLINK" in str(r[9])]
    assert evil and evil[0][9] == "'" + EVIL_NAME


# --- household chain and review queue ------------------------------------------------------

def test_household_chain_shows_quarters_and_is_scoped(site: dict[str, Any]) -> None:
    people = site["data"]["people"]
    hh = next(h for h in {p["household_id"] for p in people if p["county_code"] == "430102"}
              if query(site, "select count(distinct as_of) from warnings.history "
                       "where household_id = ?", [h])[0][0] >= 2)
    client, _ = client_for(site, "xian0102")
    r = client.get(f"/households/{hh}")
    assert r.status_code == 200 and "家庭链条" in r.text
    members = [p for p in people if p["household_id"] == hh]
    for m in members:
        assert m["person_id"] in r.text
    assert "2026年第2季度" in r.text and "2026年第3季度" in r.text
    other = next(p["household_id"] for p in people if p["county_code"] == "430202")
    assert client.get(f"/households/{other}").status_code == 404
    assert query(site, "select count(*) from meta.access_log where action = 'view_household' "
                 "and object = ?", [hh])[0][0] == 1


def test_review_queue_is_scoped_and_decisions_are_recorded(site: dict[str, Any]) -> None:
    review = site["data"]["review"]
    mine = [i for i in review if i["person"]["county_code"] == "430102"]
    theirs = [i for i in review if i["person"]["county_code"] != "430102"]
    assert mine and theirs
    client, csrf = client_for(site, "xian0102")
    r = client.get("/review")
    assert f"共 <b>{len(mine)}</b> 条待确认" in r.text
    for item in theirs:
        assert item["link"]["record_key"] not in r.text
    rid = re.search(r'id="item-(R[0-9a-f]{12})"', r.text).group(1)
    key = re.search(rf'id="item-{rid}".*?记录编号 ([\w-]+)', r.text, re.S).group(1)
    r = client.post(f"/review/{rid}", data={"decision": "reject", "reason": "非同一人",
                                            "csrf_token": csrf},
                    headers={"HX-Request": "true"})
    assert r.status_code == 200 and "已否决关联" in r.text
    assert query(site, "select decision, decided_by, origin from links.review_decisions "
                 "where record_key = ?", [key]) == [("reject", "xian0102", "review_queue")]
    assert f"共 <b>{len(mine) - 1}</b> 条待确认" in client.get("/review").text
    other_client, other_csrf = client_for(site, "xian0121")
    r = other_client.post(f"/review/{rid}", data={"decision": "accept",
                                                   "csrf_token": other_csrf})
    assert r.status_code == 404  # another county's item: as if it did not exist


# --- connection policy ---------------------------------------------------------------------

@pytest.mark.parametrize("read_only", [True, False])
def test_run_lock_releases_the_file_for_a_quarterly_run(tmp_path: Path, read_only: bool) -> None:
    path = tmp_path / "w.duckdb"
    make_warehouse(path, warnings=60)
    Path(str(path) + ".lock").write_text('{"pid": 1}')  # stale: left by a killed run
    app = create_app(path, read_only=read_only)
    with TestClient(app) as client:
        login(client, "xian0102")
        assert client.get("/warnings").status_code == 200  # a stale lock file blocks nothing
        assert app.state.warehouse.is_open
        with run_lock(path):  # a quarterly run starts
            r = client.get("/warnings")
            assert r.status_code == 503 and "仓库正在更新" in r.text
            deadline = time.monotonic() + 5
            while app.state.warehouse.is_open and time.monotonic() < deadline:
                time.sleep(0.02)  # the watcher lets go within ~0.1 s
            assert not app.state.warehouse.is_open
            # another process (the run) can now open the file read-write and change it
            code = ("import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
                    "c.execute(\"update warnings.lifecycle set status = 'closed'\"); c.close()")
            done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                                  text=True, timeout=60)
            assert done.returncode == 0, done.stderr
        page = client.get("/warnings?status=open")  # the run ended: reopened, cache rebuilt
        assert page.status_code == 200 and 'id="total">0<' in page.text


def test_warning_id_is_the_referral_files_id() -> None:
    writer = pytest.importorskip("safetynet.referrals.writer")
    for key in ("DEATH_REVIEW:43010219800101001X", "PROPERTY_MULTIPLE:H4301020000001"):
        assert warning_id(key) == writer.warning_id(key)


def test_adduser_replaces_and_ends_sessions(tmp_path: Path) -> None:
    path = tmp_path / "users.duckdb"
    con = connect(path)
    con.execute(WORKBENCH_DDL)
    add_user(con, "x1", "a-long-password", "county", "430102")
    with pytest.raises(AccountError):
        add_user(con, "x1", "another-password", "county", "430102")
    with pytest.raises(AccountError):
        add_user(con, "x2", "short", "county", "430102")
    con.execute("insert into meta.web_sessions values ('h', 'x1', 'c', now(), now())")
    add_user(con, "x1", "another-password", "town", "430102001", replace=True)
    assert con.execute("select role, region_scope from meta.users").fetchall() == [
        ("town", "430102001")]
    assert con.execute("select count(*) from meta.web_sessions").fetchone()[0] == 0
    con.close()


def test_cli_adduser_and_serve_checks(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from safetynet.workbench.cli import app as cli

    path = tmp_path / "cli.duckdb"
    runner = CliRunner()
    ok = runner.invoke(cli, ["adduser", "--username", "yb43", "--role", "department",
                             "--region", "43", "--department", "medical_security",
                             "--password", "a-long-password", "--warehouse", str(path)])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(cli, ["adduser", "--username", "c1", "--role", "county", "--region",
                              "43", "--password", "a-long-password", "--warehouse", str(path)])
    assert bad.exit_code == 2 and "6" in bad.output
    con = connect(path)
    try:
        row = con.execute("select role, region_scope, department, password_hash "
                          "from meta.users").fetchall()
    finally:
        con.close()
    assert len(row) == 1 and row[0][:3] == ("department", "43", "medical_security")
    assert verify_password("a-long-password", row[0][3])
    missing = runner.invoke(cli, ["serve", "--warehouse", str(tmp_path / "none.duckdb")])
    assert missing.exit_code == 2
