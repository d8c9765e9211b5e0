"""Department feedback: the one way to record a disposition, and intake of returned referral files.

`record_disposition` (web workbench and file intake alike) validates an answer, appends
`warnings.feedback`, re-derives the warning's lifecycle status, writes `warnings.audit` and, for a
`wrong_person` answer, a `reject` review decision for every linked record in the evidence, so the
linker does not make the same false link again.

A returned file is a referral file whose result columns (核查结果, 核查日期, 核查人, 备注) the
department filled in, sent back as XLSX or CSV (any common encoding). Every row is checked; valid
rows are applied in one transaction, invalid rows are kept in `warnings.feedback_rejects` and in
an XLSX error report for the department. Importing the same file again changes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import duckdb

from safetynet.errors import SafetynetError
from safetynet.outputs import sha256_file, write_xlsx
from safetynet.warehouse import transaction

from .ids import normalise_warning_id, resolve_warning_ids
from .lifecycle import as_date, now_utc, refresh_lifecycle
from .linkage import evidence_links, record_rejects
from .schema import AUDIT_COLUMNS, RESULT_LABELS_ZH, RESULTS, ensure_tables, insert_rows
from .tabular import Table, TableFileError, normalise_header, read_table

CHANNELS = ("file", "web")
#: Cell text -> result code: the Chinese labels of the referral files and the codes themselves.
RESULT_BY_LABEL: dict[str, str] = {
    **{label: code for code, label in RESULT_LABELS_ZH.items()},
    **{code: code for code in RESULTS},
}
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y年%m月%d日", "%Y.%m.%d", "%Y-%m-%d %H:%M:%S",
                "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M")
_EXCEL_EPOCH = date(1899, 12, 30)
_AS_OF_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")
FEEDBACK_COLUMNS = ("warning_key", "as_of", "result", "result_date", "officer", "note", "channel",
                    "source_file", "row_number", "received_at", "actor")


class FeedbackReason(StrEnum):
    """Why a feedback row (or file) was not applied. Codes are stable."""

    UNKNOWN_WARNING = "unknown_warning"
    BAD_VALUE = "bad_value"
    BAD_DATE = "bad_date"
    MISSING_VALUE = "missing_value"
    DUPLICATE_ANSWER = "duplicate_answer"
    ALREADY_ANSWERED = "already_answered"
    BAD_AS_OF = "bad_as_of"
    MISSING_COLUMN = "missing_column"
    ENCODING_ERROR = "encoding_error"
    MALFORMED_FILE = "malformed_file"


class FeedbackError(SafetynetError, ValueError):
    """A disposition that cannot be recorded; `code` is a FeedbackReason.

    Also a ValueError, so callers that treat bad input as ValueError (the web form) show it.
    """

    def __init__(self, message: str, *, code: FeedbackReason, column: str | None = None,
                 file: str | None = None, row: int | None = None) -> None:
        self.code = code
        super().__init__(message, file=file, row=row, column=column)


class FeedbackFileError(FeedbackError):
    """A returned file that cannot be read at all (nothing in it was applied)."""


# ---------------------------------------------------------------- record_disposition
@dataclass
class _Known:
    """What the warehouse knows about one warning when an answer arrives."""

    status: str
    last_as_of: date
    person_id: str | None
    fired: list[tuple[date, str]] = field(default_factory=list)
    answers: list[tuple[date, str, str | None, int | None, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _Answer:
    """A validated answer waiting to be written."""

    key: str
    as_of: date
    cycle_start: date
    next_cycle: date | None
    result: str
    result_date: date
    officer: str
    note: str
    status_before: str
    person_id: str | None
    source_file: str | None
    row_number: int | None


def _load_known(con: duckdb.DuckDBPyConnection, keys: Iterable[str]) -> dict[str, _Known]:
    """Lifecycle row, firing quarters and recorded answers of `keys`, in three queries."""
    wanted = sorted(set(keys))
    known = {k: _Known(s, q, p) for k, s, q, p in con.execute(
        "select warning_key, status, last_as_of, person_id from warnings.lifecycle "
        "where warning_key in (select unnest(?::varchar[]))", [wanted]).fetchall()}
    for key, as_of, state in con.execute(
            "select warning_key, as_of, state from warnings.history where state <> 'resolved' "
            "and warning_key in (select unnest(?::varchar[])) order by as_of",
            [wanted]).fetchall():
        if key in known:
            known[key].fired.append((as_of, state))
    for key, as_of, result, source_file, row_number, channel in con.execute(
            "select warning_key, as_of, result, source_file, row_number, channel "
            "from warnings.feedback where warning_key in (select unnest(?::varchar[])) "
            "order by received_at desc", [wanted]).fetchall():
        if key in known:
            known[key].answers.append((as_of, result, source_file, row_number, channel))
    return known


def _cycle_bounds(fired: list[tuple[date, str]], as_of: date) -> tuple[date, date | None]:
    starts = [q for q, state in fired if state in ("new", "reopened")]
    start = max((q for q in starts if q <= as_of), default=fired[0][0])
    nxt = min((q for q in starts if q > as_of), default=None)
    return start, nxt


def _validate(known: _Known | None, key: str, result: str, result_date: date | str,
              officer: str, note: str = "", *, channel: str, actor: str,
              as_of: date | str | None, today: date, source_file: str | None = None,
              row_number: int | None = None) -> _Answer | None:
    """Check one answer against what is known; None when the same result is already recorded."""
    if result not in RESULTS:
        raise FeedbackError(f"核查结果 '{result}' 不在约定取值内（{'、'.join(RESULTS)}）/ unknown "
                            "result", code=FeedbackReason.BAD_VALUE, column="result")
    if channel not in CHANNELS:
        raise FeedbackError(f"channel must be one of {CHANNELS}", code=FeedbackReason.BAD_VALUE,
                            column="channel")
    if not (officer or "").strip():
        raise FeedbackError("核查人为空 / officer is empty", code=FeedbackReason.MISSING_VALUE,
                            column="officer")
    if not (actor or "").strip():
        raise FeedbackError("actor is empty", code=FeedbackReason.MISSING_VALUE, column="actor")
    try:
        result_date = as_date(result_date)
    except (TypeError, ValueError):
        raise FeedbackError(f"核查日期无法识别：{result_date!r} / bad result date",
                            code=FeedbackReason.BAD_DATE, column="result_date") from None
    if known is None or not known.fired:
        raise FeedbackError("预警不存在（未在预警生命周期中找到）/ unknown warning",
                            code=FeedbackReason.UNKNOWN_WARNING, column="warning")
    as_of = as_date(as_of) if as_of is not None else known.last_as_of
    if as_of not in {q for q, _ in known.fired}:
        raise FeedbackError(f"该预警在 {as_of} 未产生，无法按该期反馈 / the warning did not fire "
                            f"in {as_of}", code=FeedbackReason.BAD_AS_OF, column="as_of")
    start, nxt = _cycle_bounds(known.fired, as_of)
    if result_date > today:
        raise FeedbackError(f"核查日期 {result_date} 晚于今天 / result date is in the future",
                            code=FeedbackReason.BAD_DATE, column="result_date")
    if result_date < start:
        raise FeedbackError(f"核查日期 {result_date} 早于本轮预警的比对日期 {start} / result date "
                            "before the warning was raised", code=FeedbackReason.BAD_DATE,
                            column="result_date")
    earlier = [a for a in known.answers if a[0] >= start and (nxt is None or a[0] < nxt)]
    if earlier:
        _q, prev, prev_file, prev_row, prev_channel = earlier[0]
        if prev == result:
            return None
        where = f"{prev_file} 第{prev_row}行" if prev_file else prev_channel
        raise FeedbackError(
            f"该预警本轮已反馈为“{RESULT_LABELS_ZH.get(prev, prev)}”（{where}），不能再反馈为"
            f"“{RESULT_LABELS_ZH[result]}” / already answered with a different result",
            code=FeedbackReason.ALREADY_ANSWERED, column="result")
    return _Answer(key, as_of, start, nxt, result, result_date, officer.strip(), note or "",
                   known.status, known.person_id, source_file, row_number)


def _apply(con: duckdb.DuckDBPyConnection, answers: list[_Answer], *, channel: str, actor: str,
           received_at: datetime) -> None:
    """Write validated answers: feedback rows, reject decisions, lifecycle, audit (no
    transaction of its own)."""
    if not answers:
        return
    insert_rows(con, "warnings.feedback", FEEDBACK_COLUMNS, [
        [a.key, a.as_of, a.result, a.result_date, a.officer, a.note, channel, a.source_file,
         a.row_number, received_at, actor] for a in answers])
    details: list[dict[str, Any]] = []
    for a in answers:
        detail: dict[str, Any] = {"event": "feedback", "result": a.result, "as_of": str(a.as_of),
                                  "cycle_as_of": str(a.cycle_start), "officer": a.officer}
        if a.source_file:
            detail.update(source_file=a.source_file, row_number=a.row_number)
        if a.next_cycle is not None:
            detail["note"] = "对较早一轮预警的补充反馈，不改变当前状态"
        if a.result == "wrong_person":
            (evidence,) = con.execute(
                "select evidence::varchar from warnings.history where warning_key = ? and "
                "as_of = ? and state <> 'resolved'", [a.key, a.as_of]).fetchone()
            links = evidence_links(con, a.as_of, evidence, a.person_id)
            replaced = record_rejects(
                con, links, decided_by=a.officer, decided_at=received_at,
                reason=f"部门核查反馈非本人（{a.key.split(':', 1)[0]}，{a.as_of}，录入：{actor}）")
            detail["rejected_links"] = [{"source": s, "record_key": k} for s, k, _ in links]
            if replaced:
                detail["replaced_decisions"] = replaced
        details.append(detail)
    keys = sorted({a.key for a in answers})
    refresh_lifecycle(con, keys, audit=False)
    after = dict(con.execute("select warning_key, status from warnings.lifecycle where "
                             "warning_key in (select unnest(?::varchar[]))", [keys]).fetchall())
    insert_rows(con, "warnings.audit", AUDIT_COLUMNS, [
        [received_at, a.key, a.status_before, after.get(a.key), actor, channel,
         json.dumps(d, ensure_ascii=False, default=str)] for a, d in zip(answers, details,
                                                                         strict=True)])


def record_disposition(
    con: duckdb.DuckDBPyConnection, warning_key: str, result: str, result_date: date,
    officer: str, note: str = "", *, channel: str = "web", actor: str,
    as_of: date | None = None,
) -> None:
    """Record a department's verification result for one warning (the only way to do so).

    Args:
        warning_key: `rule_id:person_id` or `rule_id:household_id`.
        result: confirmed | not_confirmed | wrong_person | assistance_adjusted | enrolled.
        result_date: the verification date (not in the future, not before the warning's cycle).
        officer: who verified; actor: who entered it; channel: `web` or `file`.
        as_of: the quarter whose referral is answered (default: the last quarter it fired).

    Raises FeedbackError (with a FeedbackReason `code`; also a ValueError) for an unknown
    warning, a bad value or date, or a different result already recorded for the same cycle.
    Recording the same result again is a no-op.

    Example:
        >>> record_disposition(con, "VEHICLE_OWNED:430102198001010011", "not_confirmed",
        ...                    date(2026, 10, 20), "李四", "车辆已过户", actor="county_admin")
    """
    ensure_tables(con)
    with transaction(con):
        known = _load_known(con, [warning_key]).get(warning_key)
        answer = _validate(known, warning_key, result, result_date, officer, note,
                           channel=channel, actor=actor, as_of=as_of, today=date.today())
        if answer is not None:
            _apply(con, [answer], channel=channel, actor=actor, received_at=now_utc())


# ---------------------------------------------------------------- reading a returned file
@dataclass(frozen=True)
class FeedbackColumns:
    """Accepted headers of the id and result columns (each role may have several spellings)."""

    warning_id: tuple[str, ...] = ("预警编号",)
    result: tuple[str, ...] = ("核查结果",)
    result_date: tuple[str, ...] = ("核查日期",)
    officer: tuple[str, ...] = ("核查人",)
    note: tuple[str, ...] = ("备注",)

    @classmethod
    def from_layout(cls, layout: Any | None = None) -> FeedbackColumns:
        """Headers from the referral layout (referrals/columns.yaml): the `warning_id` column and
        the first four blank columns (result, date, officer, note) of every department."""
        from safetynet.referrals.config import load_columns_config

        layout = layout if layout is not None and not isinstance(layout, (str, Path, Mapping)) \
            else load_columns_config(layout)
        roles: dict[str, list[str]] = {r: list(getattr(cls(), r)) for r in ROLES}
        for dept in layout.departments.values():
            for col in dept.columns:
                if col.field == "warning_id":
                    roles["warning_id"].append(col.header)
            blanks = [c.header for c in dept.columns if c.field is None]
            for role, header in zip(ROLES[1:], blanks, strict=False):
                roles[role].append(header)
        return cls(**{r: tuple(dict.fromkeys(normalise_header(h) for h in hs))
                      for r, hs in roles.items()})

    def find(self, headers: list[str]) -> dict[str, int]:
        """Column index per role found in `headers` (normalised)."""
        out: dict[str, int] = {}
        for role in ROLES:
            for name in getattr(self, role):
                if name in headers:
                    out[role] = headers.index(name)
                    break
        return out


ROLES = ("warning_id", "result", "result_date", "officer", "note")
REQUIRED_ROLES = ("warning_id", "result", "result_date", "officer")


@dataclass(frozen=True)
class FeedbackRow:
    """One answered, well-formed row of a returned file."""

    row_number: int
    warning_id: str
    result: str
    result_date: date
    officer: str
    note: str


@dataclass(frozen=True)
class FeedbackRowError:
    """Why one row (row_number None: the whole file) was not applied."""

    file: str
    row_number: int | None
    column: str | None
    warning_id: str | None
    value: str | None
    code: str
    message: str


@dataclass
class FeedbackIntake:
    """A returned file as read: well-formed answered rows, row errors, unanswered row count."""

    path: Path
    sha256: str
    format: str | None = None
    encoding: str | None = None
    as_of_hint: date | None = None
    headers: dict[str, str] = field(default_factory=dict)
    rows: list[FeedbackRow] = field(default_factory=list)
    errors: list[FeedbackRowError] = field(default_factory=list)
    unanswered: int = 0


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value).strip()


def parse_date(value: Any) -> date:
    """A verification date from a cell: date object, ISO / Chinese text, yyyymmdd, Excel serial."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if float(value).is_integer() and 19000101 <= value <= 29991231:
            return datetime.strptime(str(int(value)), "%Y%m%d").date()
        if 1 <= value < 2958466:
            return _EXCEL_EPOCH + timedelta(days=int(value))
        raise ValueError(value)
    text = _text(value).lstrip("'")
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(text)


def _err(file: str, row: int | None, column: str | None, wid: str | None, value: Any,
         code: FeedbackReason, zh: str, en: str) -> FeedbackRowError:
    where_zh = f"{file}" + (f" 第{row}行" if row else "") + (f" {column}列" if column else "")
    where_en = f"{file}" + (f" row {row}" if row else "") + (f" column {column}" if column else "")
    return FeedbackRowError(file, row, column, wid, None if value is None else _text(value),
                            str(code), f"{where_zh}：{zh} / {where_en}: {en}")


def _as_of_hint(path: Path) -> date | None:
    found = _AS_OF_IN_NAME.findall(path.name)
    try:
        return date.fromisoformat(found[-1]) if found else None
    except ValueError:
        return None


def read_feedback_file(path: str | Path, *, columns: FeedbackColumns | None = None,
                       today: date | None = None) -> FeedbackIntake:
    """Read and check a returned referral file (no database access).

    Rows whose result, date, officer and note are all empty are unanswered (skipped). Each other
    row either becomes a FeedbackRow or one or more FeedbackRowErrors naming file, row, column.
    Raises FeedbackFileError when the file cannot be read or lacks a required column.
    """
    path = Path(path)
    columns = columns or FeedbackColumns.from_layout()
    name = path.name
    today = today or date.today()

    def is_header(headers: list[str]) -> bool:
        return "warning_id" in columns.find(headers)

    try:
        table: Table = read_table(path, is_header=is_header)
    except TableFileError as exc:
        code = {"encoding_error": FeedbackReason.ENCODING_ERROR,
                "missing_column": FeedbackReason.MISSING_COLUMN}.get(exc.code,
                                                                     FeedbackReason.MALFORMED_FILE)
        if code == FeedbackReason.MISSING_COLUMN:
            message = (f"找不到“{columns.warning_id[0]}”列 / column {columns.warning_id[0]} not "
                       f"found. {exc}")
        else:
            message = str(exc)
        column = columns.warning_id[0] if code == FeedbackReason.MISSING_COLUMN else None
        raise FeedbackFileError(message, code=code, file=name, column=column) from None
    found = columns.find(table.headers)
    missing = [getattr(columns, r)[0] for r in REQUIRED_ROLES if r not in found]
    if missing:
        raise FeedbackFileError(
            f"缺少反馈列：{'、'.join(missing)}（请使用下发的转办文件填写）/ missing column(s): "
            f"{', '.join(missing)}", code=FeedbackReason.MISSING_COLUMN, file=name,
            column=missing[0])
    intake = FeedbackIntake(path=path, sha256=sha256_file(path), format=table.format,
                            encoding=table.encoding, as_of_hint=_as_of_hint(path),
                            headers={r: table.headers[i] for r, i in found.items()})
    answered: dict[str, list[tuple[int, FeedbackRow | None]]] = {}
    for row_number, cells in table.rows:
        def cell(role: str, cells: list[Any] = cells) -> Any:
            i = found.get(role)
            return cells[i] if i is not None and i < len(cells) else None

        if not any(_text(cell(r)) for r in ROLES[1:]):
            intake.unanswered += 1
            continue
        errors: list[FeedbackRowError] = []
        raw_id = cell("warning_id")
        wid = normalise_warning_id(raw_id)
        h = intake.headers
        if not _text(raw_id):
            errors.append(_err(name, row_number, h["warning_id"], None, raw_id,
                               FeedbackReason.MISSING_VALUE, "预警编号为空", "warning id is empty"))
        elif wid is None:
            errors.append(_err(name, row_number, h["warning_id"], _text(raw_id), raw_id,
                               FeedbackReason.UNKNOWN_WARNING, "预警编号格式不正确（应为W加12位编码）",
                               "not a warning id"))
        raw_result = _text(cell("result"))
        result = RESULT_BY_LABEL.get(normalise_header(raw_result))
        if not raw_result:
            errors.append(_err(name, row_number, h["result"], wid, raw_result,
                               FeedbackReason.MISSING_VALUE, "核查结果为空", "result is empty"))
        elif result is None:
            errors.append(_err(name, row_number, h["result"], wid, raw_result,
                               FeedbackReason.BAD_VALUE,
                               f"核查结果“{raw_result}”无法识别，应填："
                               f"{'、'.join(RESULT_LABELS_ZH.values())}",
                               f"unknown result, expected one of {', '.join(RESULTS)}"))
        raw_date = cell("result_date")
        result_date = None
        if not _text(raw_date):
            errors.append(_err(name, row_number, h["result_date"], wid, raw_date,
                               FeedbackReason.MISSING_VALUE, "核查日期为空", "date is empty"))
        else:
            try:
                result_date = parse_date(raw_date)
            except ValueError:
                errors.append(_err(name, row_number, h["result_date"], wid, raw_date,
                                   FeedbackReason.BAD_DATE, "核查日期无法识别（请填写如 2026-10-15）",
                                   "unparseable date"))
            else:
                if result_date > today:
                    errors.append(_err(name, row_number, h["result_date"], wid, raw_date,
                                       FeedbackReason.BAD_DATE, "核查日期晚于今天",
                                       "date is in the future"))
        officer = _text(cell("officer"))
        if not officer:
            errors.append(_err(name, row_number, h["officer"], wid, officer,
                               FeedbackReason.MISSING_VALUE, "核查人为空", "officer is empty"))
        intake.errors += errors
        parsed = None
        if not errors:
            parsed = FeedbackRow(row_number, wid or "", result or "", result_date or today,
                                 officer, _text(cell("note")))
        if wid:
            answered.setdefault(wid, []).append((row_number, parsed))
        elif parsed:
            intake.rows.append(parsed)
    for wid, entries in answered.items():
        if len(entries) == 1:
            if entries[0][1]:
                intake.rows.append(entries[0][1])
            continue
        rows = [p for _, p in entries]
        numbers = "、".join(str(n) for n, _ in entries)
        same = all(rows) and len({(p.result, p.result_date, p.officer, p.note)
                                  for p in rows if p}) == 1
        if same:
            first = rows[0]
            assert first is not None
            intake.rows.append(first)
            for n, _ in entries[1:]:
                intake.errors.append(_err(
                    name, n, intake.headers["warning_id"], wid, wid,
                    FeedbackReason.DUPLICATE_ANSWER,
                    f"同一预警重复填写（第{numbers}行内容相同），已按第{first.row_number}行导入",
                    f"duplicate answer, row {first.row_number} was used"))
        else:
            for n, p in entries:
                if p is None:
                    continue
                intake.errors.append(_err(
                    name, n, intake.headers["warning_id"], wid, wid,
                    FeedbackReason.DUPLICATE_ANSWER,
                    f"同一预警在文件中有多条不同的核查结果（第{numbers}行），均未导入",
                    f"conflicting answers for the same warning in rows {numbers}; none applied"))
    intake.rows.sort(key=lambda r: r.row_number)
    intake.errors.sort(key=lambda e: (e.row_number or 0, e.column or ""))
    return intake


# ---------------------------------------------------------------- applying a file
@dataclass
class FeedbackResult:
    """Outcome of one returned file."""

    file: str
    sha256: str | None
    applied: int = 0
    already_recorded: int = 0
    unanswered: int = 0
    errors: list[FeedbackRowError] = field(default_factory=list)
    report_path: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


REPORT_SUFFIX = "_反馈校验错误.xlsx"
REPORT_HEADERS = ("文件", "行号", "列", "预警编号", "填写内容", "错误代码", "错误说明")


def write_error_report(path: str | Path, errors: Iterable[FeedbackRowError]) -> Path:
    """The XLSX sent back to the department: one line per rejected cell or row."""
    rows = [[e.file, e.row_number, e.column, e.warning_id, e.value, e.code, e.message]
            for e in errors]
    return write_xlsx(path, REPORT_HEADERS, rows, sheet_title="反馈校验错误")


def _store_rejects(con: duckdb.DuckDBPyConnection, source_file: str, sha256: str | None,
                   errors: list[FeedbackRowError], actor: str, received_at: datetime) -> None:
    # the same file imported again keeps its first reception time: nothing changes
    (first,) = con.execute(
        "select min(received_at) from warnings.feedback_rejects where source_file = ? and "
        "file_sha256 is not distinct from ?", [source_file, sha256]).fetchone()
    received_at = first or received_at
    con.execute("delete from warnings.feedback_rejects where source_file = ? and "
                "file_sha256 is not distinct from ?", [source_file, sha256])
    insert_rows(con, "warnings.feedback_rejects",
                ("received_at", "source_file", "file_sha256", "row_number", "column_name",
                 "warning_id", "value", "reason_code", "reason", "actor"),
                [[received_at, source_file, sha256, e.row_number, e.column, e.warning_id,
                  e.value, e.code, e.message, actor] for e in errors])


def apply_feedback(con: duckdb.DuckDBPyConnection, intake: FeedbackIntake, *, actor: str,
                   report_dir: str | Path | None = None,
                   today: date | None = None) -> FeedbackResult:
    """Apply the well-formed rows of `intake` in one transaction; keep every rejected row.

    A row whose warning id is unknown, or whose warning already has a different result for the
    same cycle, is rejected like a malformed one. The error report (XLSX) is written next to the
    file (or into `report_dir`) when anything was rejected.
    """
    ensure_tables(con)
    name = intake.path.name
    result = FeedbackResult(file=name, sha256=intake.sha256, unanswered=intake.unanswered,
                            errors=list(intake.errors))
    keys = resolve_warning_ids(con, (r.warning_id for r in intake.rows))
    received_at = now_utc()
    today = today or date.today()
    header = intake.headers
    with transaction(con):
        known = _load_known(con, keys.values())
        hint = intake.as_of_hint
        answers: list[_Answer] = []
        for row in intake.rows:
            key = keys.get(row.warning_id)
            if key is None:
                result.errors.append(_err(name, row.row_number, header.get("warning_id"),
                                          row.warning_id, row.warning_id,
                                          FeedbackReason.UNKNOWN_WARNING,
                                          "预警编号不存在（不是本系统下发的预警）", "unknown warning id"))
                continue
            fired = {q for q, _ in known[key].fired} if key in known else set()
            try:
                answer = _validate(known.get(key), key, row.result, row.result_date, row.officer,
                                   row.note, channel="file", actor=actor,
                                   as_of=hint if hint in fired else None, today=today,
                                   source_file=name, row_number=row.row_number)
            except FeedbackError as exc:
                column = exc.column if exc.column in ("result", "result_date", "officer") \
                    else "warning_id"
                zh, _, en = str(exc.args[0]).partition(" / ")
                value = row.warning_id if column == "warning_id" else getattr(row, column, None)
                result.errors.append(_err(name, row.row_number, header.get(column),
                                          row.warning_id, value, exc.code, zh, en or zh))
                continue
            if answer is None:
                result.already_recorded += 1
                continue
            answers.append(answer)
            known[key].answers.insert(0, (answer.as_of, answer.result, name, row.row_number,
                                          "file"))
        _apply(con, answers, channel="file", actor=actor, received_at=received_at)
        result.applied = len(answers)
        result.errors.sort(key=lambda e: (e.row_number or 0, e.column or ""))
        _store_rejects(con, name, intake.sha256, result.errors, actor, received_at)
    if result.errors:
        folder = Path(report_dir) if report_dir else intake.path.parent
        result.report_path = write_error_report(
            folder / f"{intake.path.stem}{REPORT_SUFFIX}", result.errors)
    return result


def intake_feedback_file(con: duckdb.DuckDBPyConnection, path: str | Path, *, actor: str,
                         report_dir: str | Path | None = None,
                         columns: FeedbackColumns | None = None,
                         today: date | None = None) -> FeedbackResult:
    """Read, check and apply one returned file; a file that cannot be read is recorded as one
    rejected entry (row_number NULL) and reported, nothing of it applied."""
    path = Path(path)
    try:
        intake = read_feedback_file(path, columns=columns, today=today)
    except FeedbackFileError as exc:
        ensure_tables(con)
        sha = sha256_file(path) if path.is_file() else None
        error = FeedbackRowError(path.name, None, exc.column, None, None, str(exc.code), str(exc))
        with transaction(con):
            _store_rejects(con, path.name, sha, [error], actor, now_utc())
        folder = Path(report_dir) if report_dir else path.parent
        report = write_error_report(folder / f"{path.stem}{REPORT_SUFFIX}", [error]) \
            if folder.is_dir() else None
        return FeedbackResult(file=path.name, sha256=sha, errors=[error], report_path=report)
    return apply_feedback(con, intake, actor=actor, report_dir=report_dir, today=today)
