"""Rule back-test: what a changed rule pack would have added and removed in stored quarters.

The candidate pack is evaluated by the real engine (`safetynet.warning_rules.engine.evaluate`) on
a *copy* of the warehouse (`ATTACH` a scratch file + `COPY FROM DATABASE`), so the live
warnings, history and lifecycle are never touched. The baseline is what the live warehouse
stored for each quarter, or (`baseline_pack`) the same copy evaluated with another pack, which
compares two packs on identical data.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from safetynet.errors import SafetynetError
from safetynet.warehouse import connect, table_exists

from .lifecycle import as_date

Key = tuple[str, str | None]  # (rule_id, county_code)


@dataclass(frozen=True)
class BacktestRow:
    """One quarter x rule x county: warnings before and after, added, removed, kept."""

    as_of: date
    rule_id: str
    county_code: str | None
    baseline: int
    candidate: int
    added: int
    removed: int
    kept: int
    severity_changed: int


@dataclass
class BacktestResult:
    """Outcome of a back-test (counts only; `added_keys`/`removed_keys` for drill-down)."""

    pack: str
    baseline: str
    as_ofs: list[date]
    rows: list[BacktestRow] = field(default_factory=list)
    not_evaluated: dict[date, dict[str, str]] = field(default_factory=dict)
    added_keys: dict[date, list[str]] = field(default_factory=dict)
    removed_keys: dict[date, list[str]] = field(default_factory=dict)

    def totals(self) -> dict[str, dict[str, int]]:
        """Added / removed per rule over all quarters and counties."""
        out: dict[str, dict[str, int]] = {}
        for r in self.rows:
            t = out.setdefault(r.rule_id, {"added": 0, "removed": 0, "kept": 0})
            t["added"] += r.added
            t["removed"] += r.removed
            t["kept"] += r.kept
        return out


def copy_warehouse(con: duckdb.DuckDBPyConnection, target: Path) -> Path:
    """Copy every schema, table, view and macro of `con`'s database into a new file."""
    (current,) = con.execute("select current_database()").fetchone()
    alias = "sn_backtest_copy"
    # READ_WRITE: works from a read-only connection to the live warehouse too
    con.execute(f"attach '{str(target).replace(chr(39), chr(39) * 2)}' as {alias} (READ_WRITE)")
    try:
        con.execute(f'copy from database "{current}" to {alias}')
    finally:
        con.execute(f"detach {alias}")
    return target


def _warnings(con: duckdb.DuckDBPyConnection, as_of: date,
              table: str = "warnings.warnings") -> dict[str, tuple[str, str | None, str]]:
    if not table_exists(con, *table.split(".")):
        return {}
    rows = con.execute(f"select warning_key, rule_id, county_code, severity from {table} "
                       "where as_of = ?", [as_of]).fetchall()
    return {k: (r, c, s) for k, r, c, s in rows}


def _loaded_tables(con: duckdb.DuckDBPyConnection, as_of: date) -> set[str] | None:
    if not table_exists(con, "meta", "source_loads"):
        return None
    rows = con.execute("select table_name, status from meta.source_loads where as_of = ?",
                       [as_of]).fetchall()
    return {t for t, s in rows if s == "loaded"} if rows else None


def _stored_quarters(con: duckdb.DuckDBPyConnection) -> list[date]:
    if not table_exists(con, "links", "roster"):
        return []
    return [r[0] for r in con.execute(
        "select distinct as_of from links.roster order by as_of").fetchall()]


def _diff(as_of: date, base: dict[str, tuple[str, str | None, str]],
          cand: dict[str, tuple[str, str | None, str]]) -> list[BacktestRow]:
    counts: dict[Key, Counter[str]] = {}
    for key, (rule, county, sev) in base.items():
        c = counts.setdefault((rule, county), Counter())
        c["baseline"] += 1
        if key in cand:
            c["kept"] += 1
            c["severity_changed"] += cand[key][2] != sev
        else:
            c["removed"] += 1
    for key, (rule, county, _sev) in cand.items():
        c = counts.setdefault((rule, county), Counter())
        c["candidate"] += 1
        if key not in base:
            c["added"] += 1
    return [BacktestRow(as_of, rule, county, c["baseline"], c["candidate"], c["added"],
                        c["removed"], c["kept"], c["severity_changed"])
            for (rule, county), c in sorted(counts.items(), key=lambda kv: (kv[0][0],
                                                                            kv[0][1] or ""))]


def backtest(
    con: duckdb.DuckDBPyConnection,
    pack: Any,
    as_ofs: Iterable[date | str] | None = None,
    *,
    baseline_pack: Any = None,
    holidays_dir: str | Path | None = None,
    scratch_dir: str | Path | None = None,
) -> BacktestResult:
    """Evaluate `pack` on stored quarters in a scratch copy; diff against the baseline.

    Args:
        con: the live warehouse (only read).
        pack: a RulePack, or a pack name / YAML path for `load_pack` (e.g. a region's override).
        as_ofs: quarters to replay (default: every quarter in links.roster).
        baseline_pack: compare with this pack evaluated on the same copy instead of the stored
            warnings.
        holidays_dir: regional holiday folder for the due dates.
        scratch_dir: where the temporary copy lives (default: the system temp folder); it is
            deleted afterwards.

    Returns:
        Per quarter x rule x county: baseline, candidate, added, removed, kept warnings.

    Example:
        >>> res = backtest(con, "packs/example_region.yaml", [date(2026, 6, 30)])
        >>> res.totals()["VEHICLE_OWNED"]
        {'added': 0, 'removed': 41, 'kept': 380}
    """
    from safetynet.warning_rules.engine import evaluate
    from safetynet.warning_rules.packs import RulePack, load_pack

    pack = pack if isinstance(pack, RulePack) else load_pack(pack)
    base_pack = None
    if baseline_pack is not None:
        base_pack = baseline_pack if isinstance(baseline_pack, RulePack) \
            else load_pack(baseline_pack)
    quarters = sorted({as_date(q) for q in as_ofs}) if as_ofs is not None \
        else _stored_quarters(con)
    if not quarters:
        raise SafetynetError("没有可回测的季度（links.roster 为空）/ no stored quarter to back-test")
    stored = set(_stored_quarters(con))
    absent = [q for q in quarters if q not in stored]
    if absent:
        raise SafetynetError(f"仓库中没有这些季度的关联数据，无法回测：{absent}")
    result = BacktestResult(pack=pack.label,
                            baseline=base_pack.label if base_pack else "stored warnings",
                            as_ofs=quarters)
    folder = Path(tempfile.mkdtemp(prefix="safetynet-backtest-", dir=scratch_dir))
    try:
        scratch = connect(copy_warehouse(con, folder / "backtest.duckdb"))
        try:
            for q in quarters:
                loaded = _loaded_tables(con, q)
                if base_pack is not None:
                    evaluate(scratch, q, base_pack, loaded_tables=loaded,
                             holidays_dir=holidays_dir)
                    base = _warnings(scratch, q)
                else:
                    base = _warnings(con, q)
                summary = evaluate(scratch, q, pack, loaded_tables=loaded,
                                   holidays_dir=holidays_dir)
                cand = _warnings(scratch, q)
                result.rows += _diff(q, base, cand)
                result.not_evaluated[q] = dict(summary.not_evaluated)
                result.added_keys[q] = sorted(set(cand) - set(base))
                result.removed_keys[q] = sorted(set(base) - set(cand))
        finally:
            scratch.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return result


BACKTEST_HEADERS = ("比对日期", "规则", "区县", "原预警数", "新规则预警数", "新增", "减少", "保留",
                    "严重程度变化")


def backtest_rows(result: BacktestResult) -> list[list[Any]]:
    """Rows in the order of BACKTEST_HEADERS."""
    return [[r.as_of, r.rule_id, r.county_code, r.baseline, r.candidate, r.added, r.removed,
             r.kept, r.severity_changed] for r in result.rows]
