"""The workbench in a real browser: Playwright driving Debian's Chromium against uvicorn.

Screenshots are saved to tests/screenshots/ (look at them: the pages must be Chinese and tidy).
"""

from __future__ import annotations

import io
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from python_calamine import CalamineWorkbook

from safetynet.workbench import create_app
from safetynet.workbench.queries import warning_id

from .test_workbench_http import PASSWORD, make_warehouse

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parent / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed "
                       "(apt-get install chromium fonts-wqy-zenhei)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import uvicorn

    path = tmp_path_factory.mktemp("wb-browser") / "warehouse.duckdb"
    data = make_warehouse(path)
    app = create_app(path)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started
    yield {"base": f"http://127.0.0.1:{port}", "app": app, "data": data}
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def errors() -> list[str]:
    return []


def open_as(browser: Any, server: dict[str, Any], username: str, errors: list[str]) -> Any:
    """A fresh browser context signed in as `username` (through the sign-in form)."""
    ctx = browser.new_context(base_url=server["base"], accept_downloads=True, locale="zh-CN",
                              viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(10_000)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server['base']}/")
    return page


def total(page: Any) -> int:
    return int(page.inner_text("#total").replace(",", ""))


def query(server: dict[str, Any], sql: str, params: list[Any] | None = None) -> list[tuple]:
    with server["app"].state.warehouse.read() as con:
        return con.execute(sql, params or []).fetchall()


def test_login_and_overview(browser: Any, server: dict[str, Any], errors: list[str]) -> None:
    ctx = browser.new_context(base_url=server["base"], viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    page.goto("/warnings")
    assert page.url.endswith("/login")  # not signed in: sent to the sign-in form
    page.fill("input[name=username]", "sheng")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    assert "用户名或密码错误" in page.inner_text(".error")
    page.screenshot(path=SHOTS / "01_login_failed.png")
    ctx.close()

    page = open_as(browser, server, "sheng", errors)
    assert page.inner_text("h1").startswith("运行概览")
    assert page.locator("svg.chart").count() >= 5  # rule, trend, severity, direction, county...
    assert "省级工作人员" in page.inner_text("header")
    page.screenshot(path=SHOTS / "02_overview_province.png", full_page=True)
    assert not errors, errors


def swapped(page: Any, test: str) -> None:
    """Wait until HTMX has swapped in the table area whose query `p` (URLSearchParams)
    satisfies `test`, a JavaScript expression."""
    page.wait_for_function(
        f"() => {{ const p = new URLSearchParams("
        f"document.querySelector('#warning-area').dataset.query); return {test}; }}")


def test_filter_sort_and_page_with_htmx(browser: Any, server: dict[str, Any],
                                        errors: list[str]) -> None:
    page = open_as(browser, server, "xian0102", errors)
    page.goto("/warnings")
    everything = total(page)
    page.select_option("select[name=severity]", "high")
    swapped(page, "p.get('severity') === 'high'")
    assert "severity=high" in page.url  # pushed to the address bar
    as_of = server["data"]["as_of"]
    expected = query(server, "select count(*) from warnings.warnings where as_of = ? and "
                     "county_code = '430102' and severity = 'high'", [as_of])[0][0]
    assert total(page) == expected < everything
    assert set(page.locator("td .sev").all_inner_texts()) == {"高"}
    page.select_option("select[name=status]", "open")
    swapped(page, "p.get('status') === 'open'")
    assert set(page.locator("td .st").all_inner_texts()) == {"待处理"}
    page.select_option("select[name=status]", "")
    swapped(page, "!p.has('status')")
    page.select_option("select[name=severity]", "")
    swapped(page, "!p.has('severity')")
    assert total(page) == everything
    page.select_option("select[name=per_page]", "25")
    swapped(page, "p.get('per_page') === '25'")
    page.click("a.sort:has-text('办理期限')")
    swapped(page, "p.get('sort') === 'due'")
    first = page.locator("table.warnings tbody tr").all_inner_texts()
    dues = [row.split("\t")[8] for row in first]
    assert dues == sorted(dues)
    page.click("a[rel=next]")
    swapped(page, "p.get('page') === '2'")
    assert "&page=2" in page.url
    second = page.locator("table.warnings tbody tr").all_inner_texts()
    assert len(first) == 25 and second and not set(first) & set(second)
    page.screenshot(path=SHOTS / "03_warnings_filtered_county.png", full_page=True)
    page.go_back()  # history restore asks the server for the full page again
    page.wait_for_function("() => !new URLSearchParams(location.search).has('page') && "
                           "!new URLSearchParams(document.querySelector('#warning-area')"
                           ".dataset.query).has('page')")
    assert not errors, errors


def _open_warning(server: dict[str, Any], county: str = "430102") -> dict[str, Any]:
    keys = {r[0] for r in query(server, "select warning_key from warnings.lifecycle "
                                "where status = 'open' and county_code = ?", [county])}
    return next(w for w in server["data"]["warnings"]
                if w["warning_key"] in keys and w["subject_level"] == "person"
                and w["rule_id"] in ("VEHICLE_OWNED", "BUSINESS_REGISTERED",
                                     "PROPERTY_RECENT_PURCHASE"))


def test_detail_disposition_and_household_chain(browser: Any, server: dict[str, Any],
                                                errors: list[str]) -> None:
    w = _open_warning(server)
    page = open_as(browser, server, "xian0102", errors)
    page.goto(f"/w/{warning_id(w['warning_key'])}")
    assert page.inner_text("#subject-id") == w["person_id"]  # county officers see it in full
    body = page.inner_text("body")
    assert "关联说明" in body and ("身份证号一致" in body or "姓名、出生日期、区县一致" in body)
    page.screenshot(path=SHOTS / "04_warning_detail.png", full_page=True)

    page.select_option("select[name=result]", "not_confirmed")
    page.fill("input[name=result_date]", date.today().isoformat())
    page.fill("textarea[name=note]", "入户核实：车辆已于上月过户，情况不属实。")
    page.click("#disposition-panel button[type=submit]")
    page.wait_for_selector("#disposition-panel .ok")
    assert page.inner_text("#lifecycle-status") == "已办结"
    assert "情况不属实" in page.inner_text("#last-result")
    assert query(server, "select status, last_result from warnings.lifecycle "
                 "where warning_key = ?", [w["warning_key"]]) == [("closed", "not_confirmed")]
    page.screenshot(path=SHOTS / "05_disposition_saved.png", full_page=True)

    page.click("#household-link")
    page.wait_for_url(re.compile(r"/households/"))
    assert "家庭链条" in page.inner_text("h1")
    members = page.locator("#members tbody tr").count()
    assert members == sum(1 for p in server["data"]["people"]
                          if p["household_id"] == w["household_id"])
    chain = page.inner_text("#chain")
    assert "2026年第3季度" in chain and "已办结" in chain
    assert page.locator("#events tbody tr").count() > members  # roster + warning events
    page.screenshot(path=SHOTS / "06_household_chain.png", full_page=True)
    assert not errors, errors


def test_export_downloads_the_current_filter(browser: Any, server: dict[str, Any],
                                             errors: list[str], tmp_path: Path) -> None:
    page = open_as(browser, server, "xian0102", errors)
    page.goto("/warnings?direction=exit_review")
    shown = total(page)
    with page.expect_download() as info:
        page.click("#export")
    target = tmp_path / info.value.suggested_filename
    info.value.save_as(target)
    assert target.name.startswith("预警清单_") and target.suffix == ".xlsx"
    rows = CalamineWorkbook.from_filelike(io.BytesIO(target.read_bytes())) \
        .get_sheet_by_index(0).to_python()
    assert len(rows) - 1 == shown and {r[3] for r in rows[1:]} == {"退出核查"}
    page.screenshot(path=SHOTS / "07_export.png")
    assert query(server, "select count(*) from meta.access_log where action = 'export' "
                 "and username = 'xian0102'")[0][0] >= 1
    assert not errors, errors


def test_region_isolation_in_the_browser(browser: Any, server: dict[str, Any],
                                         errors: list[str]) -> None:
    other = next(w for w in server["data"]["warnings"] if w["county_code"] == "430121")
    page = open_as(browser, server, "xian0102", errors)
    response = page.goto(f"/w/{warning_id(other['warning_key'])}")
    assert response.status == 404 and "不在您的管辖范围" in page.inner_text("body")
    assert other["name"] not in page.content()
    page.screenshot(path=SHOTS / "08_other_county_not_found.png")
    errors.remove("Failed to load resource: the server responded with a status of 404 "
                  "(Not Found)")  # the console's note of that intended 404, nothing else

    dept = open_as(browser, server, "yibao0102", [])
    dept.goto("/warnings")
    routes = set(dept.locator("table.warnings tbody td:last-child").all_inner_texts())
    assert routes and all("医疗保障" in r for r in routes)
    assert dept.locator("a[href='/review']").count() == 0
    dept.screenshot(path=SHOTS / "09_department_view.png", full_page=True)
    assert not errors, errors


def test_review_queue_and_access_log(browser: Any, server: dict[str, Any],
                                     errors: list[str]) -> None:
    page = open_as(browser, server, "xian0102", errors)
    page.goto("/review")
    before = page.locator("section.review").count()
    assert before > 0
    page.screenshot(path=SHOTS / "10_review_queue.png", full_page=True)
    page.locator("section.review").first.locator("button[value=reject]").click()
    page.wait_for_selector("section.review.done")
    assert "已否决关联" in page.inner_text("section.review.done")

    province = open_as(browser, server, "sheng", errors)
    province.goto("/audit")
    text = province.inner_text("#audit")
    assert "录入核查结果" in text or "查看预警" in text
    assert "关联人工确认" in text
    assert not re.search(r"\d{17}[\dX]", text)  # ID numbers masked in the log view
    province.screenshot(path=SHOTS / "11_access_log_province.png", full_page=True)
    assert not errors, errors
