"""`safetynet link ...`: explain, review queue export/import, evaluate, quality reports, blocking.

A typer sub-app; the main CLI mounts it (`app.add_typer(link_app, name="link")`). ID numbers and
names are masked unless ``--show-pii``.
"""

from __future__ import annotations

import getpass
import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from safetynet.errors import SafetynetError
from safetynet.privacy import mask_id, mask_name
from safetynet.warehouse import connect

from .labels import COMPARISONS, LEVELS, METHODS, REASONS, STATUSES, label

app = typer.Typer(help="人员关联：解释、人工复核、评估、质量报告、分块诊断 / linkage.",
                  no_args_is_help=True, add_completion=False)
console = Console() if sys.stdout.isatty() else Console(width=150)

Warehouse = Annotated[Path, typer.Option("--warehouse", help="DuckDB warehouse file.")]
AsOf = Annotated[str | None, typer.Option("--as-of", help="Comparison date (YYYY-MM-DD).")]
DEFAULT_WAREHOUSE = Path("var/safetynet.duckdb")


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        _fail(SafetynetError(f"日期格式应为 YYYY-MM-DD：{value}"))
        raise  # unreachable


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]错误 / error:[/] {exc}")
    raise typer.Exit(2) from None


def _open(warehouse: Path) -> Any:
    if not warehouse.exists():
        _fail(SafetynetError(f"仓库文件不存在：{warehouse}"))
    return connect(warehouse)


def _id(value: Any, show: bool) -> str:
    return "" if value is None else (str(value) if show else mask_id(str(value)))


def _name(value: Any, show: bool) -> str:
    return "" if value is None else (str(value) if show else mask_name(str(value)))


def _waterfall_table(title: str, steps: list[dict[str, Any]]) -> Table:
    table = Table(title=title)
    for header in ("比对项", "比对结果", "权重(log2)", "累计"):
        table.add_column(header, justify="right" if "权重" in header or header == "累计"
                         else "left")
    for step in steps:
        comparison = label(COMPARISONS, step["comparison"])
        level = label(LEVELS, step["level"]) if step["level"] else ""
        if step["comparison"] == "total":
            level = (f"匹配概率 {step['match_probability']:.6f}"
                     + (f"，后验 {step['posterior']:.6f}" if step.get("posterior") is not None
                        else ""))
        table.add_row(comparison, level, f"{step['weight']:+.2f}", f"{step['cumulative']:+.2f}")
    return table


@app.command("explain")
def explain_cmd(
    source: Annotated[str | None, typer.Option("--source", help="Source name.")] = None,
    record_key: Annotated[str | None, typer.Option("--record-key", help="Record key.")] = None,
    person: Annotated[str | None, typer.Option("--person", help="ID number or person key.")] = None,
    as_of: AsOf = None, warehouse: Warehouse = DEFAULT_WAREHOUSE,
    show_pii: Annotated[bool, typer.Option("--show-pii", help="Show full IDs and names.")] = False,
) -> None:
    """Waterfall of a record's link (prior -> each comparison -> total), or a person's records."""
    from .explain import explain_person, explain_record

    if not person and not (source and record_key):
        _fail(SafetynetError("请给出 --source 与 --record-key，或 --person"))
    con = _open(warehouse)
    try:
        if person:
            info = explain_person(con, person, _date(as_of))
        else:
            info = explain_record(con, source or "", record_key or "", _date(as_of))
    except SafetynetError as exc:
        _fail(exc)
    finally:
        con.close()
    if person:
        p = info["person"]
        console.print(f"人员 {_id(info['person_id'], show_pii)} {_name(p.get('name'), show_pii)}"
                      f"（人员编号 {p.get('person_key') or ''}，户 {p.get('household_id') or ''}）"
                      f"，比对日期 {info['as_of']}，关联记录 {len(info['records'])} 条")
        table = Table(title="关联到该人员的记录")
        for h in ("数据来源", "记录编号", "关联方式", "得分", "身份证号", "姓名", "出生日期",
                  "性别", "区划", "合计"):
            table.add_column(h)
        for rec in info["records"]:
            w = {s["comparison"]: s for s in rec["waterfall"]}
            cells = [f"{w[c]['weight']:+.1f} {label(LEVELS, w[c]['level'])}" if c in w else ""
                     for c in ("id", "name", "birth_date", "sex", "region")]
            total = f"{w['total']['weight']:+.1f}" if "total" in w else ""
            table.add_row(rec["source"], rec["record_key"], label(METHODS, rec["method"]),
                          f"{rec['score']:.4f}", *cells, total)
        console.print(table)
        return
    expl = info["explanation"]
    rec, per = info["record"], info["person"]
    console.print(f"[bold]{info['source']} / {info['record_key']}[/]（{info['table_name']}，"
                  f"比对日期 {info['as_of']}）：{label(STATUSES, info['status'])}，"
                  f"{label(METHODS, info['method'])}，得分 {info['score']:.6f}")
    side = Table(title="两侧身份信息")
    for h in ("", "身份证号", "姓名", "性别", "出生日期", "区划代码"):
        side.add_column(h)
    side.add_row("部门记录", _id(rec.get("id_number"), show_pii), _name(rec.get("name"), show_pii),
                 str(rec.get("sex") or ""), str(rec.get("birth_date") or ""),
                 str(rec.get("region_code") or ""))
    if per:
        side.add_row("名册人员", _id(per.get("person_id"), show_pii),
                     _name(per.get("name"), show_pii), str(per.get("sex_eff") or ""),
                     str(per.get("birth_date_eff") or ""), str(per.get("region_code") or ""))
    console.print(side)
    if info["waterfall"]:
        title = "逐项权重" if "match_weights" in expl else "最接近但未采纳的候选人员：逐项权重"
        console.print(_waterfall_table(title, info["waterfall"]))
    if expl.get("reason"):
        console.print(f"说明：{label(REASONS, expl['reason'])}")
    for cand in expl.get("candidate_scores") or []:
        console.print(f"候选 {_id(cand['person_id'], show_pii)}：后验 {cand['posterior']:.4f}，"
                      f"权重 {cand['weight']:+.2f}")
    if expl.get("blocking_rules"):
        console.print("候选来源（分块规则）：" + "、".join(expl["blocking_rules"]))


@app.command("review-export")
def review_export_cmd(
    out: Annotated[Path, typer.Option("--out", help="XLSX file to write.")],
    as_of: AsOf = None, warehouse: Warehouse = DEFAULT_WAREHOUSE,
) -> None:
    """Write the review queue (records x candidates, side by side) to an XLSX to decide."""
    from .review import export_review

    con = _open(warehouse)
    try:
        n = export_review(con, _date(as_of), out)
    except SafetynetError as exc:
        _fail(exc)
    finally:
        con.close()
    console.print(f"已写出 {n} 行待复核配对 / written: {out}")


@app.command("review-import")
def review_import_cmd(
    file: Annotated[Path, typer.Argument(help="The filled-in review XLSX.")],
    officer: Annotated[str, typer.Option("--officer", help="Decider when the row names none.")] = "",
    warehouse: Warehouse = DEFAULT_WAREHOUSE,
) -> None:
    """Store the decisions of a filled-in review file (reused by every later quarter)."""
    from .review import import_review

    if not file.exists():
        _fail(SafetynetError(f"文件不存在：{file}"))
    con = _open(warehouse)
    try:
        result = import_review(con, file, decided_by=officer or getpass.getuser())
    except SafetynetError as exc:
        _fail(exc)
    finally:
        con.close()
    console.print(f"接受 {result.accepted}，拒绝 {result.rejected}，未填写 {result.skipped}，"
                  f"有误 {len(result.errors)}")
    for err in result.errors:
        console.print(f"[red]{err}[/]")
    if result.errors:
        raise typer.Exit(1)


@app.command("evaluate")
def evaluate_cmd(
    truth: Annotated[Path, typer.Option("--truth", help="Sample folder with truth/.")],
    as_of: AsOf = None, warehouse: Warehouse = DEFAULT_WAREHOUSE,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write JSON.")] = None,
) -> None:
    """Precision / recall / F1 against the sample truth: overall, per method, noise, decoy."""
    from .evaluate import evaluate

    con = _open(warehouse)
    try:
        day = _date(as_of) or con.execute(
            "select max(as_of) from links.record_links").fetchone()[0]
        result = evaluate(con, day, truth)
    except (SafetynetError, Exception) as exc:  # noqa: BLE001 - a missing table is an error too
        _fail(exc)
    finally:
        con.close()
    for section, title in (("overall", "总体"), ("by_method", "按关联方式"),
                           ("by_noise_kind", "按噪声类型"), ("by_decoy_kind", "按诱饵类型")):
        data = {"all": result[section]} if section == "overall" else result[section]
        table = Table(title=f"{title}（{result['as_of']}）")
        for h in ("", "记录", "正确关联", "错误关联", "应关联", "复核", "漏关联", "精确率",
                  "召回率", "F1"):
            table.add_column(h, justify="right")
        for key, v in data.items():
            table.add_row(key, str(v["records"]), str(v["true_links"]), str(v["false_links"]),
                          str(v["should_link"]), str(v["review"]), str(v["missed"]),
                          f"{v['precision']:.6f}", f"{v['recall']:.6f}", f"{v['f1']:.6f}")
        console.print(table)
    if json_out:
        json_out.write_text(json.dumps(result, ensure_ascii=False, indent=2, default=str))


@app.command("quality-report")
def quality_report_cmd(
    out: Annotated[Path, typer.Option("--out", help="Folder for the XLSX files.")],
    as_of: AsOf = None, warehouse: Warehouse = DEFAULT_WAREHOUSE,
    source: Annotated[list[str] | None, typer.Option("--source", help="Only these.")] = None,
) -> None:
    """One Chinese XLSX per source: linked by method, review, unlinked, ID damage to fix."""
    from .reports import write_quality_reports

    con = _open(warehouse)
    try:
        day = _date(as_of) or con.execute(
            "select max(as_of) from links.record_links").fetchone()[0]
        paths = write_quality_reports(con, day, out, source)
    except SafetynetError as exc:
        _fail(exc)
    finally:
        con.close()
    for path in paths:
        console.print(f"已写出 / written: {path}")


@app.command("blocking")
def blocking_cmd(
    as_of: AsOf = None, warehouse: Warehouse = DEFAULT_WAREHOUSE,
    truth: Annotated[Path | None, typer.Option("--truth", help="Sample folder: recall.")] = None,
) -> None:
    """Pairs per blocking rule and, with --truth, the recall of the blocking."""
    from .evaluate import blocking_report
    from .settings import MatchSettings

    con = _open(warehouse)
    try:
        day = _date(as_of) or con.execute(
            "select max(as_of) from staged.roster").fetchone()[0]
        report = blocking_report(con, day, MatchSettings(), truth)
    except SafetynetError as exc:
        _fail(exc)
    finally:
        con.close()
    table = Table(title=f"分块规则（{report['as_of']}）：候选配对 {report['distinct_pairs']} 对")
    for h in ("规则", "键", "配对数", "含真配对", "召回率", "仅此规则"):
        table.add_column(h)
    for name, r in report["rules"].items():
        table.add_row(name, "+".join(r["keys"]), str(r["pairs"]), str(r.get("true_pairs", "")),
                      f"{r['recall']:.4f}" if "recall" in r else "",
                      str(r.get("only_this_rule", "")))
    console.print(table)
    if "recall" in report:
        console.print(f"无精确身份证号、应关联的记录 {report['should_link_without_exact_id']} 条，"
                      f"候选中含真实人员 {report['should_link_without_exact_id'] - report['missed']}"
                      f" 条，分块召回率 {report['recall']:.6f}")
