"""Incremental loads: a source whose files and config are unchanged is not read again.

A rerun of the same as_of compares each file source's sha256 (the digest meta.source_loads
keeps, computed the same way as the extract: one file's sha256, or the sha256 of the files'
digests joined by newlines) and a digest of its config and contract with the last `loaded` row
of (as_of, source). When both match and the staged rows are still there, the source keeps its
staged rows and quarantine rows and is recorded `loaded` with the note `unchanged`. Database
sources are always read (their digest is over the rows read).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from safetynet.connectors.config import SourceConfig
from safetynet.connectors.paths import resolve_source_files
from safetynet.errors import SafetynetError
from safetynet.outputs import sha256_file
from safetynet.warehouse import quote_ident, table_exists

UNCHANGED = "unchanged"


def config_digest(source: SourceConfig) -> str:
    """sha256 of what decides a source's staged rows besides its files: config and contract."""
    from safetynet.data_contracts.contract import CONTRACT_DIR

    cfg = {k: v for k, v in dataclasses.asdict(source).items() if k != "config_path"}
    contract = CONTRACT_DIR / f"{source.table}.yml"
    text = json.dumps(cfg, sort_keys=True, default=str, ensure_ascii=False)
    if contract.is_file():
        text += "\n" + contract.read_text(encoding="utf-8")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def files_digest(source: SourceConfig, data_root: Path,
                 allowed_roots: Sequence[Path] | None = None) -> tuple[list[str], str] | None:
    """(relative file names, sha256) of a file source as the extract would compute them; None
    for a database source or when the files cannot be resolved (the extract then reports why)."""
    if source.is_database:
        return None
    try:
        files = resolve_source_files(source, Path(data_root), allowed_roots)
    except SafetynetError:
        return None
    digests = [sha256_file(f.path) for f in files]
    sha = digests[0] if len(digests) == 1 else hashlib.sha256(
        "\n".join(digests).encode("ascii")).hexdigest()
    return [f.rel for f in files], sha


def previous_load(con: duckdb.DuckDBPyConnection, source: SourceConfig, as_of: date,
                  data_root: Path, allowed_roots: Sequence[Path] | None = None
                  ) -> dict[str, Any] | None:
    """The last `loaded` meta.source_loads row of (as_of, source) when nothing changed since.

    Returns the row (files, sha256, rows_read, rows_staged, rows_quarantined) or None when the
    source must be read: no earlier load, other files or bytes, another config or contract,
    or staged rows missing.
    """
    columns = {r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = 'meta' "
        "and table_name = 'source_loads'").fetchall()}
    if "config_sha256" not in columns:
        return None
    row = con.execute(
        "select files, sha256, rows_read, rows_staged, rows_quarantined, config_sha256 "
        "from meta.source_loads where as_of = ? and source = ? and status = 'loaded'",
        [as_of, source.name]).fetchone()
    if row is None or row[5] != config_digest(source):
        return None  # (no file hashing when there is nothing to compare with)
    current = files_digest(source, data_root, allowed_roots)
    if current is None or current[1] != row[1] or ";".join(current[0]) != row[0]:
        return None
    if not table_exists(con, "staged", source.table):
        return None
    (staged,) = con.execute(f"select count(*) from staged.{quote_ident(source.table)} "
                            "where as_of = ? and _source = ?", [as_of, source.name]).fetchone()
    if staged != row[3]:
        return None
    return {"files": current[0], "sha256": row[1], "rows_read": row[2], "rows_staged": row[3],
            "rows_quarantined": row[4]}
