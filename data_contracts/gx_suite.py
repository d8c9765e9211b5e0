"""Great Expectations view of a contract: the suite, run on the staged rows of one as_of.

The quarantine mask is computed in DuckDB (stage.py); GX re-checks what was staged against the
same contract and gives the run a per-expectation report it can store. After a clean stage the
suite passes; a failing suite means staged data broke its contract (a bug or a manual edit).
GX is imported lazily (it costs seconds), with analytics and progress bars off.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import pandas as pd

from safetynet.data_contracts.contract import Contract, load_contract
from safetynet.data_contracts.stage import ensure_staged_table
from safetynet.data_contracts.stage_sql import (
    _FORMULA_RE,
    FUTURE_DAYS,
    MAX_TEXT,
    MIN_DATE,
    as_date,
)
from safetynet.errors import ReasonCode
from safetynet.privacy import mask_id, mask_name

IDENTITY_FLAG = "_has_identity"
GX_SAMPLE_ROWS = 20_000
"""Rows GX re-checks per table and quarter (a deterministic sample above it): the SQL
quarantine mask already enforced the contract on every row while staging."""
_SAMPLE = 5


@dataclass
class ContractResult:
    """Outcome of a contract's GX suite on `staged.<table>` for one as_of (JSON-able)."""

    table: str
    as_of: date
    success: bool
    row_count: int
    expectations: list[dict[str, Any]] = field(default_factory=list)
    rows_total: int | None = None  # staged rows of as_of; > row_count when GX saw a sample

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [e for e in self.expectations if not e["success"]]

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "as_of": self.as_of.isoformat(), "success": self.success,
                "row_count": self.row_count, "rows_total": self.rows_total, "evaluated": len(self.expectations),
                "failed": len(self.failed), "expectations": self.expectations}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)


def _gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    return gx


def build_suite(contract: Contract, as_of: date):
    """An ExpectationSuite equivalent to the contract's row checks for staged rows of `as_of`."""
    gx = _gx()
    E = gx.expectations
    suite = gx.ExpectationSuite(name=f"{contract.table}_contract")

    def add(exp: Any, code: str | None, label: str) -> None:
        exp.meta = {"reason_code": code, "label": label}
        suite.add_expectation(exp)

    for name in ("as_of", "_source", "_record_key", "_row"):
        add(E.ExpectColumnValuesToNotBeNull(column=name), ReasonCode.MISSING_REQUIRED, name)
    for col in contract.columns.values():
        add(E.ExpectColumnToExist(column=col.name), None, col.label)
        if col.required:
            add(E.ExpectColumnValuesToNotBeNull(column=col.name), ReasonCode.MISSING_REQUIRED,
                col.label)
        if col.allowed:
            add(E.ExpectColumnValuesToBeInSet(column=col.name, value_set=list(col.allowed)),
                ReasonCode.UNKNOWN_CODE, col.label)
        if col.min is not None or col.max is not None:
            add(E.ExpectColumnValuesToBeBetween(
                column=col.name, min_value=col.min, max_value=col.max,
                strict_min=col.min_exclusive, strict_max=col.max_exclusive),
                ReasonCode.OUT_OF_RANGE, col.label)
        if col.pattern:
            add(E.ExpectColumnValuesToMatchRegex(column=col.name, regex=col.pattern),
                ReasonCode.BAD_PATTERN, col.label)
        if col.type == "varchar" and not col.allowed and not col.pattern:
            # (a value in an allowed set or matching an anchored pattern is neither long nor
            # formula-like: those checks would only cost time)
            add(E.ExpectColumnValueLengthsToBeBetween(column=col.name, max_value=MAX_TEXT),
                ReasonCode.FIELD_TOO_LONG, col.label)
            add(E.ExpectColumnValuesToNotMatchRegex(column=col.name, regex=_FORMULA_RE),
                ReasonCode.FORMULA_LIKE, col.label)
        if col.type == "date":
            # DuckDB DATE arrives as datetime64; Timestamp bounds are twice as fast as datetime
            upper = None if col.allow_future else pd.Timestamp(
                as_of + timedelta(days=FUTURE_DAYS))
            add(E.ExpectColumnValuesToBeBetween(
                column=col.name, min_value=pd.Timestamp(MIN_DATE), max_value=upper),
                ReasonCode.DATE_OUT_OF_RANGE, col.label)
    if contract.identity:
        add(E.ExpectColumnValuesToBeInSet(column=IDENTITY_FLAG, value_set=[True]),
            ReasonCode.MISSING_IDENTITY, "身份证号码或姓名")
    add(E.ExpectCompoundColumnsToBeUnique(column_list=list(contract.unique)),
        ReasonCode.DUPLICATE_RECORD_KEY, "记录编号")
    return suite


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value else None
    return str(value)


def _mask(column: str, value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask(k, v) for k, v in value.items()}
    if value is None or (isinstance(value, float) and value != value):
        return None
    if column in ("id_number", "_record_key"):
        return mask_id(str(value))
    if column == "name":
        return mask_name(str(value))
    return _jsonable(value)


def _summary(res: Any) -> dict[str, Any]:
    cfg = res.expectation_config
    kwargs = {k: v for k, v in cfg.kwargs.items() if k != "batch_id"}
    column = kwargs.get("column") or kwargs.get("column_list")
    result = res.result or {}
    samples = result.get("partial_unexpected_list") or []
    info = res.exception_info or {}
    raised = info.get("raised_exception") if isinstance(info, dict) else False
    return {
        "expectation": cfg.type,
        "column": column,
        "label": (cfg.meta or {}).get("label"),
        "reason_code": (cfg.meta or {}).get("reason_code"),
        "kwargs": _jsonable(kwargs),
        "success": bool(res.success),
        "element_count": result.get("element_count"),
        "unexpected_count": result.get("unexpected_count"),
        "unexpected_percent": _jsonable(result.get("unexpected_percent")),
        "sample": [_mask(str(column), v) for v in samples[:_SAMPLE]],
        "exception": str(info.get("exception_message")) if raised else None,
    }


_CONTEXT: Any = None


def _context() -> Any:
    """One ephemeral GX context per process (creating one costs ~0.5 s)."""
    global _CONTEXT
    if _CONTEXT is None:
        gx = _gx()
        from great_expectations.data_context.types.base import ProgressBarsConfig

        _CONTEXT = gx.get_context(mode="ephemeral")
        _CONTEXT.variables.progress_bars = ProgressBarsConfig(globally=False,
                                                              metric_calculations=False)
    return _CONTEXT


def validate_staged(con: duckdb.DuckDBPyConnection, table: str, as_of: date,
                    *, max_rows: int | None = GX_SAMPLE_ROWS) -> ContractResult:
    """Run the contract's GX suite on `staged.<table>` rows of `as_of` (ephemeral context).

    Row-level rules were already enforced in SQL while staging (bad rows are quarantined), so
    above `max_rows` GX verifies a deterministic sample (hash of source and record key): the
    contract check stays seconds at millions of rows. `max_rows=None` checks every row.
    """
    as_of = as_date(as_of)
    contract = load_contract(table)
    ensure_staged_table(con, table)
    identity = (f", (id_number IS NOT NULL OR name IS NOT NULL) AS {IDENTITY_FLAG}"
                if contract.identity else "")
    (total,) = con.execute(f'select count(*) from staged."{table}" where as_of = ?',
                           [as_of]).fetchone()
    rows = f'select *{identity} from staged."{table}" where as_of = ?'
    if max_rows is not None and total > max_rows:
        # top-N by hash (a heap, not a sort of every row); ties broken by the key itself
        rows = (f"select * from ({rows} order by hash(_source, _record_key), _source, "
                f"_record_key limit {int(max_rows)})")
    df = con.execute(f"{rows} order by _source, _file, _row", [as_of]).df()
    context = _context()
    name = f"{table}_{as_of.isoformat()}"
    for ds in list(context.data_sources.all()):
        if ds == name:
            context.data_sources.delete(ds)
    for existing in [s.name for s in context.suites.all()]:
        if existing == f"{table}_contract":
            context.suites.delete(existing)
    batch_def = (context.data_sources.add_pandas(name)
                 .add_dataframe_asset(table)
                 .add_batch_definition_whole_dataframe(f"{table}_{as_of.isoformat()}"))
    suite = context.suites.add(build_suite(contract, as_of))
    batch = batch_def.get_batch(batch_parameters={"dataframe": df})
    validation = batch.validate(suite, result_format={"result_format": "SUMMARY",
                                                      "partial_unexpected_count": _SAMPLE})
    summaries = [_summary(r) for r in validation.results]
    return ContractResult(table=table, as_of=as_of, success=bool(validation.success),
                          row_count=len(df), expectations=summaries, rows_total=int(total))
