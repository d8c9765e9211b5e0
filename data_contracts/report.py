"""Quarantine reports: what each department must fix, one XLSX per department and as_of."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from safetynet.data_contracts.stage_sql import as_date
from safetynet.errors import REASON_LABELS_ZH
from safetynet.outputs import write_xlsx

REPORT_HEADERS = ("来源", "文件", "行号", "记录编号", "字段", "原值", "问题类型", "问题说明")
REPORT_SUFFIX = "数据质量问题"
XLSX_MAX_ROWS = 1_048_575  # Excel's sheet limit minus the header row


def report_path(out_dir: str | Path, department: str, as_of: date) -> Path:
    """`<out_dir>/<department>_数据质量问题_<as_of>.xlsx` (department made file-name safe)."""
    safe = re.sub(r"[^\w.-]+", "_", department).strip("._") or "unknown"
    return Path(out_dir) / f"{safe}_{REPORT_SUFFIX}_{as_of.isoformat()}.xlsx"


def write_quarantine_reports(con: duckdb.DuckDBPyConnection, as_of: date,
                             out_dir: str | Path) -> list[Path]:
    """Write one XLSX per department with quarantined rows of `as_of`; return the paths.

    Rows come from every stage (extract and stage), sorted by source, file, row and column.
    Departments without quarantined rows get no file; a stale file of theirs from an earlier
    run of the same as_of is removed.
    """
    as_of = as_date(as_of)
    rows = con.execute(
        "select coalesce(department, 'unknown'), source, file, row_number, record_key, "
        "column_name, value, reason_code, reason from meta.quarantine where as_of = ? "
        "order by department, source, file, row_number, column_name, reason_code",
        [as_of]).fetchall()
    by_dept: dict[str, list[list[Any]]] = {}
    for dept, source, file, row, key, column, value, code, reason in rows:
        by_dept.setdefault(dept, []).append(
            [source, file, row, key, column, value, REASON_LABELS_ZH.get(code, code), reason])
    out = Path(out_dir)
    written = []
    for dept, dept_rows in sorted(by_dept.items()):
        path = report_path(out, dept, as_of)
        write_xlsx(path, REPORT_HEADERS, dept_rows[:XLSX_MAX_ROWS], sheet_title="数据质量问题")
        written.append(path)
    if out.is_dir():
        keep = set(written)
        for stale in out.glob(f"*_{REPORT_SUFFIX}_{as_of.isoformat()}.xlsx"):
            if stale not in keep:
                stale.unlink()
    return written


def quarantine_summary(con: duckdb.DuckDBPyConnection, as_of: date) -> list[dict[str, Any]]:
    """Counts per source and reason code: quarantine entries and distinct rows."""
    as_of = as_date(as_of)
    rows = con.execute(
        "select source, any_value(department), reason_code, count(*), "
        "count(distinct (file, row_number)) from meta.quarantine where as_of = ? "
        "group by source, reason_code order by source, reason_code", [as_of]).fetchall()
    return [{"source": s, "department": d, "reason_code": c,
             "reason_label": REASON_LABELS_ZH.get(c, c), "entries": int(n), "rows": int(r)}
            for s, d, c, n, r in rows]
