"""Data contracts: one YAML per canonical table (dbt-style), loaded into typed objects.

A contract says what one row of `staged.<table>` is, which columns it has, their types and the
rules a department row must pass to be staged (anything else is quarantined with a reason code).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from safetynet.errors import ConfigError

CONTRACT_DIR = Path(__file__).resolve().parent
TYPES = ("varchar", "date", "double", "integer", "boolean")
SQL_TYPES = {"varchar": "VARCHAR", "date": "DATE", "double": "DOUBLE", "integer": "INTEGER",
             "boolean": "BOOLEAN"}
IDENTITY_COLUMNS = ("id_number", "name", "sex", "birth_date", "region_code")
META_COLUMNS = (("as_of", "DATE"), ("_source", "VARCHAR"), ("_record_key", "VARCHAR"),
                ("_row", "BIGINT"), ("_file", "VARCHAR"))
_TABLE_KEYS = {"table", "label", "description", "identity", "unique", "columns", "unit_tests"}
_COLUMN_KEYS = {"type", "label", "description", "required", "allowed", "min", "max",
                "min_exclusive", "max_exclusive", "pattern", "pattern_label", "allow_future"}
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class ColumnSpec:
    """One canonical column: type and the checks a value must pass."""

    name: str
    type: str
    label: str
    required: bool = False
    allowed: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False
    pattern: str | None = None
    pattern_label: str | None = None  # Chinese wording of the pattern for reasons ("12 位数字")
    allow_future: bool = False  # date columns: skip the future_date check (e.g. valid_until)
    description: str | None = None

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.type]


@dataclass(frozen=True)
class Contract:
    """The contract of one canonical table (`data_contracts/<table>.yml`)."""

    table: str
    label: str
    description: str
    columns: dict[str, ColumnSpec]
    identity: bool = False
    unique: tuple[str, ...] = ("_source", "_record_key")
    unit_tests: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    path: Path | None = None

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns.values() if c.required]

    def ddl(self, schema: str = "staged") -> str:
        """CREATE TABLE IF NOT EXISTS statement of the staged table."""
        cols = [f'"{c.name}" {c.sql_type}' for c in self.columns.values()]
        cols += [f'"{name}" {typ}' for name, typ in META_COLUMNS]
        return f'create table if not exists {schema}."{self.table}" ({", ".join(cols)})'


def _fail(path: Path, msg: str) -> ConfigError:
    return ConfigError(f"contract {path.name}: {msg}", file=str(path))


def _parse_column(path: Path, name: str, raw: Any) -> ColumnSpec:
    if not _NAME_RE.match(name):
        raise _fail(path, f"column name '{name}' must match [a-z][a-z0-9_]*")
    if not isinstance(raw, dict):
        raise _fail(path, f"column '{name}' must be a mapping")
    unknown = set(raw) - _COLUMN_KEYS
    if unknown:
        raise _fail(path, f"column '{name}' has unknown keys {sorted(unknown)}")
    typ = raw.get("type")
    if typ not in TYPES:
        raise _fail(path, f"column '{name}' type {typ!r} is not one of {TYPES}")
    label = raw.get("label")
    if not label or not isinstance(label, str):
        raise _fail(path, f"column '{name}' needs a Chinese label")
    allowed = raw.get("allowed")
    if allowed is not None:
        if typ != "varchar":
            raise _fail(path, f"column '{name}': allowed values only on varchar columns")
        if not isinstance(allowed, list) or not allowed:
            raise _fail(path, f"column '{name}': allowed must be a non-empty list")
        allowed = tuple(str(v) for v in allowed)
    for bound in ("min", "max"):
        value = raw.get(bound)
        if value is not None and (typ not in ("double", "integer")
                                  or not isinstance(value, (int, float))):
            raise _fail(path, f"column '{name}': {bound} needs a number on a numeric column")
    if raw.get("allow_future") and typ != "date":
        raise _fail(path, f"column '{name}': allow_future only on date columns")
    pattern = raw.get("pattern")
    if pattern is not None:
        if typ != "varchar" or not str(pattern).startswith("^") or not str(pattern).endswith("$"):
            raise _fail(path, f"column '{name}': pattern must be an anchored ^...$ regex on varchar")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise _fail(path, f"column '{name}': bad pattern: {exc}") from exc
    return ColumnSpec(
        name=name, type=typ, label=label, required=bool(raw.get("required", False)),
        allowed=allowed,
        min=None if raw.get("min") is None else float(raw["min"]),
        max=None if raw.get("max") is None else float(raw["max"]),
        min_exclusive=bool(raw.get("min_exclusive", False)),
        max_exclusive=bool(raw.get("max_exclusive", False)),
        pattern=pattern, pattern_label=raw.get("pattern_label"), allow_future=bool(raw.get("allow_future", False)),
        description=raw.get("description"),
    )


def parse_contract(raw: dict[str, Any], path: Path) -> Contract:
    """Validate a contract mapping (clear ConfigError naming the file on any problem)."""
    if not isinstance(raw, dict):
        raise _fail(path, "must be a YAML mapping")
    unknown = set(raw) - _TABLE_KEYS
    if unknown:
        raise _fail(path, f"unknown keys {sorted(unknown)}")
    table = raw.get("table")
    if not isinstance(table, str) or not _NAME_RE.match(table):
        raise _fail(path, "needs table: <name> matching [a-z][a-z0-9_]*")
    columns_raw = raw.get("columns")
    if not isinstance(columns_raw, dict) or not columns_raw:
        raise _fail(path, "needs a non-empty columns mapping")
    columns = {str(k): _parse_column(path, str(k), v) for k, v in columns_raw.items()}
    identity = bool(raw.get("identity", False))
    if identity:
        lacking = [c for c in IDENTITY_COLUMNS if c not in columns]
        if lacking:
            raise _fail(path, f"identity: true but identity columns {lacking} are not declared")
    unique = tuple(raw.get("unique") or ("_source", "_record_key"))
    meta = {name for name, _ in META_COLUMNS}
    if not set(unique) <= set(columns) | meta:
        raise _fail(path, f"unique {list(unique)} names unknown columns")
    tests = raw.get("unit_tests") or []
    if not isinstance(tests, list):
        raise _fail(path, "unit_tests must be a list")
    return Contract(
        table=table, label=str(raw.get("label") or table),
        description=str(raw.get("description") or ""), columns=columns, identity=identity,
        unique=unique, unit_tests=tuple(tests), path=path,
    )


def list_tables() -> list[str]:
    """Canonical table names that have a contract, sorted."""
    return sorted(p.stem for p in CONTRACT_DIR.glob("*.yml"))


@cache
def load_contract(table: str) -> Contract:
    """Load and validate `data_contracts/<table>.yml`."""
    path = CONTRACT_DIR / f"{table}.yml"
    if not _NAME_RE.match(table) or not path.is_file():
        raise ConfigError(f"no contract for canonical table '{table}' "
                          f"(known: {', '.join(list_tables())})")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise _fail(path, f"cannot read: {exc}") from exc
    contract = parse_contract(raw, path)
    if contract.table != table:
        raise _fail(path, f"table '{contract.table}' does not match the file name")
    return contract


def load_all_contracts() -> dict[str, Contract]:
    """Every contract, keyed by table name."""
    return {t: load_contract(t) for t in list_tables()}
