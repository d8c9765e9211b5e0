"""The FastAPI application: factory, security headers, sign-in state and error pages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from safetynet.log import get_logger, redact
from safetynet.workbench import labels
from safetynet.workbench.auth import User, csrf_ok, session_user
from safetynet.workbench.db import (
    CachedWarehouse,
    Warehouse,
    WarehouseBusy,
    ensure_schema,
    existing_tables,
)
from safetynet.workbench.queries import Source, build_quarter, direct_source
from safetynet.workbench.scope import (
    DISPOSING_ROLES,
    REVIEWING_ROLES,
    sees_full_identity,
    show_id,
    show_name,
)

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "sn_session"
LOGIN_CSRF_COOKIE = "sn_login_csrf"
log = get_logger("safetynet.workbench")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


class NeedLogin(Exception):
    """No live session: send the browser to the sign-in page."""


class NotVisible(Exception):
    """The object does not exist or is outside the user's scope (both answer 404)."""


class Forbidden(Exception):
    """The user's role may not use this page or action."""


class BadRequest(Exception):
    """A form value is not acceptable; the message is shown to the user in Chinese."""


@dataclass
class Reader:
    """One request's read: a connection, the signed-in user, their CSRF token, table list."""

    con: duckdb.DuckDBPyConnection
    user: User
    csrf: str
    tables: frozenset[str]
    warehouse: Warehouse

    @contextmanager
    def quarter(self, as_of: date | None) -> Iterator[Source | None]:
        """The quarter's warning table: the in-memory copy when it fits, else the warehouse."""
        if as_of is None or "warnings.warnings" not in self.tables:
            yield None
            return
        cache = self.warehouse.cache
        name = cache.table(as_of, self.warehouse.generation,
                           lambda: build_quarter(self.con, self.tables, as_of, cache.max_rows))
        if name is None:
            yield direct_source(self.con, self.tables, as_of)
            return
        cur = cache.cursor()
        try:
            yield Source(cur, name, [], cached=True)
        finally:
            cur.close()


def wh(request: Request) -> Warehouse:
    return request.app.state.warehouse


@contextmanager
def reading(request: Request, *, csrf: str | None = None) -> Iterator[Reader]:
    """Open the warehouse for a read, resolve the session, check the CSRF token if given."""
    with wh(request).read() as con:
        found = session_user(con, request.cookies.get(SESSION_COOKIE))
        if found is None:
            raise NeedLogin()
        user, token = found
        if csrf is not None and not csrf_ok(token, csrf or request.headers.get("X-CSRF-Token")):
            raise Forbidden("表单已过期或来源不明（CSRF校验失败），请刷新页面后重试。")
        yield Reader(con, user, token, existing_tables(con), wh(request))


def is_htmx(request: Request) -> bool:
    return (request.headers.get("HX-Request") == "true"
            and request.headers.get("HX-History-Restore-Request") != "true")


def render(request: Request, template: str, context: dict[str, Any],
           status_code: int = 200) -> HTMLResponse:
    """Render a Jinja2 template with the common context (user, CSRF token, labels)."""
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def _quarter(d: date | None) -> str:
    if d is None:
        return ""
    return f"{d.year}年第{(d.month - 1) // 3 + 1}季度"


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    env = templates.env
    env.globals.update(L=labels, show_id=show_id, show_name=show_name,
                       sees_full_identity=sees_full_identity, DISPOSING_ROLES=DISPOSING_ROLES,
                       REVIEWING_ROLES=REVIEWING_ROLES, today=date.today,
                       value_label=labels.value_label, field_label=labels.field_label)
    env.filters.update(label=lambda code, mapping: labels.label(mapping, code),
                       quarter=_quarter, redact=redact,
                       field_label=labels.field_label, value_label=labels.value_label,
                       routes=labels.routes_label)
    return templates


def _security_headers(response: Response) -> None:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Cache-Control", "no-store")


def _install_handlers(app: FastAPI) -> None:
    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        _security_headers(response)
        return response

    def page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
        return render(request, "error.html", {"title": title, "message": message,
                                              "user": None}, status_code=status)

    @app.exception_handler(NeedLogin)
    async def need_login(request: Request, exc: NeedLogin) -> Response:
        if is_htmx(request):
            return Response(status_code=200, headers={"HX-Redirect": "/login"})
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(NotVisible)
    async def not_visible(request: Request, exc: NotVisible) -> Response:
        return page(request, 404, "未找到", "未找到该记录，或该记录不在您的管辖范围内。")

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return page(request, 403, "无权操作", str(exc) or "您的角色无权使用此功能。")

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, exc: BadRequest) -> Response:
        return page(request, 400, "输入有误", str(exc))

    @app.exception_handler(WarehouseBusy)
    async def busy(request: Request, exc: WarehouseBusy) -> Response:
        return page(request, 503, "仓库正在更新",
                    "数据仓库正被季度比对运行占用，请稍后刷新页面。")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return page(request, 404, "未找到", "页面不存在。")
        return page(request, exc.status_code, "请求错误", "请求无法处理。")


def create_app(warehouse: Path, *, read_only: bool = True, secure_cookies: bool = False,
               idle_release_s: float = 300.0) -> FastAPI:
    """The workbench over one warehouse file (see db.py for how the file is held).

    Args:
        warehouse: the DuckDB file pipeline runs write.
        read_only: True (default) keeps a warm read-only connection and writes (sign-in,
            access log, dispositions) through short read-write connections; False keeps a warm
            read-write connection (no cold page after a write). Either way the file is let go
            when a quarterly run takes its run lock and after `idle_release_s` idle seconds.
        secure_cookies: mark cookies `Secure` (set when served over HTTPS).
        idle_release_s: seconds without a request after which the file is closed.
    """
    from safetynet.workbench.routes import router

    warehouse = Path(warehouse)
    ensure_schema(warehouse)
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.warehouse.close()

    app = FastAPI(title="社会救助比对工作台", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    app.state.warehouse = CachedWarehouse(warehouse, read_only=read_only,
                                          idle_release_s=idle_release_s)
    app.state.templates = _templates()
    app.state.secure_cookies = secure_cookies
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(router)
    _install_handlers(app)
    return app
