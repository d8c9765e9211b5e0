"""Review queue as a file: export uncertain pairs side by side (XLSX), import the decisions back.

One row per (record in review x candidate roster person): the department record's identity
next to the candidate's, the posterior and each comparison level, and three columns to fill in:
决定 (接受 / 拒绝), 决定人, 理由. Imported decisions go to ``links.review_decisions`` (one per
source, record key and person; a new one replaces the old) and are applied by every later link
run: a rejected pair is not proposed again, an accepted one links.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

from safetynet.errors import SafetynetError
from safetynet.outputs import atomic_write_bytes
from safetynet.warehouse import table_exists, transaction

from .labels import DECISION_WORDS, LEVELS, label
from .reports import workbook_bytes

DECISIONS_DDL = """
create table if not exists links.review_decisions (
    source varchar, record_key varchar, person_id varchar, decision varchar,
    decided_by varchar, decided_at timestamp, reason varchar, origin varchar
)"""

KEY_COLUMNS = ("数据来源", "记录编号", "候选·身份证号")
HEADERS = (
    "数据来源", "数据表", "记录编号", "候选序号",
    "记录·身份证号", "记录·姓名", "记录·性别", "记录·出生日期", "记录·区划代码",
    "候选·身份证号", "候选·姓名", "候选·性别", "候选·出生日期", "候选·区划代码", "候选·户编号",
    "匹配概率", "身份证号比对", "姓名比对", "出生日期比对", "性别比对", "区划比对",
    "决定（接受/拒绝）", "决定人", "理由",
)
_SEX = {"male": "男", "female": "女"}


def latest_review_as_of(con: duckdb.DuckDBPyConnection) -> date | None:
    """The newest as_of with records in review (None when there are none)."""
    if not table_exists(con, "links", "record_links"):
        return None
    return con.execute(
        "select max(as_of) from links.record_links where status = 'review'").fetchone()[0]


def review_rows(con: duckdb.DuckDBPyConnection, as_of: date) -> list[list[Any]]:
    """Export rows (see HEADERS) for `as_of`, undecided pairs only, best candidates first."""
    if not table_exists(con, "links", "review_candidates"):
        return []
    decided = ""
    if table_exists(con, "links", "review_decisions"):
        decided = ("and not exists (select 1 from links.review_decisions d where "
                   "d.source = c.source and d.record_key = c.record_key "
                   "and d.person_id = c.person_id)")
    rows = con.execute(f"""
        select c.source, c.table_name, c.record_key, c.person_id, c.explanation,
               p.id_number, p.name, p.sex_eff, p.birth_date_eff, p.region_code, p.household_id
        from links.review_candidates c
        left join (select * from links.roster where as_of = ?
                   qualify row_number() over (partition by person_id
                                              order by household_id) = 1) p
            on p.person_id = c.person_id
        where c.as_of = ? {decided}
        order by c.source, c.record_key, c.person_id""", [as_of, as_of]).fetchall()
    identities = _record_identities(con, as_of, {(r[1], r[0], r[2]) for r in rows})
    out: list[list[Any]] = []
    for (source, table, key, person_id, explanation, p_id, p_name, p_sex, p_birth, p_region,
         household) in rows:
        expl = json.loads(explanation) if explanation else {}
        score = next((s for s in expl.get("candidate_scores") or []
                      if s.get("person_id") == person_id), {})
        rank = (expl.get("candidate_person_ids") or []).index(person_id) + 1 \
            if person_id in (expl.get("candidate_person_ids") or []) else None
        rec = identities.get((source, key), {})
        out.append([
            source, table, key, rank,
            rec.get("id_number"), rec.get("name"), _SEX.get(rec.get("sex"), rec.get("sex")),
            rec.get("birth_date"), rec.get("region_code"),
            p_id, p_name, _SEX.get(p_sex, p_sex), p_birth, p_region, household,
            score.get("posterior", expl.get("posterior")),
            label(LEVELS, score.get("id")), label(LEVELS, score.get("name")),
            label(LEVELS, score.get("birth_date")), label(LEVELS, score.get("sex")),
            label(LEVELS, score.get("region")), None, None, None,
        ])
    out.sort(key=lambda r: (-(r[15] or 0.0), r[0], r[2], r[3] or 0))
    return out


def _record_identities(con: duckdb.DuckDBPyConnection, as_of: date,
                       keys: set[tuple[str, str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Identity columns of the staged records, as the department sent them."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    by_table: dict[str, list[tuple[str, str]]] = {}
    for table, source, key in keys:
        by_table.setdefault(table, []).append((source, key))
    for table, pairs in by_table.items():
        if not table or not table.replace("_", "").isalnum():
            continue
        have = {r[0] for r in con.execute(
            "select column_name from information_schema.columns where table_schema = 'staged' "
            "and table_name = ?", [table]).fetchall()}
        wanted = [c for c in ("id_number", "name", "sex", "birth_date", "region_code")
                  if c in have]
        if not wanted:
            continue
        cur = con.execute(
            f"select _source, _record_key, {', '.join(wanted)} from staged.{table} "
            "where as_of = ? and list_contains(?, struct_pack(s := _source, k := _record_key))",
            [as_of, [{"s": s, "k": k} for s, k in pairs]])
        for row in cur.fetchall():
            out[(row[0], row[1])] = dict(zip(wanted, row[2:], strict=True))
    return out


def export_review(con: duckdb.DuckDBPyConnection, as_of: date | None, out: str | Path) -> int:
    """Write the review queue of `as_of` (default: the newest) to an XLSX; returns its rows."""
    as_of = as_of or latest_review_as_of(con)
    if as_of is None:  # with an explicit as_of an empty queue gives a file with no rows
        raise SafetynetError("没有待人工复核的关联（links.record_links 中无 review 记录）")
    rows = review_rows(con, as_of)
    notes = [
        [f"本表列出比对日期 {as_of} 无法自动确定的关联：每行是一条部门记录与一名候选人员。"],
        ["请在“决定”列填写“接受”（是同一人）或“拒绝”（不是同一人），并填写决定人；不确定的行留空。"],
        ["同一条记录至多接受一名候选人员。导入：safetynet link review-import 本文件。"],
        ["已拒绝的配对今后不再提出；已接受的配对今后自动关联。"],
    ]
    data = workbook_bytes([("待复核", list(HEADERS), rows), ("填写说明", ["说明"], notes)])
    atomic_write_bytes(out, data)
    return len(rows)


@dataclass
class ReviewImport:
    """What an import did: decisions stored, blank rows skipped, and every bad row."""

    accepted: int = 0
    rejected: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises several types for a broken file
        raise SafetynetError(f"无法读取复核文件 {path.name}：{exc}") from None
    sheet = book.get_sheet_by_index(0).to_python(skip_empty_area=False)
    for i, row in enumerate(sheet):
        headers = [str(c).strip() if c is not None else "" for c in row]
        if all(k in headers for k in KEY_COLUMNS):
            return headers, [(j + 1, list(r)) for j, r in enumerate(sheet) if j > i]
    raise SafetynetError(f"复核文件 {path.name} 缺少表头：{'、'.join(KEY_COLUMNS)}")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def import_review(con: duckdb.DuckDBPyConnection, path: str | Path, *,
                  decided_by: str = "") -> ReviewImport:
    """Store the decisions of a filled-in review file; bad rows are reported, not stored.

    A row is bad when its decision is not 接受/拒绝 (or accept/reject), its pair is not in the
    review queue of any quarter, nobody is named as decider (column or `decided_by`), or a record
    gets two accepted candidates. Blank decisions are skipped.
    """
    path = Path(path)
    headers, rows = _read_rows(path)
    col = {h: headers.index(h) for h in headers if h}
    decision_col = next((h for h in headers if h.startswith("决定") and h != "决定人"), None)
    if decision_col is None:
        raise SafetynetError(f"复核文件 {path.name} 缺少“决定”列")
    known = set()
    if table_exists(con, "links", "review_candidates"):
        known = {tuple(r) for r in con.execute(
            "select distinct source, record_key, person_id from links.review_candidates"
        ).fetchall()}
    result = ReviewImport()
    good: list[tuple[str, str, str, str, str, str]] = []
    accepted_for: dict[tuple[str, str], tuple[int, str]] = {}
    for line, cells in rows:
        def cell(name: str, cells: list[Any] = cells) -> str:
            i = col.get(name)
            return _text(cells[i]) if i is not None and i < len(cells) else ""

        source, key, person = cell("数据来源"), cell("记录编号"), cell("候选·身份证号").upper()
        word = cell(decision_col)
        if not (source or key or person or word):
            continue
        if not word:
            result.skipped += 1
            continue
        decision = DECISION_WORDS.get(word.lower())
        who = cell("决定人") or decided_by
        where = f"第{line}行（{source} / {key}）"
        if decision is None:
            result.errors.append(f"{where}：决定“{word}”无法识别，应为“接受”或“拒绝”")
        elif (source, key, person) not in known:
            result.errors.append(f"{where}：该记录与候选人员的配对不在复核队列中")
        elif not who:
            result.errors.append(f"{where}：缺少决定人")
        elif decision == "accept" and (source, key) in accepted_for \
                and accepted_for[(source, key)][1] != person:
            result.errors.append(f"{where}：同一记录已在第{accepted_for[(source, key)][0]}行"
                                 "接受了另一名候选人员")
        else:
            if decision == "accept":
                accepted_for[(source, key)] = (line, person)
            good.append((source, key, person, decision, who, cell("理由")))
    now = datetime.now().replace(microsecond=0)
    with transaction(con):
        con.execute(DECISIONS_DDL)
        for source, key, person, decision, who, reason in good:
            con.execute("delete from links.review_decisions where source = ? and record_key = ? "
                        "and person_id = ?", [source, key, person])
            con.execute("insert into links.review_decisions values (?, ?, ?, ?, ?, ?, ?, "
                        "'review_queue')", [source, key, person, decision, who, now, reason])
    result.accepted = sum(1 for g in good if g[3] == "accept")
    result.rejected = sum(1 for g in good if g[3] == "reject")
    return result
