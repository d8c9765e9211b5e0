"""`safetynet` command line: run a quarter, show its summary, export the scoring CSVs."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from safetynet.errors import SafetynetError
from safetynet.settings import PROJECT_ROOT, RunSettings, quarter_end_before

app = typer.Typer(help="safetynet：低收入人口数据库季度跨部门比对 (quarterly comparison).",
                  no_args_is_help=True, add_completion=False)
export_app = typer.Typer(help="Export scoring CSVs (links, warnings).", no_args_is_help=True)
app.add_typer(export_app, name="export")


def _mount(module: str, name: str, help_text: str) -> None:
    """Mount a part's own typer app (monitoring, workbench) as a sub-command."""
    import importlib

    try:
        sub = importlib.import_module(module).app
    except ModuleNotFoundError as exc:  # that part is not in this build; any other error shows
        if exc.name != module:
            raise
        return
    app.add_typer(sub, name=name, help=help_text)


_mount("safetynet.matching.cli", "link",
       "人员关联：解释、复核队列导出导入、评估、质量报告 / linkage tools.")
_mount("safetynet.monitoring.cli", "monitor",
       "跨季度跟踪：生命周期、反馈导入、推送、逾期、户链、成效、规则回测 / monitoring.")
_mount("safetynet.workbench.cli", "web", "数据专员工作台（网页）/ the officers' web workbench.")
console = Console()

SAMPLE_SOURCES = PROJECT_ROOT / "sample_data" / "sources"
SAMPLE_QUARTERS = ("2026-06-30", "2026-09-30")

AsOf = Annotated[str | None, typer.Option("--as-of", help="Comparison date (default: end of "
                                          "the quarter just ended).")]
Warehouse = Annotated[Path, typer.Option("--warehouse", help="DuckDB warehouse file.")]


def _as_of(value: str | None) -> date:
    return date.fromisoformat(value) if value else quarter_end_before(date.today())


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]错误 / error:[/] {exc}")
    raise typer.Exit(2) from None


@app.command()
def run(
    as_of: AsOf = None,
    sources: Annotated[Path, typer.Option(help="Folder of source config YAML files.")] = SAMPLE_SOURCES,
    data: Annotated[Path | None, typer.Option(help="Folder the source paths are relative to "
                                              "(default: the sources folder's parent).")] = None,
    rules: Annotated[str, typer.Option(help="Rule pack name or YAML path.")] = "default",
    warehouse: Warehouse = Path("var/safetynet.duckdb"),
    out: Annotated[Path, typer.Option(help="Output folder (per quarter subfolder).")] = Path("var/out"),
    memory_limit: Annotated[str | None, typer.Option(help="DuckDB memory limit, e.g. 2GB.")] = None,
    threads: Annotated[int | None, typer.Option(help="DuckDB threads.")] = None,
    holidays: Annotated[Path | None, typer.Option(help="Extra holiday tables folder.")] = None,
    prefect: Annotated[bool, typer.Option("--prefect/--no-prefect",
                                          help="Run as a Prefect flow (default) or in-process.")] = False,
) -> None:
    """Compare one quarter: extract, check, link, warn, refer."""
    settings = RunSettings(as_of=_as_of(as_of), sources_dir=sources,
                           data_dir=data or sources.parent, warehouse=warehouse, out_dir=out,
                           rule_pack=rules, memory_limit=memory_limit, threads=threads,
                           holidays_dir=holidays)
    from safetynet.log import console_handler

    try:
        with console_handler():
            summary = _run(settings, prefect)
    except SafetynetError as exc:
        _fail(exc)
    _print_summary(summary)
    console.print(f"\n预警与转办文件 / outputs: [bold]{settings.run_out_dir}[/]"
                  f"\n仓库 / warehouse: [bold]{settings.warehouse}[/]")


def _run(settings: RunSettings, prefect: bool) -> dict[str, Any]:
    if prefect:
        from safetynet.flows.quarterly import quarterly_comparison

        return quarterly_comparison(**settings_to_flow_args(settings))
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from safetynet.pipeline import run_quarter

    if not console.is_terminal:  # cron, CI, a pipe: one plain line per stage, as it starts
        return run_quarter(settings, progress=lambda label: console.print(
            f"{settings.as_of} {label}", highlight=False))
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=False) as bar:
        task = None

        def step(label: str) -> None:
            nonlocal task
            if task is not None:
                bar.update(task, completed=1, total=1)
            task = bar.add_task(f"{settings.as_of} {label}", total=None)

        summary = run_quarter(settings, progress=step)
        if task is not None:
            bar.update(task, completed=1, total=1)
    return summary


def settings_to_flow_args(settings: RunSettings) -> dict[str, Any]:
    """RunSettings -> the flow's plain, serialisable parameters."""
    return {"as_of": settings.as_of.isoformat(), "sources_dir": str(settings.sources_dir),
            "data_dir": str(settings.data_dir), "warehouse": str(settings.warehouse),
            "out_dir": str(settings.out_dir), "rule_pack": settings.rule_pack,
            "memory_limit": settings.memory_limit}


@app.command()
def summary(as_of: AsOf = None, warehouse: Warehouse = Path("var/safetynet.duckdb"),
            as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show a stored run's summary (no personal data)."""
    from safetynet.lock import lock_holder
    from safetynet.pipeline import run_status, run_summary
    from safetynet.warehouse import connect

    if not warehouse.exists():
        _fail(SafetynetError(f"warehouse not found: {warehouse}"))
    con = connect(warehouse, read_only=True)
    try:
        data = run_summary(con, _as_of(as_of))
        run = run_status(con, _as_of(as_of))
    finally:
        con.close()
    status = run["status"] if run else "absent"
    if status == "running" and lock_holder(warehouse) is None:
        status = "interrupted"  # recorded as running, but no live run holds the warehouse
    if status != "finished":  # a killed or failed run must never read as a finished one
        Console(stderr=True).print(
            f"[bold yellow]注意 / warning:[/] {_as_of(as_of)} 的运行状态为 {status}（未完成），"
            f"以下数据不完整 / the run of this quarter did not finish (status {status}).")
    if as_json:
        sys.stdout.write(json.dumps({**data, "run_status": status}, ensure_ascii=False,
                                    indent=2) + "\n")
    else:
        _print_summary(data)


def _export(kind: str, as_of: str | None, warehouse: Path, out: Path) -> None:
    from safetynet import exports
    from safetynet.warehouse import connect

    if not warehouse.exists():
        _fail(SafetynetError(f"warehouse not found: {warehouse}"))
    con = connect(warehouse, read_only=True)
    try:
        n = getattr(exports, f"export_{kind}")(con, _as_of(as_of), out)
    finally:
        con.close()
    console.print(f"{n} rows -> {out}")


@export_app.command("links")
def export_links(as_of: AsOf = None, warehouse: Warehouse = Path("var/safetynet.duckdb"),
                 out: Annotated[Path, typer.Option()] = Path("links.csv")) -> None:
    """links.csv: source,source_record_key,id_number (one row per linked department record)."""
    _export("links", as_of, warehouse, out)


@export_app.command("warnings")
def export_warnings(as_of: AsOf = None, warehouse: Warehouse = Path("var/safetynet.duckdb"),
                    out: Annotated[Path, typer.Option()] = Path("warnings.csv")) -> None:
    """warnings.csv: rule_id,subject_level,id_number,household_id,severity,routes,due_date."""
    _export("warnings", as_of, warehouse, out)


@app.command()
def sample(out: Annotated[Path, typer.Option()] = Path("var/sample"),
           persons: Annotated[int, typer.Option()] = 3000,
           seed: Annotated[int, typer.Option()] = 20260930) -> None:
    """Generate two quarters of sample department extracts with ground truth."""
    from safetynet.sample_data.generate import generate

    result = generate(out, persons=persons, seed=seed, quarters=SAMPLE_QUARTERS)
    console.print(f"sample data ({persons} persons) -> {out}")
    if result:
        console.print_json(json.dumps(result, ensure_ascii=False, default=str))


@app.command()
def quickstart(persons: Annotated[int, typer.Option()] = 3000,
               var: Annotated[Path, typer.Option()] = Path("var")) -> None:
    """Generate the bundled sample and compare both of its quarters (the README's first command)."""
    from safetynet.sample_data.generate import generate

    sample_dir = var / "sample"
    generate(sample_dir, persons=persons, seed=20260930, quarters=SAMPLE_QUARTERS)
    for q in SAMPLE_QUARTERS:
        settings = RunSettings(as_of=q, sources_dir=SAMPLE_SOURCES, data_dir=sample_dir / q,
                               warehouse=var / "safetynet.duckdb", out_dir=var / "out")
        try:
            data = _run(settings, prefect=False)
        except SafetynetError as exc:
            _fail(exc)
        _print_summary(data)
        console.print(f"[bold green]{q}[/] 预警与转办文件 / outputs: {settings.run_out_dir}")
    console.print(f"仓库 / warehouse: {var / 'safetynet.duckdb'}")


def _print_summary(data: dict[str, Any]) -> None:
    t = Table(title=f"数据源 / sources  {data.get('as_of')}")
    for c in ("source", "status", "rows_read", "rows_staged", "rows_quarantined", "balanced"):
        t.add_column(c)
    for r in data.get("sources", []):
        t.add_row(*(str(r.get(c)) for c in ("source", "status", "rows_read", "rows_staged",
                                             "rows_quarantined", "balanced")))
    console.print(t)
    links: dict[str, int] = {}
    for r in data.get("links", []):
        key = r["method"] if r["status"] == "linked" else r["status"]
        links[key] = links.get(key, 0) + r["records"]
    if links:
        console.print("关联 / links: " + ", ".join(f"{k}={v}" for k, v in sorted(links.items())))
    w = Table(title="预警 / warnings")
    for c in ("rule_id", "severity", "warnings"):
        w.add_column(c)
    for r in data.get("warnings", []):
        w.add_row(r["rule_id"], r["severity"], str(r["warnings"]))
    console.print(w)
    not_eval = [r for r in data.get("rules", []) if r.get("status") != "evaluated"]
    for r in not_eval:
        console.print(f"[yellow]未评估 / not evaluated:[/] {r['rule_id']}: {r.get('reason')}")
    files = data.get("referral_files", [])
    console.print(f"转办文件 / referral files: {len(files)}")


if __name__ == "__main__":
    app()
