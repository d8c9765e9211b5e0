"""Tables of the monitoring layer (docs/architecture.md, "Monitoring across quarters").

Every statement is `create table if not exists`: the tables are created on first use by whichever
monitoring function runs first, and never dropped. Inserts name their columns, so a table another
stage created with extra columns still works.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from safetynet.warehouse import table_exists

#: Lifecycle states of a warning in one quarter (warnings.history.state).
STATES = ("new", "persisting", "reopened", "resolved")
#: Workflow statuses of a warning (warnings.lifecycle.status).
STATUSES = ("open", "in_verification", "closed")
#: Verification results a department may return (warnings.feedback.result).
RESULTS = ("confirmed", "not_confirmed", "wrong_person", "assistance_adjusted", "enrolled")
#: Results that mean the warning's condition was confirmed on the ground.
CONFIRMING_RESULTS = ("confirmed", "assistance_adjusted", "enrolled")

STATE_LABELS_ZH = {"new": "新增", "persisting": "持续", "reopened": "再次出现", "resolved": "已消除"}
STATUS_LABELS_ZH = {"open": "待核查", "in_verification": "核查中", "closed": "已办结"}
RESULT_LABELS_ZH = {
    "confirmed": "属实", "not_confirmed": "不属实", "wrong_person": "非本人",
    "assistance_adjusted": "已调整救助", "enrolled": "已纳入救助",
}

AUDIT_COLUMNS = ("ts", "warning_key", "from_status", "to_status", "actor", "channel", "detail")
#: SQL expression of the short warning id shown in referral files (= referrals.warning_id).
WARNING_ID_SQL = "('W' || left(sha256({key}), 12))"

DDL = """
create table if not exists warnings.history (
    as_of date, warning_key varchar, state varchar, rule_id varchar, title varchar,
    direction varchar, subject_level varchar, person_id varchar, household_id varchar,
    name varchar, region_code varchar, county_code varchar, severity varchar, routes varchar[],
    due_date date, action varchar, evidence json, rule_pack varchar,
    fired_as_of date, previous_as_of date
);
create table if not exists warnings.lifecycle (
    warning_key varchar, warning_id varchar, rule_id varchar, title varchar, direction varchar,
    subject_level varchar, person_id varchar, household_id varchar, county_code varchar,
    routes varchar[], first_as_of date, last_as_of date, state_as_of date, state varchar,
    cycle_as_of date, cycles integer, status varchar, last_result varchar,
    last_result_date date, due_date date, overdue boolean, overdue_working_days integer,
    escalated_at date, escalated_to varchar
);
create table if not exists warnings.lifecycle_runs (as_of date);
create table if not exists warnings.feedback (
    warning_key varchar, as_of date, result varchar, result_date date, officer varchar,
    note varchar, channel varchar, source_file varchar, row_number bigint,
    received_at timestamp, actor varchar
);
create table if not exists warnings.feedback_rejects (
    received_at timestamp, source_file varchar, file_sha256 varchar, row_number bigint,
    column_name varchar, warning_id varchar, value varchar, reason_code varchar,
    reason varchar, actor varchar
);
create table if not exists warnings.audit (
    ts timestamp, warning_key varchar, from_status varchar, to_status varchar, actor varchar,
    channel varchar, detail json
);
create table if not exists warnings.escalations (
    warning_key varchar, cycle_as_of date, escalated_at date, escalated_to varchar,
    overdue_working_days integer, grace_working_days integer
);
create table if not exists links.review_decisions (
    source varchar, record_key varchar, person_id varchar, decision varchar,
    decided_by varchar, decided_at timestamp, reason varchar, origin varchar
);
create table if not exists referrals.deliveries (
    as_of date, department varchar, county_code varchar, format varchar, path varchar,
    sha256 varchar, destination varchar, delivered_at timestamp, status varchar, rows bigint,
    error varchar
);
create table if not exists referrals.delivery_items (
    as_of date, department varchar, county_code varchar, warning_key varchar,
    warning_id varchar, sha256 varchar, delivered_at timestamp
);
"""


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the monitoring tables (and their schemas) when missing."""
    for schema in ("warnings", "links", "referrals"):
        con.execute(f"create schema if not exists {schema}")
    con.execute(DDL)


def require_warnings(con: duckdb.DuckDBPyConnection) -> None:
    """Fail clearly when the rules stage has never written warnings.warnings."""
    from safetynet.errors import SafetynetError

    if not table_exists(con, "warnings", "warnings"):
        raise SafetynetError("warnings.warnings 不存在：请先运行预警规则阶段 / run the rules stage first")


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str],
                rows: Sequence[Sequence[Any]]) -> int:
    """Insert many rows at once through Arrow (DuckDB's executemany costs ~1 ms per row)."""
    if not rows:
        return 0
    import pyarrow as pa

    data = pa.table({c: [r[i] for r in rows] for i, c in enumerate(columns)})
    name = "_sn_insert_rows"
    con.register(name, data)
    try:
        cols = ", ".join(columns)
        con.execute(f"insert into {table} ({cols}) select {cols} from {name}")
    finally:
        con.unregister(name)
    return len(rows)


def columns_of(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    """Column names of schema.table in table order (empty when it does not exist)."""
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and "
        "table_name = ? order by ordinal_position", [schema, table]).fetchall()
    return [r[0] for r in rows]
