"""Linkage quality report per source per quarter (Chinese XLSX, to send back to the department).

Sheet 概览: records; linked by method; sent to review; unlinked (of which: a valid ID of someone
not in the roster, which is normal); and each kind of ID damage found with its count, share and
what to fix at the source. Sheet 需整改记录: the records whose ID is damaged or missing, by file
and row as the department sees them (no ID numbers or names in the file), up to
``XLSX_MAX_FIX_ROWS``; the complete list is always in ``link_quality_<source>_<as_of>_需整改记录.csv``
beside it (a big extract can have more such rows than a sheet should hold, or Excel can open).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from safetynet.errors import SafetynetError
from safetynet.outputs import (
    atomic_write_bytes,
    csv_bytes,
    xlsx_sheets_bytes,
)
from safetynet.warehouse import quote_ident, table_exists

from .labels import ID_FIX, ID_QUALITY, METHODS, STATUSES, label

_SAFE_NAME = re.compile(r"[^a-z0-9_]+")
XLSX_MAX_FIX_ROWS = 10_000  # rows of 需整改记录 in the workbook; the CSV holds them all
FIX_HEADERS = ["文件", "行号", "记录编号", "身份证号问题", "整改建议", "关联结果"]



def workbook_bytes(sheets: Sequence[tuple[str, Sequence[str], Sequence[Sequence[Any]]]]) -> bytes:
    """An XLSX with one sheet per (title, headers, rows); formula-safe, byte-reproducible."""
    return xlsx_sheets_bytes(sheets, max_width=60)


def _share(n: int, total: int) -> str:
    return f"{100.0 * n / total:.2f}%" if total else ""


def quality_rows(con: duckdb.DuckDBPyConnection, as_of: date, source: str
                 ) -> tuple[list[list[Any]], list[list[Any]]]:
    """(overview rows, records to fix) of one source for `as_of`."""
    total = con.execute("select count(*) from links.record_links where as_of = ? and source = ?",
                        [as_of, source]).fetchone()[0]
    if not total:
        raise SafetynetError(f"{as_of} 没有数据来源 {source} 的关联结果")
    table = con.execute("select any_value(table_name) from links.record_links where as_of = ? "
                        "and source = ?", [as_of, source]).fetchone()[0]
    dept = ""
    if table_exists(con, "meta", "source_loads"):
        row = con.execute("select department from meta.source_loads where as_of = ? and "
                          "source = ?", [as_of, source]).fetchone()
        dept = row[0] if row else ""
    overview: list[list[Any]] = [["数据来源", source, ""], ["部门", dept, ""],
                                 ["数据表", table, ""], ["比对日期", as_of.isoformat(), ""],
                                 ["记录数", total, "100.00%"]]
    counts = dict(((s, m), n) for s, m, n in con.execute(
        "select status, method, count(*) from links.record_links where as_of = ? and "
        "source = ? group by all", [as_of, source]).fetchall())
    linked = sum(n for (s, _), n in counts.items() if s == "linked")
    overview.append(["已自动关联", linked, _share(linked, total)])
    for method in ("id_exact", "id_legacy15", "id_repaired", "name_dob_region"):
        n = counts.get(("linked", method), 0)
        overview.append([f"　其中：{label(METHODS, method)}", n, _share(n, total)])
    review = sum(n for (s, _), n in counts.items() if s == "review")
    unlinked = sum(n for (s, _), n in counts.items() if s == "unlinked")
    overview.append([label(STATUSES, "review"), review, _share(review, total)])
    overview.append([label(STATUSES, "unlinked"), unlinked, _share(unlinked, total)])
    outside = con.execute(
        "select count(*) from links.record_links where as_of = ? and source = ? and "
        "status = 'unlinked' and explanation->>'reason' = 'valid_id_not_in_roster'",
        [as_of, source]).fetchone()[0]
    overview.append(["　其中：身份证号有效、非名册人员（正常）", outside, _share(outside, total)])
    overview.append(["", "", ""])
    overview.append(["身份证号质量", "记录数", "占比"])
    for quality, n in con.execute(
            "select id_quality, count(*) from links.record_links where as_of = ? and "
            "source = ? group by all order by 2 desc, 1", [as_of, source]).fetchall():
        fix = ID_FIX.get(quality, "")
        overview.append([label(ID_QUALITY, quality) + (f"（建议：{fix}）" if fix else ""), n,
                         _share(n, total)])
    fixes: list[list[Any]] = []
    if table and table_exists(con, "staged", table):
        for row, file, key, quality, status in con.execute(f"""
                select s._row, s._file, l.record_key, l.id_quality, l.status
                from links.record_links l join staged.{quote_ident(table)} s
                    on s.as_of = l.as_of and s._source = l.source and s._record_key = l.record_key
                where l.as_of = ? and l.source = ? and l.id_quality not in ('valid')
                order by s._file, s._row""", [as_of, source]).fetchall():
            fixes.append([file, row, key, label(ID_QUALITY, quality), ID_FIX.get(quality, ""),
                          label(STATUSES, status)])
    return overview, fixes


def write_quality_reports(con: duckdb.DuckDBPyConnection, as_of: date, out_dir: str | Path,
                          sources: Sequence[str] | None = None, *,
                          xlsx_max_rows: int = XLSX_MAX_FIX_ROWS) -> list[Path]:
    """Per source ``link_quality_<source>_<as_of>.xlsx`` (overview and up to `xlsx_max_rows`
    records to fix) and ``..._需整改记录.csv`` (every record to fix) in `out_dir`; returns the
    XLSX paths."""
    if not table_exists(con, "links", "record_links"):
        raise SafetynetError("仓库中没有关联结果（links.record_links）")
    names = list(sources) if sources else [r[0] for r in con.execute(
        "select distinct source from links.record_links where as_of = ? order by 1",
        [as_of]).fetchall()]
    if not names:
        raise SafetynetError(f"{as_of} 没有关联结果")
    paths = []
    for source in names:
        overview, fixes = quality_rows(con, as_of, source)
        safe = _SAFE_NAME.sub("_", source.lower())
        stem = f"link_quality_{safe}_{as_of}"
        overview.append(["", "", ""])
        overview.append(["需整改记录（完整清单）", len(fixes), f"{stem}_需整改记录.csv"])
        if len(fixes) > xlsx_max_rows:
            overview.append([f"　本表只列前 {xlsx_max_rows} 条", xlsx_max_rows, ""])
        data = workbook_bytes([("概览", ["项目", "数量", "占比"], overview),
                               ("需整改记录", FIX_HEADERS, fixes[:xlsx_max_rows])])
        atomic_write_bytes(Path(out_dir) / f"{stem}_需整改记录.csv", csv_bytes(FIX_HEADERS, fixes))
        paths.append(atomic_write_bytes(Path(out_dir) / f"{stem}.xlsx", data))
    return paths
