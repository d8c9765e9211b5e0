"""Pages and actions of the workbench. Every read is scoped in SQL (queries.py, scope.py)."""

from __future__ import annotations

import re
import secrets
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from safetynet.outputs import xlsx_bytes
from safetynet.workbench import labels
from safetynet.workbench.actions import (
    DECISIONS,
    RESULTS,
    log_access,
    record_disposition,
    record_review_decision,
)
from safetynet.workbench.app import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    BadRequest,
    Forbidden,
    NotVisible,
    Reader,
    is_htmx,
    reading,
    render,
    wh,
)
from safetynet.workbench.auth import (
    SESSION_HOURS,
    authenticate,
    create_session,
    csrf_ok,
    end_session,
)
from safetynet.workbench.charts import SEVERITY_COLOURS, bar_chart, line_chart
from safetynet.workbench.evidence import load_json, mask_tree, read_evidence, summary_text
from safetynet.workbench.queries import (
    CHAIN_KINDS,
    PER_PAGE_CHOICES,
    Page,
    WarningFilter,
    access_log,
    chain_events,
    export_rows,
    filter_options,
    find_review_item,
    find_warning,
    household_chain,
    overview,
    quarters,
    record_link,
    review_queue,
    warning_context,
    warning_id,
    warning_page,
)
from safetynet.workbench.scope import (
    DISPOSING_ROLES,
    REVIEWING_ROLES,
    sees_full_identity,
    show_id,
    show_name,
)

router = APIRouter()
FormStr = Annotated[str, Form()]
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
_HOUSEHOLD = re.compile(r"^[\w\-.]{1,64}$")


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _cookie(response: Response, request: Request, name: str, value: str, *, max_age: int | None,
            path: str = "/") -> None:
    response.set_cookie(name, value, max_age=max_age, path=path, httponly=True,
                        samesite="strict", secure=request.app.state.secure_cookies)


# --- sign-in -------------------------------------------------------------------------------

def _login_form(request: Request, error: str = "", status: int = 200) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", {"login_csrf": token, "error": error, "user": None},
                      status_code=status)
    _cookie(response, request, LOGIN_CSRF_COOKIE, token, max_age=3600, path="/login")
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    """The sign-in form."""
    return _login_form(request)


@router.post("/login")
def login(request: Request, username: FormStr = "", password: FormStr = "",
          csrf_token: FormStr = "") -> Response:
    """Check the password (scrypt), start a server-side session, log the attempt."""
    if not csrf_ok(request.cookies.get(LOGIN_CSRF_COOKIE), csrf_token):
        return _login_form(request, "页面已过期，请重新登录。", 400)
    username = username.strip()[:64]
    with wh(request).read() as con:
        failures = con.execute(
            "select count(*) from meta.access_log where action = 'login_failed' "
            "and username = ? and ts > ?", [username, datetime.now() - LOCKOUT]).fetchone()[0]
        locked = failures >= MAX_FAILED_LOGINS
        user = None if locked or not username else authenticate(con, username, password)
    with wh(request).write() as con:
        if user is None:
            log_access(con, username, "login_failed", "", {"locked": locked})
        else:
            token, _ = create_session(con, user.username)
            log_access(con, user.username, "login")
    if user is None:
        message = ("登录失败次数过多，请15分钟后再试。" if locked else "用户名或密码错误。")
        return _login_form(request, message, 401)
    response = RedirectResponse("/", status_code=303)
    _cookie(response, request, SESSION_COOKIE, token, max_age=SESSION_HOURS * 3600)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: FormStr = "") -> Response:
    """End the session."""
    with reading(request, csrf=csrf_token) as r:
        username = r.user.username
    with wh(request).write() as con:
        end_session(con, request.cookies.get(SESSION_COOKIE))
        log_access(con, username, "logout")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- overview --------------------------------------------------------------------------------

def _pick_quarter(available: list[date], wanted: date | None) -> date | None:
    if wanted in available:
        return wanted
    return available[0] if available else None


@router.get("/", response_class=HTMLResponse)
def overview_page(request: Request, as_of: str | None = None) -> Response:
    """Run overview: counts per rule, severity, county, direction and the trend over quarters."""
    with reading(request) as r:
        available = quarters(r.con, r.tables)
        chosen = _pick_quarter(available, _date(as_of))
        with r.quarter(chosen) as src:
            data = overview(r.con, r.tables, src, r.user, chosen)
    trend_quarters = sorted({row[0] for row in data["trend"]})
    series: dict[str, list[int]] = {}
    counts = {(row[0], row[1]): row[2] for row in data["trend"]}
    for direction in sorted({row[1] for row in data["trend"]}):
        series[labels.label(labels.DIRECTION, direction)] = [
            counts.get((q, direction), 0) for q in trend_quarters]
    series["合计"] = [sum(counts.get((q, d), 0) for d in {row[1] for row in data["trend"]})
                    for q in trend_quarters]
    charts = {
        "rule": bar_chart([(t or rid, n) for rid, t, n, _ in data["by_rule"]], title="按规则"),
        "severity": bar_chart([(labels.label(labels.SEVERITY, s), n)
                               for s, n in data["by_severity"]],
                              colours=SEVERITY_COLOURS, title="按严重程度"),
        "county": bar_chart([(c or "未知", n) for c, n in data["by_county"]], title="按区县"),
        "direction": bar_chart([(labels.label(labels.DIRECTION, d), n)
                                for d, n in data["by_direction"]], title="按方向"),
        "status": bar_chart([(labels.label(labels.STATUS, s), n) for s, n in data["by_status"]],
                            title="处理状态"),
        "trend": line_chart([_short_quarter(q) for q in trend_quarters], series,
                            title="季度趋势"),
    }
    return render(request, "overview.html", {
        "user": r.user, "csrf": r.csrf, "quarters": available, "as_of": chosen, "data": data,
        "charts": charts, "nav": "overview"})


def _short_quarter(d: date) -> str:
    return f"{d.year}Q{(d.month - 1) // 3 + 1}"


# --- warning table ---------------------------------------------------------------------------

def _resolve_filter(r: Reader, f: WarningFilter) -> tuple[WarningFilter, list[date]]:
    available = quarters(r.con, r.tables)
    return replace(f, as_of=_pick_quarter(available, f.as_of)), available


@router.get("/warnings", response_class=HTMLResponse)
def warnings_page(request: Request) -> Response:
    """The warning table: server-side filter, sort and paging; HTMX swaps only the table area."""
    f = WarningFilter.from_params(request.query_params)
    with reading(request) as r:
        f, available = _resolve_filter(r, f)
        with r.quarter(f.as_of) as src:
            page = warning_page(src, r.user, f) if src else Page([], 0, 1, f.per_page)
            options = filter_options(src, r.user) if src else {"rules": [], "counties": []}
    context = {"user": r.user, "csrf": r.csrf, "f": replace(f, page=page.page), "page": page,
               "options": options, "quarters": available, "per_page_choices": PER_PAGE_CHOICES,
               "nav": "warnings"}
    if not is_htmx(request):
        return render(request, "warnings.html", context)
    response = render(request, "_warning_area.html", context)
    # the address bar shows the canonical filter (no empty fields), so it can be bookmarked
    query = context["f"].query()
    response.headers["HX-Push-Url"] = "/warnings" + ("?" + query if query else "")
    return response


EXPORT_HEADERS = ("预警编号", "规则编号", "预警名称", "预警方向", "严重程度", "本季情况",
                  "处理状态", "是否逾期", "对象类型", "姓名", "身份证号", "户编号", "区县代码",
                  "区划代码", "转办部门", "办理期限", "预警依据")


@router.post("/warnings/export")
def export_warnings(request: Request, csrf_token: FormStr = "") -> Response:
    """The current filter (query string) as XLSX; logged in the access log."""
    f = WarningFilter.from_params(request.query_params)
    with reading(request, csrf=csrf_token) as r:
        f, _ = _resolve_filter(r, f)
        rows = export_rows(r.con, r.tables, r.user, f)
        user = r.user
    full = sees_full_identity(user)
    data = xlsx_bytes(EXPORT_HEADERS, (
        (warning_id(w["warning_key"]), w["rule_id"], w["title"],
         labels.label(labels.DIRECTION, w["direction"]),
         labels.label(labels.SEVERITY, w["severity"]), labels.label(labels.STATE, w["state"]),
         labels.label(labels.STATUS, w["status"]), "是" if w["overdue"] else "否",
         labels.label(labels.SUBJECT, w["subject_level"]), show_name(user, w["name"]),
         show_id(user, w["person_id"], detail=True), w["household_id"], w["county_code"],
         w["region_code"], labels.routes_label(w["routes"]), w["due_date"],
         summary_text(read_evidence(w["evidence"], full=full)))
        for w in rows), sheet_title="预警清单")
    with wh(request).write() as con:
        log_access(con, user.username, "export", "warnings",
                   {"filter": f.params(page=1), "rows": len(rows), "full_identity": full})
    name = f"预警清单_{f.as_of or ''}_{datetime.now():%Y%m%d%H%M%S}.xlsx"
    return Response(data, media_type="application/vnd.openxmlformats-officedocument."
                    "spreadsheetml.sheet", headers={
                        "Content-Disposition": f"attachment; filename=\"warnings.xlsx\"; "
                                               f"filename*=UTF-8''{quote(name)}"})


# --- one warning -----------------------------------------------------------------------------

def _detail_context(r: Reader, warning: dict[str, Any]) -> dict[str, Any]:
    full = sees_full_identity(r.user)
    ctx = warning_context(r.con, r.tables, r.user, warning)
    evidence = read_evidence(warning.get("evidence"), full=full)
    links = []
    for rec in evidence.records:
        link = record_link(r.con, r.tables, warning["as_of"], rec.source, rec.table,
                           rec.record_key)
        if link is not None:
            link["explanation"] = mask_tree(load_json(link["explanation"]), full)
            link["person_id"] = show_id(r.user, link["person_id"], detail=True)
        links.append(link)
    return {"user": r.user, "csrf": r.csrf, "w": warning, "wid": warning_id(warning["warning_key"]),
            "evidence": evidence, "record_links": links, "nav": "warnings",
            "results": RESULTS, "can_dispose": r.user.role in DISPOSING_ROLES, **ctx}


@router.get("/w/{wid}", response_class=HTMLResponse)
def warning_detail(request: Request, wid: str, as_of: str | None = None) -> Response:
    """A warning with its evidence, link explanation, history and disposition (logged)."""
    with reading(request) as r:
        warning = find_warning(r.con, r.tables, r.user, wid, _date(as_of))
        if warning is None:
            raise NotVisible()
        context = _detail_context(r, warning)
    with wh(request).write() as con:
        log_access(con, r.user.username, "view_warning", warning["warning_key"],
                   {"as_of": warning["as_of"], "full_identity": sees_full_identity(r.user)})
    return render(request, "warning_detail.html", context)


@router.post("/w/{wid}/disposition", response_class=HTMLResponse)
def dispose(request: Request, wid: str, result: FormStr = "", result_date: FormStr = "",
            officer: FormStr = "", note: FormStr = "", csrf_token: FormStr = "") -> Response:
    """Enter a verification result; the lifecycle changes through record_disposition."""
    with reading(request, csrf=csrf_token) as r:
        if r.user.role not in DISPOSING_ROLES:
            raise Forbidden("您的角色只能查看，不能录入核查结果。")
        warning = find_warning(r.con, r.tables, r.user, wid)
        if warning is None:
            raise NotVisible()
        user = r.user
    when = _date(result_date)
    error = ""
    if result not in RESULTS:
        error = "请选择核查结果。"
    elif when is None or when > date.today():
        error = "请填写核查日期（不晚于今天）。"
    elif len(note) > 1000 or len(officer) > 50:
        error = "备注不超过1000字，核查人不超过50字。"
    if not error:
        try:
            with wh(request).write(changes_warnings=True) as con:
                record_disposition(con, warning["warning_key"], result, when,
                                   officer.strip() or user.display_name, note.strip(),
                                   channel="web", actor=user.username, as_of=warning["as_of"])
                log_access(con, user.username, "disposition", warning["warning_key"],
                           {"result": result, "result_date": when, "as_of": warning["as_of"]})
        except ValueError as exc:
            error = str(exc)
    if not is_htmx(request):
        if error:
            raise BadRequest(error)
        return RedirectResponse(f"/w/{wid}", status_code=303)
    with reading(request) as r:
        fresh = find_warning(r.con, r.tables, r.user, wid) or warning
        context = _detail_context(r, fresh)
    context.update(error=error, saved=not error)
    return render(request, "_disposition.html", context)


# --- household chain -------------------------------------------------------------------------

@router.get("/households/{household_id}", response_class=HTMLResponse)
def household(request: Request, household_id: str) -> Response:
    """A household's members and its warnings quarter by quarter (logged)."""
    if not _HOUSEHOLD.match(household_id):
        raise NotVisible()
    with reading(request) as r:
        if r.user.is_department:
            raise Forbidden("部门用户只能查看转办给本部门的预警。")
        chain = household_chain(r.con, r.tables, r.user, household_id)
        if chain is None:
            raise NotVisible()
        events = chain_events(r.con, r.user, household_id,
                              {c["warning_key"] for c in chain["chain"]}, chain["members"])
    with wh(request).write() as con:
        log_access(con, r.user.username, "view_household", household_id,
                   {"members": len(chain["members"]), "warnings": len(chain["chain"])})
    return render(request, "household.html", {
        "user": r.user, "csrf": r.csrf, "household_id": household_id, "nav": "warnings",
        "events": events, "kinds": CHAIN_KINDS,
        "member_names": {m["person_id"]: m["name"] for m in chain["members"]}, **chain})


# --- review queue ----------------------------------------------------------------------------

def _link_quarters(r: Reader) -> list[date]:
    if "links.record_links" not in r.tables:
        return []
    return [row[0] for row in r.con.execute(
        "select distinct as_of from links.record_links order by 1 desc").fetchall()]


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request, as_of: str | None = None, page: int = 1) -> Response:
    """Uncertain links whose candidate person is in scope, for an officer to decide."""
    with reading(request) as r:
        if r.user.is_department:
            raise Forbidden("部门用户无权查看关联确认队列。")
        available = _link_quarters(r)
        chosen = _pick_quarter(available, _date(as_of))
        items = review_queue(r.con, r.tables, r.user, chosen, page)
    full = sees_full_identity(r.user)
    for item in items.rows:
        item["explanation"] = mask_tree(load_json(item["explanation"]), full)
    if items.rows:
        with wh(request).write() as con:
            log_access(con, r.user.username, "view_review_queue", "review",
                       {"as_of": chosen, "items": [i["rid"] for i in items.rows]})
    return render(request, "review.html", {
        "user": r.user, "csrf": r.csrf, "items": items, "quarters": available, "as_of": chosen,
        "can_review": r.user.role in REVIEWING_ROLES, "nav": "review"})


@router.post("/review/{rid}", response_class=HTMLResponse)
def review_decide(request: Request, rid: str, decision: FormStr = "", reason: FormStr = "",
                  csrf_token: FormStr = "") -> Response:
    """Accept or reject one uncertain link (links.review_decisions; logged)."""
    with reading(request, csrf=csrf_token) as r:
        if r.user.role not in REVIEWING_ROLES:
            raise Forbidden("您的角色无权确认关联。")
        item = find_review_item(r.con, r.tables, r.user, rid)
        if item is None:
            raise NotVisible()
        user = r.user
    if decision not in DECISIONS or len(reason) > 500:
        raise BadRequest("请选择确认或否决，说明不超过500字。")
    with wh(request).write() as con:
        record_review_decision(con, item["source"], item["record_key"], item["person_id"],
                               decision, user.username, reason.strip())
        log_access(con, user.username, "review_decision",
                   f"{item['source']}:{item['record_key']}",
                   {"decision": decision, "person_id": item["person_id"]})
    if is_htmx(request):
        return render(request, "_review_done.html", {"decision": decision, "rid": rid,
                                                     "user": user})
    return RedirectResponse("/review", status_code=303)


# --- access log ------------------------------------------------------------------------------

@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, action: str = "", username: str = "", page: int = 1) -> Response:
    """The access log (views of persons, exports, dispositions), for the province role."""
    with reading(request) as r:
        if r.user.role != "province":
            raise Forbidden("只有省级工作人员可以查看访问日志。")
        action = action if action in labels.ACTIONS else ""
        entries = access_log(r.con, r.user, action=action, username=username.strip()[:64],
                             page=page)
    return render(request, "audit.html", {
        "user": r.user, "csrf": r.csrf, "entries": entries, "action": action,
        "username": username, "nav": "audit"})
