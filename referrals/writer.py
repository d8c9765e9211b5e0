"""Stage 5: warnings.warnings -> one referral file per receiving department x county + manifest.

Files land at `<out_dir>/<department>/<county>/转办_<部门>_<county>_<as_of>.csv|.xlsx`, owner-only,
written atomically, with bytes that depend only on content. `referrals.files` keeps every version:
a rerun with unchanged content writes nothing; a changed file is replaced and recorded as the next
version; a file the quarter no longer has is withdrawn (deleted and marked not current).

The writer streams: a light first pass counts the quarter's warnings per county, then the
counties are read a few at a time (`READ_BATCH_WARNINGS`) and each county's evidence is parsed,
rendered, written and dropped before the next, so memory follows the largest county, not the
quarter.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from safetynet.errors import SafetynetError
from safetynet.outputs import atomic_write_bytes, csv_bytes, sha256_file, xlsx_bytes
from safetynet.warehouse import table_exists, transaction

from .config import DepartmentLayout, ReferralLayout, load_columns_config
from .evidence import (
    Evidence,
    EvidenceTemplates,
    load_evidence_config,
    render_evidence,
    render_link,
)

log = logging.getLogger(__name__)

FORMATS = ("csv", "xlsx")
UNKNOWN_COUNTY = "000000"
_SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2}
_COUNTY_RE = re.compile(r"^\d{6}$")
_WARNING_COLUMNS = (
    "warning_key", "rule_id", "title", "direction", "subject_level", "person_id", "household_id",
    "name", "region_code", "county_code", "severity", "routes", "due_date", "evidence",
    "rule_pack",
)

FILES_DDL = """
create table if not exists referrals.files (
    as_of date, department varchar, county_code varchar, format varchar, path varchar,
    rows bigint, sha256 varchar, version integer, is_current boolean, first_written_at timestamp
)
"""


def warning_id(warning_key: str) -> str:
    """Stable short id of a warning across quarters: W + first 12 hex chars of sha256(key).

    The leading letter keeps spreadsheet programs from reading the id as a number.
    """
    return "W" + hashlib.sha256(warning_key.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class ReferralFile:
    """One referral file as listed in the manifest (path relative to out_dir, POSIX style)."""

    department: str
    department_zh: str
    county_code: str
    format: str
    rows: int
    sha256: str
    path: str
    version: int


@dataclass(frozen=True)
class Manifest:
    """What one quarter's referral run produced; `to_dict()` is the content of manifest.json."""

    as_of: date
    files: tuple[ReferralFile, ...]
    totals: Mapping[str, Mapping[str, Any]]
    not_evaluated: tuple[Mapping[str, str], ...]
    rule_packs: tuple[str, ...]
    path: Path
    written: tuple[str, ...] = field(default=(), compare=False)
    withdrawn: tuple[str, ...] = field(default=(), compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Manifest content: no timestamps besides as_of, so a rerun gives identical bytes."""
        return {
            "as_of": self.as_of.isoformat(),
            "generated_for": self.as_of.isoformat(),
            "rule_packs": list(self.rule_packs),
            "files": [asdict(f) for f in self.files],
            "totals": {k: dict(v) for k, v in self.totals.items()},
            "not_evaluated": [dict(r) for r in self.not_evaluated],
        }


@dataclass
class _Warning:
    row: dict[str, Any]
    evidence: Evidence
    county: str
    sort_key: tuple[Any, ...]


_Pair = tuple[str | None, str | None]  # (county_code, region_code) as stored


@dataclass
class _Scan:
    """What the whole quarter needs before any file is written (no evidence, no names)."""

    kept: int = 0
    unknown: int = 0
    rule_packs: set[str] = field(default_factory=set)
    pairs: dict[str, set[_Pair]] = field(default_factory=dict)  # county -> raw code pairs
    sizes: Counter[str] = field(default_factory=Counter)  # county -> warnings stored


_SCAN_BATCH = 50_000
#: Small counties are read together, up to this many warnings (a bigger county is read alone):
#: every read scans the quarter's evidence column, so one read per small county costs time.
READ_BATCH_WARNINGS = 5_000


def _scan(con: duckdb.DuckDBPyConnection, as_of: date, plan: Mapping[str, str] | None,
          layout: ReferralLayout) -> _Scan:
    """One light pass over the quarter's warnings, in batches: counts, rule packs, which raw
    county / region codes make up each county; an unconfigured department fails here."""
    if not table_exists(con, "warnings", "warnings"):
        raise SafetynetError("warnings.warnings 不存在：请先运行预警规则阶段")
    cur = con.execute("select warning_key, county_code, region_code, routes, rule_pack "
                      "from warnings.warnings where as_of = ?", [as_of])
    scan, counties, depts = _Scan(), {}, set()
    while batch := cur.fetchmany(_SCAN_BATCH):
        for key, county_code, region_code, routes, rule_pack in batch:
            pair = (county_code, region_code)
            county = counties.get(pair)
            if county is None:
                county = counties[pair] = _county(county_code, region_code)
                scan.pairs.setdefault(county, set()).add(pair)
            scan.sizes[county] += 1
            if plan is not None and plan.get(key, "new") == "skip":
                continue
            scan.kept += 1
            scan.unknown += county == UNKNOWN_COUNTY
            if rule_pack:
                scan.rule_packs.add(rule_pack)
            depts.update(routes or ())
    for dept_code in sorted(depts):
        layout.department(dept_code)  # an unconfigured department fails before any write
    if scan.unknown:
        log.warning("%d warnings without a usable county code go to county %s", scan.unknown,
                    UNKNOWN_COUNTY)
    return scan


def _batches(sizes: Mapping[str, int], limit: int) -> list[list[str]]:
    """Counties in sorted order, packed into runs of at most `limit` warnings (or one county)."""
    batches: list[list[str]] = []
    total = 0
    for county in sorted(sizes):
        if not batches or total + sizes[county] > limit:
            batches.append([])
            total = 0
        batches[-1].append(county)
        total += sizes[county]
    return batches


def _read_counties(con: duckdb.DuckDBPyConnection, as_of: date, scan: _Scan,
                   counties: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The quarter's warnings of `counties` (one scan), per county."""
    pairs = [(pair, county) for county in counties
             for pair in sorted(scan.pairs[county], key=repr)]
    county_of = dict(pairs)
    cols = ", ".join(f"w.{c}" for c in _WARNING_COLUMNS)
    cur = con.execute(
        f"select {cols} from warnings.warnings w "
        "join (select unnest(?::varchar[]) as cc, unnest(?::varchar[]) as rc) k "
        "on w.county_code is not distinct from k.cc and w.region_code is not distinct from k.rc "
        "where w.as_of = ?", [[p[0] for p, _ in pairs], [p[1] for p, _ in pairs], as_of])
    out: dict[str, list[dict[str, Any]]] = {county: [] for county in counties}
    for values in cur.fetchall():
        row = dict(zip(_WARNING_COLUMNS, values, strict=True))
        out[county_of[(row["county_code"], row["region_code"])]].append(row)
    return out


def _columns_of(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str]:
    rows = con.execute(
        "select column_name from information_schema.columns "
        "where table_schema = ? and table_name = ?", [schema, table]).fetchall()
    return {r[0] for r in rows}


def _read_not_evaluated(con: duckdb.DuckDBPyConnection, as_of: date) -> list[dict[str, str]]:
    """Rules that did not run this quarter (warnings.rule_status), with their reason."""
    if not table_exists(con, "warnings", "rule_status"):
        return []
    cols = _columns_of(con, "warnings", "rule_status")
    if not {"rule_id", "status"} <= cols:
        return []
    reason = next((c for c in ("reason", "reason_zh", "detail", "message") if c in cols), None)
    title = "title" if "title" in cols else None
    sql = (f"select rule_id, {title or 'null'}, {reason or 'null'} from warnings.rule_status "
           "where as_of = ? and status = 'not_evaluated' order by rule_id")
    out = []
    for rule_id, rule_title, why in con.execute(sql, [as_of]).fetchall():
        item = {"rule_id": str(rule_id), "reason": str(why or "")}
        if title:
            item["title"] = str(rule_title or "")
        out.append(item)
    return out


def _source_tables(con: duckdb.DuckDBPyConnection, as_of: date) -> dict[str, str]:
    if not table_exists(con, "meta", "source_loads"):
        return {}
    rows = con.execute(
        "select source, table_name from meta.source_loads where table_name is not null "
        "order by (as_of = ?) , as_of", [as_of]).fetchall()
    return {s: t for s, t in rows}  # the as_of's own row wins (sorted last)


def _link_lookup(con: duckdb.DuckDBPyConnection, as_of: date,
                 keys: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, float | None]]:
    if not keys or not table_exists(con, "links", "record_links"):
        return {}
    sources, record_keys = zip(*sorted(keys), strict=True)
    rows = con.execute(
        "select l.source, l.record_key, l.method, l.score from links.record_links l "
        "join (select unnest(?::varchar[]) as source, unnest(?::varchar[]) as record_key) k "
        "using (source, record_key) where l.as_of = ?",
        [list(sources), list(record_keys), as_of]).fetchall()
    return {(s, k): (m, sc) for s, k, m, sc in rows}


def _county(county_code: str | None, region_code: str | None) -> str:
    code = county_code or (region_code or "")[:6]
    return code if _COUNTY_RE.match(code or "") else UNKNOWN_COUNTY


def _pending_due(con: duckdb.DuckDBPyConnection, keys: list[str]) -> dict[str, Any]:
    """warning_key -> due date of the cycle it was first referred in (warnings.lifecycle)."""
    if not keys or not con.execute(
            "select count(*) from information_schema.tables where table_schema = "
            "'warnings' and table_name = 'lifecycle'").fetchone()[0]:
        return {}
    return dict(con.execute(
        "select l.warning_key, l.due_date from warnings.lifecycle l "
        "join (select unnest(?::varchar[]) as warning_key) k using (warning_key)",
        [sorted(set(keys))]).fetchall())


def _apply_plan(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]],
                plan: Mapping[str, str] | None) -> list[dict[str, Any]]:
    """Drop warnings closed in their cycle; mark each lead new / reopened / pending.

    A pending (persisting, unanswered) lead keeps the due date of the cycle it was first
    referred in, so a department's clock does not restart every quarter.
    """
    if plan is None:
        for r in rows:
            r["lead_state"] = "new"
        return rows
    kept = []
    for r in rows:
        state = plan.get(r["warning_key"], "new")
        if state == "skip":
            continue
        r["lead_state"] = state
        kept.append(r)
    due = _pending_due(con, [r["warning_key"] for r in kept if r["lead_state"] == "pending"])
    for r in kept:
        if r["lead_state"] == "pending" and due.get(r["warning_key"]) is not None:
            r["due_date"] = due[r["warning_key"]]
    return kept


def _sort_key(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return (_SEVERITY_RANK.get(row["severity"], 9), row["rule_id"] or "",
            row["household_id"] is None, row["household_id"] or "",
            row["person_id"] is None, row["person_id"] or "", row["warning_key"] or "")


def _prepare(con: duckdb.DuckDBPyConnection, as_of: date, county: str, rows: list[dict[str, Any]],
             plan: Mapping[str, str] | None, tables: Mapping[str, str]) -> list[_Warning]:
    """One county's warnings in file order, with evidence parsed and links resolved."""
    rows = _apply_plan(con, rows, plan)
    with _gc_paused():
        parsed = [Evidence.parse(r["evidence"]) for r in rows]
    wanted = {k for ev in parsed for k in ev.link_keys()}
    links = _link_lookup(con, as_of, wanted)

    def lookup(source: str, key: str) -> tuple[str | None, float | None]:
        return links.get((source, key), (None, None))

    out = [_Warning(row, ev.resolve(tables, lookup), county, _sort_key(row))
           for row, ev in zip(rows, parsed, strict=True)]
    return sorted(out, key=lambda w: w.sort_key)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection in the block (restored after).

    Parsing a county's evidence and rendering a file build hundreds of thousands of small
    objects: without the pause the collector walks the growing heap over and over (about a
    third of the stage's time). Keep blocks short: cyclic garbage made inside one (a rendered
    workbook) is only collected after it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _cells(w: _Warning, dept: DepartmentLayout, layout: ReferralLayout,
           templates: EvidenceTemplates, as_of: date) -> list[Any]:
    row = w.row
    values: dict[str, Any] = {
        "warning_id": warning_id(row["warning_key"]),
        "rule_id": row["rule_id"], "title": row["title"],
        "direction": layout.label("direction", row["direction"]),
        "severity": layout.label("severity", row["severity"]),
        "subject_level": layout.label("subject_level", row["subject_level"]),
        "household_id": row["household_id"], "name": row["name"],
        "id_number": row["person_id"], "region_code": row["region_code"],
        "county_code": w.county, "due_date": row["due_date"], "rule_pack": row["rule_pack"],
        "as_of": as_of,
        "lead_state": layout.label("lead_state", row.get("lead_state", "new")),
    }
    out = []
    for col in dept.columns:
        if col.field == "evidence":
            out.append(render_evidence(w.evidence, templates, dept.may_read))
        elif col.field == "link":
            out.append(render_link(w.evidence, templates, dept.may_read))
        else:
            out.append(values.get(col.field) if col.field else None)
    return out


def _relpath(dept: DepartmentLayout, county: str, as_of: date, fmt: str) -> str:
    return f"{dept.code}/{county}/转办_{dept.label}_{county}_{as_of.isoformat()}.{fmt}"


def _write_if_changed(path: Path, data: bytes) -> bool:
    """Write atomically unless the file already holds exactly these bytes."""
    if path.is_file() and path.read_bytes() == data:
        return False
    _ensure_dirs(path.parent)
    atomic_write_bytes(path, data)
    return True


def _ensure_dirs(folder: Path) -> None:
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for d in reversed(missing):
        d.mkdir(mode=0o700)
        os.chmod(d, 0o700)


def _remove_withdrawn(out_dir: Path, rel: str, sha: str) -> bool:
    path = out_dir / rel
    if not path.is_file():
        return False
    if sha256_file(path) != sha:
        log.warning("withdrawn referral file %s was changed by someone; left in place", rel)
        return False
    path.unlink()
    for parent in (path.parent, path.parent.parent):
        if parent != out_dir and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
    return True


def write_referrals(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    out_dir: Path,
    *,
    columns_config: str | Path | Mapping[str, Any] | None = None,
    evidence_config: str | Path | Mapping[str, Any] | None = None,
    plan: Mapping[str, str] | None = None,
) -> Manifest:
    """Write the quarter's referral files per department x county, the manifest and referrals.files.

    Args:
        con: warehouse connection holding `warnings.warnings` (and `warnings.rule_status`).
        as_of: comparison date of the quarter.
        out_dir: folder receiving `<department>/<county>/...`, `manifest.json` and `清单_<as_of>.csv`.
        columns_config: referral layout (YAML path or mapping); default referrals/columns.yaml.
        evidence_config: evidence templates; default referrals/evidence.yaml.
        plan: warning_key -> new | reopened | pending | skip from the lifecycle
            (`safetynet.monitoring.lifecycle.referral_plan`); skip is left out, pending is
            referred as a reminder (线索状态 持续未办结), never again as new.

    Returns:
        The manifest; `written` / `withdrawn` list the files this run touched.

    Example:
        >>> manifest = write_referrals(con, date(2026, 9, 30), Path("var/referrals/2026Q3"))
    """
    out_dir = Path(out_dir)
    layout = load_columns_config(columns_config)
    templates = load_evidence_config(evidence_config)
    scan = _scan(con, as_of, plan, layout)
    not_evaluated = _read_not_evaluated(con, as_of)
    tables = _source_tables(con, as_of)
    sync = _Sync(con, as_of, out_dir, layout)
    limit = max(READ_BATCH_WARNINGS, *scan.sizes.values()) if scan.sizes else 0
    for counties in _batches(scan.sizes, limit):  # a few counties' rows in memory at a time
        rows = _read_counties(con, as_of, scan, counties)
        for county in counties:  # parsed evidence and file bytes: one county at a time
            warnings = _prepare(con, as_of, county, rows.pop(county), plan, tables)
            _write_county(sync, county, warnings, layout, templates, as_of)
            del warnings
        del rows
    listed, written, withdrawn = sync.finish()

    manifest = Manifest(
        as_of=as_of, files=tuple(listed), totals=_totals(listed, layout),
        not_evaluated=tuple(not_evaluated), rule_packs=tuple(sorted(scan.rule_packs)),
        path=out_dir / "manifest.json", written=tuple(written), withdrawn=tuple(withdrawn))
    text = json.dumps(manifest.to_dict(), ensure_ascii=False, indent=2) + "\n"
    _write_if_changed(manifest.path, text.encode("utf-8"))
    _write_if_changed(out_dir / f"清单_{as_of.isoformat()}.csv", _summary_csv(manifest))
    log.info("referrals %s: %d warnings, %d files (%d written, %d withdrawn), %d rules not "
             "evaluated", as_of, scan.kept, len(listed), len(written), len(withdrawn),
             len(not_evaluated))
    return manifest


_FileKey = tuple[str, str, str]  # (department, county, format)


def _write_county(sync: _Sync, county: str, warnings: list[_Warning], layout: ReferralLayout,
                  templates: EvidenceTemplates, as_of: date) -> None:
    """Render and sync one county's files, one department at a time."""
    for dept_code, members in _group(warnings).items():
        dept = layout.department(dept_code)
        with _gc_paused():  # (xlsxwriter's workbook is cyclic: collected after the pause)
            files = _render(dept, county, members, layout, templates, as_of)
        for fmt, rel, data in files:
            sync.put((dept_code, county, fmt), rel, data, len(members))


def _group(warnings: list[_Warning]) -> dict[str, list[_Warning]]:
    """One county's warnings per department (sorted by code), in file order; a warning once
    per department."""
    groups: dict[str, list[_Warning]] = defaultdict(list)
    for w in warnings:
        for dept_code in dict.fromkeys(w.row["routes"] or []):
            groups[dept_code].append(w)
    return dict(sorted(groups.items()))


def _render(dept: DepartmentLayout, county: str, members: list[_Warning], layout: ReferralLayout,
            templates: EvidenceTemplates, as_of: date) -> list[tuple[str, str, bytes]]:
    """One department x county file in every format: (format, relative path, file bytes)."""
    rows = [_cells(w, dept, layout, templates, as_of) for w in members]
    return [
        ("csv", _relpath(dept, county, as_of, "csv"), csv_bytes(dept.headers, rows)),
        ("xlsx", _relpath(dept, county, as_of, "xlsx"),
         xlsx_bytes(dept.headers, rows, sheet_title=f"转办_{dept.label}_{county}")),
    ]


class _Sync:
    """Brings out_dir and referrals.files in line with the files produced, one file at a time:
    same sha -> no-op; changed -> atomic replace + next version; no longer produced -> deleted
    and not current (in `finish`). Keeps only per-file metadata, never file bytes."""

    def __init__(self, con: duckdb.DuckDBPyConnection, as_of: date, out_dir: Path,
                 layout: ReferralLayout) -> None:
        self.con, self.as_of, self.out_dir, self.layout = con, as_of, out_dir, layout
        con.execute(FILES_DDL)
        recorded = con.execute(
            "select department, county_code, format, path, sha256, version, is_current "
            "from referrals.files where as_of = ?", [as_of]).fetchall()
        self.current = {(d, c, f): (p, s, v) for d, c, f, p, s, v, cur in recorded if cur}
        self.last_version: Counter[_FileKey] = Counter()
        for d, c, f, _p, _s, v, _cur in recorded:
            self.last_version[(d, c, f)] = max(self.last_version[(d, c, f)], v or 0)
        self.now = datetime.now(UTC).replace(tzinfo=None)
        self.listed: dict[_FileKey, ReferralFile] = {}
        self.written: dict[_FileKey, str] = {}
        self.renamed: dict[_FileKey, str] = {}
        self.new_rows: dict[_FileKey, list[Any]] = {}

    def put(self, key: _FileKey, rel: str, data: bytes, n_rows: int) -> None:
        """Record and (if its bytes changed) write one produced file."""
        sha = hashlib.sha256(data).hexdigest()
        before = self.current.get(key)
        if before and before[0] == rel and before[1] == sha:
            version = before[2]
        else:
            version = self.last_version[key] + 1
            self.new_rows[key] = [self.as_of, *key, rel, n_rows, sha, version, True, self.now]
            if before and before[0] != rel and _remove_withdrawn(self.out_dir, before[0],
                                                                 before[1]):
                self.renamed[key] = before[0]  # renamed (e.g. a new department label)
        if _write_if_changed(self.out_dir / rel, data):
            self.written[key] = rel
        label = self.layout.department(key[0]).label
        self.listed[key] = ReferralFile(key[0], label, key[1], key[2], n_rows, sha, rel, version)

    def finish(self) -> tuple[list[ReferralFile], list[str], list[str]]:
        """Withdraw files no longer produced and update referrals.files in one transaction.

        Returns the files (sorted by department, county, format), written and withdrawn paths.
        """
        order = sorted(self.listed)
        withdrawn = [self.renamed[k] for k in order if k in self.renamed]
        withdrawn += [rel for key, (rel, sha, _v) in sorted(self.current.items())
                      if key not in self.listed and _remove_withdrawn(self.out_dir, rel, sha)]
        con, as_of = self.con, self.as_of
        with transaction(con):
            for d, c, f in sorted(k for k in self.current
                                  if k not in self.listed or k in self.new_rows):
                con.execute(
                    "update referrals.files set is_current = false where as_of = ? and "
                    "department = ? and county_code = ? and format = ? and is_current",
                    [as_of, d, c, f])
            if self.new_rows:
                con.executemany("insert into referrals.files values "
                                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                [self.new_rows[k] for k in order if k in self.new_rows])
        return ([self.listed[k] for k in order], [self.written[k] for k in order
                                                   if k in self.written], withdrawn)


def _totals(files: Sequence[ReferralFile], layout: ReferralLayout) -> dict[str, dict[str, Any]]:
    """Per department: warnings referred, counties and files (files sorted by department)."""
    totals: dict[str, dict[str, Any]] = {}
    for f in files:
        if f.format != FORMATS[0]:
            continue
        t = totals.setdefault(f.department, {"department_zh": layout.department(f.department).label,
                                             "warnings": 0, "counties": 0, "files": 0})
        t["warnings"] += f.rows
        t["counties"] += 1
        t["files"] += len(FORMATS)
    return totals


def _summary_csv(manifest: Manifest) -> bytes:
    """The Chinese 清单: files, per-department totals and the rules that did not run."""
    headers = ["类型", "部门", "区县", "格式", "条数", "版本", "SHA256", "路径", "说明"]
    rows: list[Sequence[Any]] = [
        ["转办文件", f.department_zh, f.county_code, f.format, f.rows, f.version, f.sha256, f.path,
         ""] for f in manifest.files]
    rows += [["部门合计", t["department_zh"], "", "", t["warnings"], "", "", "",
              f"{t['counties']}个区县"] for t in manifest.totals.values()]
    rows += [["未运行规则", "", "", "", "", "", "", "",
              f"{r['rule_id']}{('（' + r['title'] + '）') if r.get('title') else ''}本期未运行，"
              f"不代表无预警：{r['reason']}"] for r in manifest.not_evaluated]
    if not rows:
        rows.append(["无预警", "", "", "", 0, "", "", "", f"{manifest.as_of.isoformat()}无转办预警"])
    return csv_bytes(headers, rows)
