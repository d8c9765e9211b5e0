"""Push a quarter's referral files to each department's configured destination.

Destinations are data (one YAML per site)::

    destinations:
      civil_affairs:
        drop_folder: /srv/exchange/{department}/{county_code}   # also {prefecture_code}, {as_of}
        formats: [xlsx]                                         # default: every format written
      hrss:
        database: {kind: postgresql, dsn_env: HRSS_DSN, table: inbox.safetynet_referrals}
      medical_security:
        database: {kind: mysql, dsn_env: YB_DSN, table: safetynet_referrals}
      "*":                                                      # optional default
        drop_folder: /srv/exchange/other/{department}/{county_code}

A drop folder receives a copy of the file (atomic, owner-only). A database destination receives
the file's rows in a table of the department's own PostgreSQL or MariaDB/MySQL, created when
missing: `as_of, department, county_code, warning_id` (key: as_of + department + warning_id),
`file_sha256, delivered_at`, then one text column per referral column under its Chinese header.
A re-delivered changed file updates its rows (never the result columns the department may have
filled in) and removes rows the file no longer has unless the department already answered them.

Every delivery is recorded in `referrals.deliveries` (what, where, when, sha256, status) and the
warnings it carried in `referrals.delivery_items` (their lifecycle status becomes
`in_verification`). A file whose sha256 was already delivered to the same destination is not
delivered again.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import duckdb
import yaml

from safetynet.errors import ConfigError, SafetynetError, SourceUnavailable
from safetynet.outputs import atomic_write_bytes, sha256_file
from safetynet.warehouse import table_exists, transaction

from .feedback import FeedbackColumns
from .ids import normalise_warning_id, resolve_warning_ids
from .lifecycle import as_date, now_utc, refresh_lifecycle
from .schema import columns_of, ensure_tables, insert_rows
from .tabular import read_table

DB_KINDS = ("postgresql", "mysql")
KEY_COLUMNS = ("as_of", "department", "county_code", "warning_id", "file_sha256", "delivered_at")
_PLACEHOLDERS = frozenset({"department", "county_code", "prefecture_code", "as_of"})
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
_BAD_COLUMN = re.compile(r"[\"`\x00-\x1f]")


@dataclass(frozen=True)
class DatabaseDestination:
    """A table in a department's PostgreSQL or MariaDB/MySQL."""

    kind: str
    table: str
    dsn: str | None = None
    dsn_env: str | None = None

    def resolve_dsn(self) -> str:
        """The DSN (from the environment variable when configured so)."""
        if self.dsn_env:
            value = os.environ.get(self.dsn_env)
            if not value:
                raise SourceUnavailable(f"环境变量 {self.dsn_env} 未设置（部门数据库连接串）/ "
                                        f"{self.dsn_env} is not set")
            return value
        if self.dsn:
            return self.dsn
        raise ConfigError("database destination needs dsn_env or dsn")

    def describe(self) -> str:
        """Where it goes, without credentials (stored in referrals.deliveries.destination)."""
        return f"{self.kind}:{self.dsn_env or 'dsn'}/{self.table}"


@dataclass(frozen=True)
class Destination:
    """Where one department's files go."""

    department: str
    drop_folder: str | None = None
    database: DatabaseDestination | None = None
    formats: tuple[str, ...] | None = None


@dataclass(frozen=True)
class DeliveryConfig:
    """Destinations per department code (`*`: the default)."""

    destinations: Mapping[str, Destination]
    source: str = "delivery_config"

    def for_department(self, department: str) -> Destination | None:
        return self.destinations.get(department) or self.destinations.get("*")


def _destination(code: str, spec: Any, source: str) -> Destination:
    where = f"{source}: destinations.{code}"
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: expected a mapping with drop_folder or database")
    unknown = set(spec) - {"drop_folder", "database", "formats"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    folder, db = spec.get("drop_folder"), spec.get("database")
    if bool(folder) == bool(db):
        raise ConfigError(f"{where}: exactly one of drop_folder or database")
    formats = spec.get("formats")
    if formats is not None and (not isinstance(formats, list)
                                or not set(formats) <= {"csv", "xlsx"}):
        raise ConfigError(f"{where}: formats must be a list of csv / xlsx")
    database = None
    if folder:
        names = set(re.findall(r"\{(\w*)\}", str(folder)))
        if names - _PLACEHOLDERS:
            raise ConfigError(f"{where}: unknown placeholder(s) {sorted(names - _PLACEHOLDERS)} "
                              f"(known: {sorted(_PLACEHOLDERS)})")
    else:
        if not isinstance(db, Mapping):
            raise ConfigError(f"{where}: database must be {{kind, dsn_env, table}}")
        kind = str(db.get("kind", "")).lower()
        kind = {"mariadb": "mysql", "postgres": "postgresql"}.get(kind, kind)
        if kind not in DB_KINDS:
            raise ConfigError(f"{where}: database kind must be one of {DB_KINDS}")
        table = str(db.get("table") or "")
        if not table or not all(_IDENT.match(p) for p in table.split(".")) \
                or table.count(".") > 1:
            raise ConfigError(f"{where}: table must be [schema.]name of letters, digits, _")
        if not (db.get("dsn_env") or db.get("dsn")):
            raise ConfigError(f"{where}: database needs dsn_env (or dsn)")
        database = DatabaseDestination(kind, table, db.get("dsn"), db.get("dsn_env"))
    return Destination(code, str(folder) if folder else None, database,
                       tuple(formats) if formats else None)


def load_delivery_config(config: str | Path | Mapping[str, Any]) -> DeliveryConfig:
    """Read and check a delivery config (YAML path or parsed mapping)."""
    if isinstance(config, (str, Path)):
        try:
            data = yaml.safe_load(Path(config).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read delivery config {config}: {exc}") from exc
        source = str(config)
    else:
        data, source = config, "delivery_config"
    if not isinstance(data, Mapping) or not isinstance(data.get("destinations"), Mapping):
        raise ConfigError(f"{source}: expected a mapping with a 'destinations' section")
    return DeliveryConfig({str(k): _destination(str(k), v, source)
                           for k, v in data["destinations"].items()}, source)


# ---------------------------------------------------------------- what to deliver
@dataclass(frozen=True)
class ReferralFileRef:
    """A referral file of the quarter (path relative to the referrals folder)."""

    department: str
    county_code: str
    format: str
    path: str
    sha256: str
    rows: int | None = None


def referral_files(con: duckdb.DuckDBPyConnection, as_of: date,
                   referrals_dir: Path) -> list[ReferralFileRef]:
    """The quarter's current referral files: referrals.files, else the folder's manifest.json."""
    if table_exists(con, "referrals", "files"):
        cols = set(columns_of(con, "referrals", "files"))
        current = "and is_current" if "is_current" in cols else ""
        rows = con.execute(
            "select department, county_code, format, path, sha256, rows from referrals.files "
            f"where as_of = ? {current} order by department, county_code, format",
            [as_of]).fetchall()
        if rows:
            return [ReferralFileRef(*r) for r in rows]
    manifest = referrals_dir / "manifest.json"
    if manifest.is_file():
        data = json.loads(manifest.read_text(encoding="utf-8"))
        if str(data.get("as_of")) != as_of.isoformat():
            raise SafetynetError(f"{manifest} 属于 {data.get('as_of')}，不是 {as_of}")
        return [ReferralFileRef(f["department"], f["county_code"], f["format"], f["path"],
                                f["sha256"], f.get("rows"))
                for f in sorted(data.get("files", []),
                                key=lambda f: (f["department"], f["county_code"], f["format"]))]
    return []


# ---------------------------------------------------------------- delivery records
@dataclass(frozen=True)
class DeliveryRecord:
    """One file x destination: `delivered`, `unchanged` (already delivered) or `failed`."""

    department: str
    county_code: str
    format: str
    path: str
    sha256: str
    destination: str
    status: str
    rows: int | None = None
    error: str = ""


@dataclass
class DeliveryReport:
    """What `deliver` did for one quarter."""

    as_of: date
    records: list[DeliveryRecord] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.records)


def _already_delivered(con: duckdb.DuckDBPyConnection, as_of: date, f: ReferralFileRef,
                       fmt: str, destination: str) -> bool:
    return con.execute(
        "select 1 from referrals.deliveries where as_of = ? and department = ? and "
        "county_code = ? and format = ? and sha256 = ? and destination = ? and "
        "status = 'delivered' limit 1",
        [as_of, f.department, f.county_code, fmt, f.sha256, destination]).fetchone() is not None


def _drop_folder(dest: Destination, f: ReferralFileRef, as_of: date) -> Path:
    assert dest.drop_folder
    values = {"department": f.department, "county_code": f.county_code,
              "prefecture_code": f.county_code[:4], "as_of": as_of.isoformat()}
    return Path(dest.drop_folder.format_map(values))


def _file_rows(path: Path, columns: FeedbackColumns) -> tuple[list[str], list[list[str]], int]:
    """Raw headers, rows as text, and the index of the warning-id column of a referral file."""
    def is_header(headers: list[str]) -> bool:
        return "warning_id" in columns.find(headers)

    table = read_table(path, is_header=is_header)
    wid_index = columns.find(table.headers)["warning_id"]
    width = len(table.raw_headers)
    rows = []
    for _n, cells in table.rows:
        text = ["" if c is None else str(c) for c in cells][:width]
        text += [""] * (width - len(text))
        if any(text):
            rows.append(text)
    return table.raw_headers, rows, wid_index


# ---------------------------------------------------------------- databases
def _connect(db: DatabaseDestination) -> Any:
    dsn = db.resolve_dsn()
    try:
        if db.kind == "postgresql":
            import psycopg

            return psycopg.connect(dsn, connect_timeout=10)
        import pymysql

        url = urlparse(dsn)
        return pymysql.connect(host=url.hostname or "127.0.0.1", port=url.port or 3306,
                               user=unquote(url.username or ""),
                               password=unquote(url.password or ""),
                               database=url.path.lstrip("/") or None, charset="utf8mb4",
                               connect_timeout=10, autocommit=False)
    except Exception as exc:  # noqa: BLE001 - driver errors differ; report them uniformly
        raise SourceUnavailable(f"无法连接部门数据库 {db.describe()}：{type(exc).__name__}") from None


def _q(kind: str, name: str) -> str:
    if _BAD_COLUMN.search(name):
        raise ConfigError(f"column name not allowed in a database delivery: {name!r}")
    return f'"{name}"' if kind == "postgresql" else f"`{name}`"


def _qtable(db: DatabaseDestination) -> str:
    return ".".join(_q(db.kind, p) for p in db.table.split("."))


def _existing_columns(cur: Any, db: DatabaseDestination) -> list[str]:
    parts = db.table.split(".")
    name = parts[-1]
    if db.kind == "postgresql":
        schema_sql = "%s" if len(parts) == 2 else "current_schema()"
    else:
        schema_sql = "%s" if len(parts) == 2 else "database()"
    params = [parts[0], name] if len(parts) == 2 else [name]
    cur.execute("select column_name from information_schema.columns where table_schema = "
                f"{schema_sql} and table_name = %s", params)
    return [r[0] for r in cur.fetchall()]


def _deliver_rows(db: DatabaseDestination, f: ReferralFileRef, as_of: date, headers: list[str],
                  rows: list[list[str]], wid_index: int, feedback_headers: set[str],
                  delivered_at: datetime) -> int:
    kind, table = db.kind, _qtable(db)
    content = [h for i, h in enumerate(headers) if i != wid_index]
    if len(set(content)) != len(content) or any(h in KEY_COLUMNS or not h for h in content):
        raise ConfigError(f"referral columns cannot be table columns: {content}")
    text_type = "text"
    conn = _connect(db)
    try:
        cur = conn.cursor()
        existing = _existing_columns(cur, db)
        if not existing:
            cols = [f"{_q(kind, 'as_of')} date not null",
                    f"{_q(kind, 'department')} varchar(64) not null",
                    f"{_q(kind, 'county_code')} varchar(12)",
                    f"{_q(kind, 'warning_id')} varchar(32) not null",
                    f"{_q(kind, 'file_sha256')} varchar(64)",
                    f"{_q(kind, 'delivered_at')} timestamp null",
                    *(f"{_q(kind, h)} {text_type}" for h in content),
                    "primary key (" + ", ".join(_q(kind, c) for c in
                                                ("as_of", "department", "warning_id")) + ")"]
            tail = " default charset=utf8mb4" if kind == "mysql" else ""
            cur.execute(f"create table if not exists {table} ({', '.join(cols)}){tail}")
        else:
            missing = [c for c in (*KEY_COLUMNS, *content) if c not in existing]
            if missing:
                raise ConfigError(f"部门数据库表 {db.table} 缺少列 {missing}（请由部门增加或换新表）/ "
                                  f"table {db.table} lacks columns {missing}")
        names = [*KEY_COLUMNS, *content]
        updatable = ["county_code", "file_sha256", "delivered_at",
                     *(h for h in content if h not in feedback_headers)]
        placeholders = ", ".join(["%s"] * len(names))
        insert = f"insert into {table} ({', '.join(_q(kind, n) for n in names)}) " \
                 f"values ({placeholders}) "
        if kind == "postgresql":
            conflict = ", ".join(_q(kind, c) for c in ("as_of", "department", "warning_id"))
            insert += f"on conflict ({conflict}) do update set " + ", ".join(
                f"{_q(kind, c)} = excluded.{_q(kind, c)}" for c in updatable)
        else:
            insert += "on duplicate key update " + ", ".join(
                f"{_q(kind, c)} = values({_q(kind, c)})" for c in updatable)
        ids = []
        values = []
        for row in rows:
            wid = normalise_warning_id(row[wid_index]) or row[wid_index]
            ids.append(wid)
            cells = [c if c != "" else None for i, c in enumerate(row) if i != wid_index]
            values.append([as_of, f.department, f.county_code, wid, f.sha256, delivered_at,
                           *cells])
        if values:
            cur.executemany(insert, values)
        answered = " and ".join(f"coalesce({_q(kind, h)}, '') = ''" for h in content
                                if h in feedback_headers) or "true"
        stale = f"delete from {table} where {_q(kind, 'as_of')} = %s and " \
                f"{_q(kind, 'department')} = %s and {_q(kind, 'county_code')} = %s and {answered}"
        params: list[Any] = [as_of, f.department, f.county_code]
        if ids:
            stale += f" and {_q(kind, 'warning_id')} not in ({', '.join(['%s'] * len(ids))})"
            params += ids
        cur.execute(stale, params)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()
    return len(values)


# ---------------------------------------------------------------- deliver
def deliver(
    con: duckdb.DuckDBPyConnection,
    as_of: date | str,
    referrals_dir: str | Path,
    config: DeliveryConfig | str | Path | Mapping[str, Any],
    *,
    actor: str = "system",
    columns: FeedbackColumns | None = None,
) -> DeliveryReport:
    """Deliver `as_of`'s referral files to every department's destination; record each delivery.

    Args:
        referrals_dir: the folder the referral writer wrote (holds manifest.json; the paths in
            referrals.files are relative to it).
        config: delivery destinations (DeliveryConfig, YAML path or mapping).
        actor: recorded in the audit rows of the warnings that become `in_verification`.

    A department without a destination is a ConfigError before anything is delivered. A failed
    destination (unreachable database, changed file) is recorded as `failed` and retried by the
    next run; the other destinations still receive their files.
    """
    as_of = as_date(as_of)
    referrals_dir = Path(referrals_dir)
    cfg = config if isinstance(config, DeliveryConfig) else load_delivery_config(config)
    columns = columns or FeedbackColumns.from_layout()
    feedback_headers = {h for role in ("result", "result_date", "officer", "note")
                        for h in getattr(columns, role)}
    ensure_tables(con)
    files = referral_files(con, as_of, referrals_dir)
    missing = sorted({f.department for f in files if cfg.for_department(f.department) is None})
    if missing:
        raise ConfigError(f"{cfg.source}: 未配置推送目的地的部门 / no destination for: {missing}")

    report = DeliveryReport(as_of)
    groups: dict[tuple[str, str], list[ReferralFileRef]] = {}
    for f in files:
        groups.setdefault((f.department, f.county_code), []).append(f)
    for (department, _county), group in sorted(groups.items()):
        dest = cfg.for_department(department)
        assert dest is not None
        if dest.drop_folder:
            targets = [f for f in group if dest.formats is None or f.format in dest.formats]
        else:
            by_format = {f.format: f for f in group}
            chosen = by_format.get("csv") or by_format.get("xlsx")
            targets = [chosen] if chosen else []
        for f in targets:
            report.records.append(_deliver_one(con, as_of, referrals_dir, dest, f, columns,
                                               feedback_headers, actor))
    return report


def _deliver_one(con: duckdb.DuckDBPyConnection, as_of: date, referrals_dir: Path,
                 dest: Destination, f: ReferralFileRef, columns: FeedbackColumns,
                 feedback_headers: set[str], actor: str) -> DeliveryRecord:
    fmt = f.format
    source = referrals_dir / f.path
    if dest.drop_folder:
        folder = _drop_folder(dest, f, as_of)
        destination = str(folder / source.name)
    else:
        assert dest.database
        destination = dest.database.describe()
    if _already_delivered(con, as_of, f, fmt, destination):
        return DeliveryRecord(f.department, f.county_code, fmt, f.path, f.sha256, destination,
                              "unchanged", f.rows)
    delivered_at = now_utc()
    n_rows: int | None = None
    try:
        if not source.is_file():
            raise SourceUnavailable(f"转办文件不存在 / referral file missing: {source}")
        if sha256_file(source) != f.sha256:
            raise SafetynetError("转办文件内容与登记的校验值不符（文件被改动）/ file sha256 differs from "
                                 "the recorded one")
        headers, rows, wid_index = _file_rows(source, columns)
        if dest.drop_folder:
            atomic_write_bytes(destination, source.read_bytes())
            n_rows = len(rows)
        else:
            assert dest.database
            n_rows = _deliver_rows(dest.database, f, as_of, headers, rows, wid_index,
                                   feedback_headers, delivered_at)
    except (SafetynetError, OSError) as exc:
        error = str(exc)
        with transaction(con):
            _insert_delivery(con, as_of, f, fmt, destination, delivered_at, "failed", None, error)
        return DeliveryRecord(f.department, f.county_code, fmt, f.path, f.sha256, destination,
                              "failed", None, error)
    ids = [normalise_warning_id(r[wid_index]) for r in rows]
    keys = resolve_warning_ids(con, (i for i in ids if i))
    with transaction(con):
        _insert_delivery(con, as_of, f, fmt, destination, delivered_at, "delivered", n_rows, "")
        known = {k for (k,) in con.execute(
            "select warning_key from referrals.delivery_items where as_of = ? and department = ? "
            "and county_code = ?", [as_of, f.department, f.county_code]).fetchall()}
        new_items = [[as_of, f.department, f.county_code, key, wid, f.sha256, delivered_at]
                     for wid, key in sorted(keys.items()) if key not in known]
        if new_items:
            insert_rows(con, "referrals.delivery_items",
                        ("as_of", "department", "county_code", "warning_key", "warning_id",
                         "sha256", "delivered_at"), new_items)
            refresh_lifecycle(con, [i[3] for i in new_items], actor=actor, channel="delivery",
                              detail={"event": "delivered", "department": f.department,
                                      "as_of": str(as_of), "file": f.path})
    return DeliveryRecord(f.department, f.county_code, fmt, f.path, f.sha256, destination,
                          "delivered", n_rows)


def _insert_delivery(con: duckdb.DuckDBPyConnection, as_of: date, f: ReferralFileRef, fmt: str,
                     destination: str, delivered_at: datetime, status: str, rows: int | None,
                     error: str) -> None:
    con.execute(
        "insert into referrals.deliveries (as_of, department, county_code, format, path, sha256, "
        "destination, delivered_at, status, rows, error) values (?,?,?,?,?,?,?,?,?,?,?)",
        [as_of, f.department, f.county_code, fmt, f.path, f.sha256, destination, delivered_at,
         status, rows, error])
