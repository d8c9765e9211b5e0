"""`safetynet web ...`: serve the workbench and manage its accounts (typer app to mount)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="数据工作台 (web workbench): serve, adduser, demo.", no_args_is_help=True,
                  add_completion=False)

WarehouseOpt = Annotated[Path, typer.Option("--warehouse", help="DuckDB warehouse file.")]


@app.command()
def serve(
    warehouse: WarehouseOpt = Path("var/safetynet.duckdb"),
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8765,
    read_only: Annotated[bool, typer.Option(
        "--read-only/--read-write",
        help="Keep a warm read-only connection and write through short read-write ones "
             "(default), or keep a warm read-write connection (no cold page after a write).")
    ] = True,
    idle_release: Annotated[float, typer.Option(
        help="Seconds without a request after which the warehouse file is let go.")] = 300.0,
    secure_cookies: Annotated[bool, typer.Option(
        help="Mark cookies Secure (behind an HTTPS proxy).")] = False,
) -> None:
    """Start the workbench (FastAPI + uvicorn) on the warehouse."""
    import uvicorn

    from safetynet.workbench.app import create_app

    if not warehouse.exists():
        typer.echo(f"仓库文件不存在 / warehouse not found: {warehouse}", err=True)
        raise typer.Exit(2)
    from safetynet.workbench.db import WarehouseBusy

    try:
        application = create_app(warehouse, read_only=read_only, secure_cookies=secure_cookies,
                                 idle_release_s=idle_release)
    except WarehouseBusy:
        typer.echo(f"仓库正被另一进程占用（比对运行中？）/ warehouse is busy: {warehouse}",
                   err=True)
        raise typer.Exit(3) from None
    # Access lines carry paths and query strings only: no ID number is ever in a URL.
    uvicorn.run(application, host=host, port=port, log_level="info", proxy_headers=False)


@app.command()
def adduser(
    username: Annotated[str, typer.Option(help="Login name.")],
    role: Annotated[str, typer.Option(help="province | prefecture | county | town | department")],
    region: Annotated[str, typer.Option(help="Region-code prefix of the scope, e.g. 430102.")],
    department: Annotated[str | None, typer.Option(
        help="Department code for role=department, e.g. medical_security.")] = None,
    display_name: Annotated[str, typer.Option(help="Name shown in the page header.")] = "",
    password: Annotated[str, typer.Option(
        prompt="密码 / password", hide_input=True, confirmation_prompt=True,
        help="Prompted for when not given.")] = "",
    replace: Annotated[bool, typer.Option(help="Replace an existing account.")] = False,
    warehouse: WarehouseOpt = Path("var/safetynet.duckdb"),
) -> None:
    """Create an account (scrypt-hashed password) in meta.users."""
    from safetynet.warehouse import connect
    from safetynet.workbench.auth import AccountError, add_user
    from safetynet.workbench.db import WORKBENCH_DDL

    con = connect(warehouse)
    try:
        con.execute(WORKBENCH_DDL)
        add_user(con, username, password, role, region, department, display_name,
                 replace=replace)
    except AccountError as exc:
        typer.echo(f"错误 / error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        con.close()
    typer.echo(f"已创建用户 {username}（{role}，管辖 {region}"
               f"{'，部门 ' + department if department else ''}）")


@app.command()
def demo(
    warehouse: WarehouseOpt = Path("var/workbench-demo.duckdb"),
    warnings: Annotated[int, typer.Option(help="Warnings in the latest quarter.")] = 2000,
    password: Annotated[str, typer.Option(
        prompt="演示账号密码 / demo password", hide_input=True,
        help="Password of every demo account.")] = "",
) -> None:
    """Build a synthetic demo warehouse (never a real one) with one account per role."""
    from safetynet.workbench.demo import DEMO_USERS, add_demo_users, build_demo_warehouse

    if warehouse.exists():
        typer.echo(f"文件已存在，不会覆盖 / exists, not overwritten: {warehouse}", err=True)
        raise typer.Exit(2)
    build_demo_warehouse(warehouse, warnings=warnings)
    add_demo_users(warehouse, password)
    for username, role, scope, dept, _ in DEMO_USERS:
        typer.echo(f"{username:12} {role:10} {scope:8} {dept or ''}")
    typer.echo(f"safetynet web serve --warehouse {warehouse}")


if __name__ == "__main__":
    app()
