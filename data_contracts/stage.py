"""Stage step: raw."<source>" -> staged.<table> + meta.quarantine, driven by config and contract.

Every raw row ends up either staged or quarantined (one quarantine row per failing column), so
`rows_read = rows_staged + rows_quarantined` holds per source and as_of. Problems that concern
the whole source (a mapped column missing from the file, an unknown canonical column or table)
raise SafetynetError so the run can mark the source rejected.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

import duckdb

from safetynet.connectors.config import SourceConfig
from safetynet.data_contracts.contract import Contract, load_all_contracts, load_contract
from safetynet.data_contracts.stage_sql import (
    _WS,
    ColumnPlan,
    as_date,
    build_stage_sql,
    canonical_text,
    lit,
    reason_label_sql,
    repeated_keys_sql,
)
from safetynet.errors import ConfigError, ReasonCode, SafetynetError
from safetynet.warehouse import quote_ident, table_exists, transaction

log = logging.getLogger(__name__)

EXTRACT_REASON_CODES = (ReasonCode.MALFORMED_ROW.value, ReasonCode.ENCODING_ERROR.value)
STAGE_REASON_CODES = tuple(c.value for c in ReasonCode if c.value not in EXTRACT_REASON_CODES)
"""Reason codes this step writes; on a rerun only these rows of (as_of, source) are replaced."""


@dataclass
class StageResult:
    """Counts of one source's stage run (rows_quarantined counts distinct rows)."""

    source: str
    table: str
    rows_read: int
    rows_staged: int
    rows_quarantined: int
    quarantine_entries: int = 0
    unmapped_source_columns: tuple[str, ...] = ()
    unmapped_canonical_columns: tuple[str, ...] = ()


def ensure_staged_table(con: duckdb.DuckDBPyConnection, table: str) -> Contract:
    """Create `staged.<table>` from its contract if missing; add contract columns it lacks."""
    contract = load_contract(table)
    con.execute(contract.ddl())
    have = {r[0] for r in con.execute(
        "select column_name from information_schema.columns "
        "where table_schema = 'staged' and table_name = ?", [table]).fetchall()}
    for col in contract.columns.values():
        if col.name not in have:
            con.execute(f'alter table staged."{table}" add column "{col.name}" {col.sql_type}')
    return contract


def ensure_staged_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create every staged table (empty) so later stages can rely on them."""
    for table in load_all_contracts():
        ensure_staged_table(con, table)


def clear_source(con: duckdb.DuckDBPyConnection, source: str, table: str | None,
                 as_of: date) -> None:
    """Delete this step's rows of (as_of, source): staged rows and stage quarantine rows."""
    if table and table_exists(con, "staged", table):
        con.execute(f'delete from staged."{table}" where as_of = ? and _source = ?',
                    [as_of, source])
    codes = ", ".join(lit(c) for c in STAGE_REASON_CODES)
    con.execute(f"delete from meta.quarantine where as_of = ? and source = ? "
                f"and reason_code in ({codes})", [as_of, source])


def _norm(name: str) -> str:
    return unicodedata.normalize("NFKC", name).strip(_WS).casefold()


def _source_error(source: SourceConfig, files: str, zh: str, en: str,
                  column: str | None = None) -> SafetynetError:
    return SafetynetError(f"数据源 {source.name}（文件 {files}）{zh}; "
                          f"source {source.name} (file {files}) {en}",
                          source=source.name, file=files, column=column)


class _Resolver:
    """Checks a source config against its contract and raw table; builds the column plans."""

    def __init__(self, con: duckdb.DuckDBPyConnection, source: SourceConfig,
                 contract: Contract) -> None:
        self.con, self.source, self.contract = con, source, contract
        self.raw_table = f"raw.{quote_ident(source.name)}"
        if not table_exists(con, "raw", source.name):
            raise _source_error(source, source.path or "?", "尚未抽取（缺少原始表）",
                                f"has no raw table {self.raw_table}")
        desc = con.execute(f"select * from {self.raw_table} limit 0").description or []
        self.raw_columns = [d[0] for d in desc]
        for meta in ("_row", "_file"):
            if meta not in self.raw_columns:
                raise _source_error(source, source.path or "?", f"原始表缺少 {meta} 列",
                                    f"raw table lacks the {meta} column")
        files = [r[0] for r in con.execute(
            f"select distinct _file from {self.raw_table} where _file is not null "
            f"order by _file limit 6").fetchall()]
        self.files = ", ".join(files[:5]) + (" ..." if len(files) > 5 else "") if files else (
            source.path or "?")
        self.by_norm: dict[str, list[str]] = {}
        for c in self.raw_columns:
            self.by_norm.setdefault(_norm(c), []).append(c)
        self.used: set[str] = set()

    def find(self, wanted: str) -> str | None:
        """The raw column for a configured name: exact, else unique after NFKC/trim/casefold."""
        if wanted in self.raw_columns:
            return wanted
        hits = self.by_norm.get(_norm(wanted), [])
        return hits[0] if len(hits) == 1 else None

    def plans(self) -> tuple[list[ColumnPlan], str, str]:
        src, contract = self.source, self.contract
        unknown = sorted(set(src.columns) - set(contract.columns))
        if unknown:
            raise ConfigError(
                f"数据源 {src.name} 配置了标准表 {contract.table} 中不存在的字段：{'、'.join(unknown)}; "
                f"source {src.name} maps unknown canonical column(s) {unknown} of table "
                f"{contract.table}", source=src.name, column=", ".join(unknown))
        bad_values = sorted(set(src.values) - set(contract.columns))
        if bad_values:
            raise ConfigError(
                f"数据源 {src.name} 的 values 映射了标准表 {contract.table} 中不存在的字段："
                f"{'、'.join(bad_values)}; source {src.name} has value maps for unknown canonical "
                f"column(s) {bad_values}", source=src.name, column=", ".join(bad_values))
        idle = sorted(set(src.values) - set(src.columns))
        if idle:
            log.warning("source %s: value maps for unmapped column(s) %s are ignored",
                        src.name, idle)
        missing: list[tuple[str, str]] = []
        key_col = self.find(src.record_key)
        if key_col is None:
            missing.append((src.record_key, "record_key"))
        plans: list[ColumnPlan] = []
        for name, spec in contract.columns.items():
            mapping = src.columns.get(name)
            values = src.values.get(name)
            self._check_values(name, values)
            accepted = tuple(k for k in (values or {}) if k != "*")
            if mapping is None:
                plans.append(ColumnPlan(spec, None, name))
            elif mapping.column is not None:
                col = self.find(mapping.column)
                if col is None:
                    missing.append((mapping.column, name))
                    continue
                self.used.add(col)
                plans.append(ColumnPlan(spec, quote_ident(col), col, values, accepted))
            elif mapping.expr is not None:
                self._check_expr(name, mapping.expr)
                self.used.update(c for c in self.raw_columns if c in mapping.expr)
                plans.append(ColumnPlan(spec, f"({mapping.expr})", name, values, accepted))
            else:
                text = canonical_text(mapping.const)
                plans.append(ColumnPlan(spec, lit(text), name, values, accepted))
        if missing:
            cols_zh = "、".join(f"「{c}」（标准字段 {t}）" for c, t in missing)
            cols_en = ", ".join(f"'{c}' (canonical {t})" for c, t in missing)
            if not self.used:  # not one configured column found: the header itself is off
                cols_zh += (f"。没有找到任何已配置的列：请检查表头是否在第 {src.header_row} 行"
                            f"（header_row）、分隔符、编码和工作表")
                cols_en += (f"; none of the configured columns was found: check header_row "
                            f"({src.header_row}), delimiter, encoding and sheet")
            raise _source_error(src, self.files, f"缺少列：{cols_zh}",
                                f"lacks column(s) {cols_en}",
                                column=", ".join(c for c, _ in missing))
        unmapped_required = [p.spec.name for p in plans if p.spec.required and p.text_sql is None]
        if unmapped_required:
            raise ConfigError(
                f"数据源 {src.name} 未配置必填字段：{'、'.join(unmapped_required)}; source "
                f"{src.name} does not map required column(s) {unmapped_required} of "
                f"{contract.table}", source=src.name, column=", ".join(unmapped_required))
        if contract.identity and not any(
                p.text_sql is not None for p in plans if p.spec.name in ("id_number", "name")):
            raise ConfigError(
                f"数据源 {src.name} 既未配置身份证号码也未配置姓名; source {src.name} maps "
                f"neither id_number nor name", source=src.name, column="id_number, name")
        self._check_date_formats()
        assert key_col is not None
        self.used.add(key_col)
        return plans, quote_ident(key_col), key_col

    def _check_values(self, name: str, values: dict | None) -> None:
        spec = self.contract.columns[name]
        if not values or not spec.allowed:
            return
        bad = sorted({str(canonical_text(v)) for v in values.values()
                      if v is not None and canonical_text(v) not in spec.allowed})
        if bad:
            raise ConfigError(
                f"数据源 {self.source.name} 字段 {name} 的取值映射目标不在约定范围内：{'、'.join(bad)}; "
                f"source {self.source.name} maps {name} to values outside {list(spec.allowed)}: "
                f"{bad}", source=self.source.name, column=name)

    def _check_expr(self, name: str, expr: str) -> None:
        try:
            self.con.execute(f"select CAST(({expr}) AS VARCHAR) from {self.raw_table} limit 0")
        except duckdb.Error as exc:
            raise _source_error(
                self.source, self.files,
                f"字段 {name} 的表达式无法执行（可能缺少列）：{exc}",
                f"expression for canonical column {name} fails (missing column?): {exc}",
                column=name) from exc

    def _check_date_formats(self) -> None:
        for fmt in self.source.date_formats:
            try:
                self.con.execute("select try_strptime('2000-01-01', [?])", [fmt]).fetchall()
            except duckdb.Error as exc:
                raise ConfigError(f"date format {fmt!r} is not valid: {exc}",
                                  source=self.source.name) from exc


def _resolve(con: duckdb.DuckDBPyConnection, source: SourceConfig,
             as_of: date) -> tuple[Contract, _Resolver, list[ColumnPlan], str, bool]:
    """(contract, resolver, column plans, stage SQL, whether the SQL joins repeated keys)."""
    try:
        contract = load_contract(source.table)
    except ConfigError as exc:
        raise ConfigError(
            f"数据源 {source.name} 指向未知的标准表 {source.table}; source {source.name} feeds "
            f"unknown canonical table '{source.table}': {exc}", source=source.name) from exc
    resolver = _Resolver(con, source, contract)
    plans, key_sql, key_col = resolver.plans()
    # a narrow hash count first: most extracts have no key twice and skip the duplicate join
    (repeated,) = con.execute(repeated_keys_sql(resolver.raw_table, key_sql)).fetchone()
    sql = build_stage_sql(contract, plans, raw_table=resolver.raw_table, record_key_sql=key_sql,
                          repeated_keys=bool(repeated),
                          record_key_column=key_col, date_formats=source.date_formats,
                          as_of=as_of)
    return contract, resolver, plans, sql, bool(repeated)


def stage_sql(con: duckdb.DuckDBPyConnection, source: SourceConfig, as_of: date) -> str:
    """The generated stage model of a source (for inspection and debugging)."""
    return _resolve(con, source, as_of)[3]


def stage_source(con: duckdb.DuckDBPyConnection, source: SourceConfig, as_of: date) -> StageResult:
    """Stage one source's raw table for `as_of` in one transaction (idempotent per as_of).

    Raises SafetynetError (or its subclass ConfigError) for source-level problems; the stage's
    earlier rows of (as_of, source) are then removed so a rejected source contributes nothing.
    """
    as_of = as_date(as_of)
    try:
        contract, resolver, plans, sql, repeated = _resolve(con, source, as_of)
    except SafetynetError:
        table = source.table if source.table in load_all_contracts() else None
        with transaction(con):
            clear_source(con, source.name, table, as_of)
        raise
    tmp = quote_ident(f"__stage_{source.name}")
    # staged rows in file order: a model with the duplicate-key join must be sorted back; one
    # without keeps the raw order (tests/test_stage.py checks it on a multi-row-group extract)
    order = "order by _file, _row" if repeated else ""
    staged_cols = ", ".join(quote_ident(c) for c in contract.columns)
    as_of_sql, src_sql, dept_sql = lit(as_of), lit(source.name), lit(source.department)
    reason = (
        "'文件 ' || coalesce(_file, '?') || ' 第 ' || CAST(_row AS VARCHAR) || ' 行 列「' "
        "|| f.column_label || '」：' || " + reason_label_sql("f.reason_code") + " || "
        "CASE WHEN f.shown IS NOT NULL THEN '（\"' || f.shown || '\"' "
        "|| coalesce('，' || f.hint, '') || '）' ELSE coalesce('（' || f.hint || '）', '') END"
    )
    try:
        with transaction(con):
            ensure_staged_table(con, contract.table)
            con.execute(f"create or replace temp table {tmp} as {sql}")
            clear_source(con, source.name, contract.table, as_of)
            con.execute(
                f'insert into staged."{contract.table}" ({staged_cols}, as_of, _source, '
                f"_record_key, _row, _file) select {staged_cols}, {as_of_sql}, {src_sql}, "
                f"_record_key, _row, _file from {tmp} where coalesce(len(_failures), 0) = 0 "
                f"{order}")
            con.execute(
                "insert into meta.quarantine (as_of, source, department, file, row_number, "
                "record_key, column_name, value, reason_code, reason) "
                f"select {as_of_sql}, {src_sql}, {dept_sql}, _file, _row, _record_key, "
                f"f.column_name, f.value, f.reason_code, {reason} from ("
                f"select _file, _row, _record_key, unnest(_failures) as f from {tmp} "
                f"where coalesce(len(_failures), 0) > 0) order by _file, _row")
            read, staged, quarantined, entries = con.execute(
                f"select count(*), count(*) filter (where coalesce(len(_failures), 0) = 0), "
                f"count(*) filter (where coalesce(len(_failures), 0) > 0), "
                f"coalesce(sum(coalesce(len(_failures), 0)), 0) from {tmp}").fetchone()
            con.execute(f"drop table {tmp}")
    except duckdb.Error as exc:
        with transaction(con):
            clear_source(con, source.name, contract.table, as_of)
        # DuckDB quotes offending cell values in its messages: keep them out of logs
        detail = re.sub(r"'[^']*'", "'…'", str(exc).splitlines()[0])
        raise SafetynetError(f"数据源 {source.name} 标准化失败; staging source {source.name} "
                             f"failed: {detail}", source=source.name, file=resolver.files) from exc
    unmapped = tuple(c for c in resolver.raw_columns
                     if c not in resolver.used and c not in ("_row", "_file"))
    result = StageResult(
        source=source.name, table=contract.table, rows_read=int(read), rows_staged=int(staged),
        rows_quarantined=int(quarantined), quarantine_entries=int(entries),
        unmapped_source_columns=unmapped,
        unmapped_canonical_columns=tuple(p.spec.name for p in plans if p.text_sql is None),
    )
    log.info("staged %s -> %s: read %d, staged %d, quarantined %d rows (%d entries)",
             source.name, contract.table, result.rows_read, result.rows_staged,
             result.rows_quarantined, result.quarantine_entries)
    return result
