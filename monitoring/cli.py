"""`safetynet monitor ...`: lifecycle, feedback, deliver, overdue, chain, yield, backtest.

A typer sub-app; the main CLI mounts it (`app.add_typer(monitor_app, name="monitor")`).
Nothing printed here shows a full ID number or name.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from safetynet.errors import SafetynetError
from safetynet.outputs import write_csv, write_xlsx
from safetynet.privacy import mask_id
from safetynet.warehouse import connect

app = typer.Typer(help="跨季度监测：预警生命周期、反馈、推送、逾期、救助链、成效、规则回测。",
                  no_args_is_help=True, add_completion=False)
console = Console()

Warehouse = Annotated[Path, typer.Option("--warehouse", help="DuckDB warehouse file.")]
AsOf = Annotated[str, typer.Option("--as-of", help="Comparison date (YYYY-MM-DD).")]
Out = Annotated[Path | None, typer.Option("--out", help="Also write the report (.xlsx or .csv).")]
Actor = Annotated[str, typer.Option("--actor", help="Who does this (audit trail).")]
DEFAULT_WAREHOUSE = Path("var/safetynet.duckdb")


def _actor(value: str | None) -> str:
    return value or getpass.getuser()


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]错误 / error:[/] {exc}")
    raise typer.Exit(2) from None


def _show(title: str, headers: Sequence[str], rows: list[list[Any]], out: Path | None) -> None:
    table = Table(title=title)
    for h in headers:
        table.add_column(str(h))
    for r in rows[:200]:
        table.add_row(*("" if v is None else str(v) for v in r))
    console.print(table)
    if len(rows) > 200:
        console.print(f"（仅显示前 200 行，共 {len(rows)} 行）")
    if out:
        writer = write_csv if out.suffix.lower() == ".csv" else write_xlsx
        writer(out, headers, rows)
        console.print(f"已写出 / written: {out}")


@app.command("lifecycle")
def lifecycle_cmd(as_of: AsOf, warehouse: Warehouse = DEFAULT_WAREHOUSE, out: Out = None,
                  actor: Actor = "") -> None:
    """Update the warning lifecycle for a quarter; print new / persisting / resolved per rule x county."""
    from .lifecycle import (
        QUARTER_REPORT_HEADERS,
        quarter_report,
        quarter_report_rows,
        update_lifecycle,
    )

    con = connect(warehouse)
    try:
        summary = update_lifecycle(con, date.fromisoformat(as_of), actor=_actor(actor))
        rows = quarter_report_rows(quarter_report(con, summary.as_of))
    except SafetynetError as exc:
        _fail(exc)
    finally:
        con.close()
    prev = summary.previous_as_of or "无"
    _show(f"{summary.as_of} 与 {prev} 相比（状态变化 {summary.status_changes} 条）",
          QUARTER_REPORT_HEADERS, rows, out)


@app.command("feedback")
def feedback_cmd(files: Annotated[list[Path], typer.Argument(help="Returned referral files.")],
                 warehouse: Warehouse = DEFAULT_WAREHOUSE, actor: Actor = "",
                 report_dir: Annotated[Path | None, typer.Option(
                     help="Folder for the error reports (default: beside each file).")] = None
                 ) -> None:
    """Import department feedback files (XLSX or CSV); exit code 1 when any row was rejected."""
    from .feedback import REPORT_SUFFIX, intake_feedback_file

    con = connect(warehouse)
    rejected = 0
    try:
        for path in files:
            if path.name.endswith(REPORT_SUFFIX):
                console.print(f"{path.name}: 校验错误报告，跳过 / error report, skipped")
                continue
            res = intake_feedback_file(con, path, actor=_actor(actor), report_dir=report_dir)
            rejected += len(res.errors)
            console.print(f"{res.file}: 导入 {res.applied}，已导入过 {res.already_recorded}，"
                          f"未填写 {res.unanswered}，拒收 {len(res.errors)}")
            for e in res.errors[:20]:
                console.print(f"  [red]{e.message}[/]")
            if res.report_path:
                console.print(f"  错误报告 / error report: {res.report_path}")
    except SafetynetError as exc:
        _fail(exc)
    finally:
        con.close()
    if rejected:
        raise typer.Exit(1)


@app.command("deliver")
def deliver_cmd(as_of: AsOf,
                config: Annotated[Path, typer.Option(help="Delivery destinations YAML.")],
                referrals: Annotated[Path | None, typer.Option(
                    help="Referral folder (default: var/out/<as_of>/referrals).")] = None,
                warehouse: Warehouse = DEFAULT_WAREHOUSE, actor: Actor = "") -> None:
    """Deliver the quarter's referral files to each department's drop folder or database."""
    from .delivery import deliver

    folder = referrals or Path("var/out") / as_of / "referrals"
    con = connect(warehouse)
    try:
        report = deliver(con, date.fromisoformat(as_of), folder, config, actor=_actor(actor))
    except SafetynetError as exc:
        _fail(exc)
    finally:
        con.close()
    rows = [[r.department, r.county_code, r.format, r.status, r.rows, r.destination, r.error]
            for r in report.records]
    _show(f"{as_of} 推送：新推送 {report.count('delivered')}，未变化 {report.count('unchanged')}，"
          f"失败 {report.count('failed')}", ("部门", "区县", "格式", "结果", "条数", "目的地", "错误"),
          rows, None)
    if report.count("failed"):
        raise typer.Exit(1)


@app.command("overdue")
def overdue_cmd(today: Annotated[str | None, typer.Option(help="Check date (default today).")] = None,
                grace: Annotated[int, typer.Option(help="Working days before escalation.")] = 10,
                holidays: Annotated[Path | None, typer.Option(help="Regional holiday folder.")] = None,
                warehouse: Warehouse = DEFAULT_WAREHOUSE, out: Out = None, actor: Actor = "",
                dry_run: Annotated[bool, typer.Option(help="Report only, escalate nothing.")] = False
                ) -> None:
    """Overdue list per county and department (official working days); escalate past the grace."""
    from .deadlines import OVERDUE_HEADERS, overdue, overdue_rows

    day = date.fromisoformat(today) if today else date.today()
    con = connect(warehouse)
    try:
        report = overdue(con, day, grace_working_days=grace, holidays_dir=holidays,
                         escalate=not dry_run, actor=_actor(actor))
    except SafetynetError as exc:
        _fail(exc)
    finally:
        con.close()
    groups = [[g.county_code, g.department, g.open, g.overdue, g.escalated,
               g.max_overdue_working_days] for g in report.groups]
    _show(f"{day} 逾期汇总（宽限 {grace} 个工作日，新上报 {report.newly_escalated}）",
          ("区县", "部门", "未办结", "逾期", "已上报", "最长逾期工作日"), groups, None)
    _show("逾期清单", OVERDUE_HEADERS, overdue_rows(report), out)


@app.command("chain")
def chain_cmd(household_id: Annotated[str, typer.Argument(help="Household id (户编号).")],
              warehouse: Warehouse = DEFAULT_WAREHOUSE) -> None:
    """A household's whole record in time order (一户一条救助链); ID numbers masked."""
    from .chain import household_chain

    con = connect(warehouse, read_only=True)
    try:
        events = household_chain(con, household_id)
    except SafetynetError as exc:
        _fail(exc)
    finally:
        con.close()
    rows = [[e.at.strftime("%Y-%m-%d %H:%M") if e.at.time() != e.at.min.time()
             else e.at.date().isoformat(), e.kind, mask_id(e.person_id), e.source, e.summary]
            for e in events]
    _show(f"户 {household_id} 救助链（{len(events)} 条）", ("时间", "类别", "人员", "来源", "内容"),
          rows, None)


@app.command("yield")
def yield_cmd(as_of: Annotated[str | None, typer.Option("--as-of", help="One quarter only.")] = None,
              warehouse: Warehouse = DEFAULT_WAREHOUSE, out: Out = None,
              by_direction: Annotated[bool, typer.Option(
                  help="应保未保 vs 应退尽退 per county instead of per rule.")] = False) -> None:
    """Raised -> verified -> confirmed -> adjusted / enrolled per rule, county and quarter."""
    from .yield_stats import (
        DIRECTION_HEADERS,
        YIELD_HEADERS,
        direction_rows,
        yield_by_direction,
        yield_rows,
        yield_stats,
    )

    con = connect(warehouse)
    try:
        if by_direction:
            _show("应保未保与应退尽退成效", DIRECTION_HEADERS,
                  direction_rows(yield_by_direction(con, as_of)), out)
        else:
            _show("预警成效", YIELD_HEADERS, yield_rows(yield_stats(con, as_of)), out)
    except SafetynetError as exc:
        _fail(exc)
    finally:
        con.close()


@app.command("backtest")
def backtest_cmd(pack: Annotated[str, typer.Option(help="Changed rule pack (name or YAML).")],
                 as_of: Annotated[list[str] | None, typer.Option(
                     "--as-of", help="Quarter(s) to replay (default: all stored).")] = None,
                 baseline: Annotated[str | None, typer.Option(
                     help="Compare with this pack instead of the stored warnings.")] = None,
                 holidays: Annotated[Path | None, typer.Option(help="Regional holiday folder.")] = None,
                 warehouse: Warehouse = DEFAULT_WAREHOUSE, out: Out = None) -> None:
    """What a changed rule pack would have added / removed per rule and county (live data untouched)."""
    from .backtest import BACKTEST_HEADERS, backtest, backtest_rows

    con = connect(warehouse, read_only=True)
    try:
        result = backtest(con, pack, as_of or None, baseline_pack=baseline,
                          holidays_dir=holidays)
    except SafetynetError as exc:
        _fail(exc)
    finally:
        con.close()
    _show(f"规则回测：{result.pack} 对比 {result.baseline}", BACKTEST_HEADERS,
          backtest_rows(result), out)
