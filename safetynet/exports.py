"""The two scoring CSVs: links and warnings, in a fixed public contract."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from safetynet.outputs import atomic_write_bytes

LINKS_SQL = """
select source, record_key as source_record_key, person_id as id_number
from links.record_links
where as_of = ? and status = 'linked' and person_id is not null
order by source, record_key
"""

WARNINGS_SQL = """
select rule_id, subject_level,
       case when subject_level = 'person' then person_id end as id_number,
       case when subject_level = 'household' then household_id end as household_id,
       severity, array_to_string(routes, ';') as routes, due_date
from warnings.warnings
where as_of = ?
order by rule_id, subject_level, id_number, household_id
"""


def _write(con: duckdb.DuckDBPyConnection, sql: str, as_of: date, path: Path) -> int:
    import csv
    import io

    cur = con.execute(sql, [as_of])
    cols = [d[0] for d in cur.description]
    rows = cur.fetchall()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow(["" if v is None else (v.isoformat() if isinstance(v, date) else v) for v in r])
    atomic_write_bytes(path, buf.getvalue().encode("utf-8"))
    return len(rows)


def export_links(con: duckdb.DuckDBPyConnection, as_of: date, path: Path) -> int:
    """`source,source_record_key,id_number`: one row per linked department record."""
    return _write(con, LINKS_SQL, as_of, path)


def export_warnings(con: duckdb.DuckDBPyConnection, as_of: date, path: Path) -> int:
    """`rule_id,subject_level,id_number,household_id,severity,routes,due_date`."""
    return _write(con, WARNINGS_SQL, as_of, path)
