"""Database sources: a read-only query on PostgreSQL (psycopg 3) or MySQL/MariaDB (pymysql).

Rows stream through a server-side cursor (``fetchmany``). No password ever reaches an error
message, log line or quarantine row: messages are scrubbed of the DSN and its password, and
driver exceptions are not chained.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from safetynet.connectors.config import SourceConfig
from safetynet.connectors.sink import RawSink
from safetynet.connectors.text import header_text, texts
from safetynet.errors import ConfigError, SourceUnavailable
from safetynet.privacy import mask_id

CONNECT_TIMEOUT_S = 15
_MYSQL_SCHEMES = ("mysql", "mariadb", "mysql+pymysql")
_ID_LIKE = re.compile(r"(?<![0-9])[0-9]{14}(?:[0-9]{3}[0-9Xx]|[0-9])(?![0-9])")  # 15 or 18


def resolve_dsn(source: SourceConfig) -> str:
    """The connection string from dsn_env, secrets_file (owner-only) or dsn, in that order."""
    db = source.database
    if db is None:
        raise ConfigError("not a database source", source=source.name)
    if db.dsn_env:
        value = os.environ.get(db.dsn_env, "").strip()
        if not value:
            raise ConfigError(f"environment variable {db.dsn_env} is not set / 未设置数据库连接变量",
                              source=source.name)
        return value
    if db.secrets_file:
        path = Path(os.path.expanduser(db.secrets_file))
        if not path.is_absolute() and source.config_path is not None:
            path = source.config_path.parent / path
        try:
            info = path.stat()
            if info.st_uid != os.getuid() or info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise ConfigError("secrets file must be owned by this user and not readable by "
                                  "others (chmod 600) / 密钥文件权限过宽",
                                  source=source.name, file=str(path))
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read secrets file / 无法读取密钥文件: {exc.strerror}",
                              source=source.name, file=str(path)) from None
        if not value:
            raise ConfigError("secrets file is empty / 密钥文件为空", source=source.name,
                              file=str(path))
        return value
    if db.dsn:
        return str(db.dsn)
    raise ConfigError("database source needs dsn_env, secrets_file or dsn", source=source.name)


def _first_line(query: str) -> str:
    lines = [ln.strip() for ln in query.strip().splitlines() if ln.strip()]
    return lines[0][:200] if lines else ""


class _DbReader:
    """Shared part: scrubbing, naming, batching and hashing of fetched rows."""

    kind = ""

    def __init__(self, source: SourceConfig) -> None:
        assert source.database is not None
        self.source, self.rel = source, f"db:{source.name}"
        self.query = source.database.query
        self._dsn = resolve_dsn(source)
        try:
            url_password = urlsplit(self._dsn).password
        except ValueError:
            url_password = None
        found = [*self._find_secrets(self._dsn), url_password or "", self._dsn]
        self._secrets = [s for s in found if s]
        self._hash = hashlib.sha256()
        self.header: list[str] = []

    @staticmethod
    def _find_secrets(dsn: str) -> list[str]:
        return []

    def scrub(self, text: str) -> str:
        """Text with the DSN and password replaced by ***, and ID-like numbers masked."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return _ID_LIKE.sub(lambda m: mask_id(m.group()), text)

    def _unavailable(self, what: str, exc: BaseException | None = None) -> SourceUnavailable:
        detail = ""
        if exc is not None:
            lines = str(exc).strip().splitlines()
            detail = f": {type(exc).__name__}: {self.scrub(lines[0]) if lines else ''}"
        return SourceUnavailable(f"{self.kind} {what}{detail} [query: {_first_line(self.query)}]",
                                 source=self.source.name, file=self.rel)

    @property
    def sha256(self) -> str:
        """sha256 over the rows read, as text (unit separator between values, NUL for NULL)."""
        return self._hash.hexdigest()

    def _emit(self, sink: RawSink, rows: list[tuple[Any, ...]], first: int) -> int:
        try:
            arrays = [pa.array(texts(c), type=pa.string()) for c in zip(*rows, strict=True)]
        except (pa.ArrowException, UnicodeError):  # e.g. a lone surrogate: the slow, exact path
            return self._emit_python(sink, rows, first)
        if arrays:
            # sha256 over the rows as text, computed on the Arrow buffers: every row is its
            # values joined by \x1f (NULL as \x00) and ended by \x1e, as _emit_python does
            joined = pc.binary_join_element_wise(*[pc.fill_null(a, "\x00") for a in arrays],
                                                 "\x1f")
            ended = pc.binary_join_element_wise(joined, pa.nulls(len(joined), pa.string())
                                                .fill_null(""), "\x1e")
            _, offsets, data = ended.buffers()
            bounds = np.frombuffer(offsets, dtype=np.int32, count=len(ended) + 1,
                                   offset=4 * ended.offset)
            if data is not None:
                self._hash.update(memoryview(data)[int(bounds[0]):int(bounds[-1])])
        sink.add_batch(arrays, pa.array(np.arange(first, first + len(rows), dtype=np.int64)))
        return first + len(rows)

    def _emit_python(self, sink: RawSink, rows: list[tuple[Any, ...]], first: int) -> int:
        columns = [texts(c) for c in zip(*rows, strict=True)]
        update = self._hash.update
        for row in zip(*columns, strict=True):
            update(("\x1f".join("\x00" if v is None else v for v in row) + "\x1e")
                   .encode("utf-8", "surrogatepass"))
        sink.add_batch(columns, list(range(first, first + len(rows))))
        return first + len(rows)


# Types whose PostgreSQL text output (DateStyle ISO) is already the raw-layer text: loaded as
# text, they skip a Python object per value (numeric NaN -> NULL, as value_text does).
_PG_TEXT_TYPES = ("int2", "int4", "int8", "numeric", "date", "text", "varchar", "bpchar")


def _text_loaders(conn: Any) -> None:
    from psycopg.types.string import TextLoader

    class _NumericText(TextLoader):
        def load(self, data: Any) -> Any:
            text = super().load(data)
            return None if text == "NaN" else text

    conn.execute("set datestyle to 'ISO, YMD'")
    for name in _PG_TEXT_TYPES:
        conn.adapters.register_loader(name, _NumericText if name == "numeric" else TextLoader)


class PostgresReader(_DbReader):
    """PostgreSQL via psycopg 3: read-only transaction, named (server-side) cursor."""

    kind = "PostgreSQL"

    @staticmethod
    def _find_secrets(dsn: str) -> list[str]:
        from psycopg.conninfo import conninfo_to_dict

        try:
            return [str(conninfo_to_dict(dsn).get("password") or "")]
        except Exception:
            return []

    def __init__(self, source: SourceConfig) -> None:
        super().__init__(source)
        import psycopg

        try:
            self._conn = psycopg.connect(self._dsn, connect_timeout=CONNECT_TIMEOUT_S,
                                         application_name="safetynet")
        except psycopg.ProgrammingError:
            raise ConfigError("PostgreSQL DSN is malformed / 数据库连接串格式错误",
                              source=source.name) from None
        except psycopg.Error as exc:
            raise self._unavailable("unreachable / 数据库无法连接", exc) from None
        try:
            self._conn.read_only = True
            _text_loaders(self._conn)
            self._cur = self._conn.cursor(name=f"safetynet_{source.name}")
            self._cur.execute(self.query)
            self.header = [header_text(d.name) for d in self._cur.description or []]
        except psycopg.Error as exc:
            self.close()
            raise self._unavailable("query failed / 查询失败", exc) from None

    def close(self) -> None:
        import psycopg

        try:
            self._conn.rollback()
        except psycopg.Error:
            pass
        finally:
            self._conn.close()

    def read_into(self, sink: RawSink, batch_rows: int) -> None:
        """Fetch batch_rows at a time into sink."""
        import psycopg

        first = 1
        try:
            while rows := self._cur.fetchmany(batch_rows):
                first = self._emit(sink, rows, first)
        except psycopg.Error as exc:
            raise self._unavailable(f"failed after {first - 1} rows / 读取中断", exc) from None


def parse_mysql_dsn(dsn: str) -> dict[str, Any]:
    """pymysql.connect keywords from ``mysql://user:password@host:port/database?charset=...``."""
    parts = urlsplit(dsn)
    if parts.scheme not in _MYSQL_SCHEMES or not parts.hostname:
        raise ValueError("expected mysql://user:password@host:port/database")
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    kwargs: dict[str, Any] = {
        "host": parts.hostname, "port": parts.port or 3306,
        "user": unquote(parts.username or ""), "password": unquote(parts.password or ""),
        "database": unquote(parts.path.lstrip("/")) or None,
        "charset": options.pop("charset", "utf8mb4"),
        "connect_timeout": int(options.pop("connect_timeout", CONNECT_TIMEOUT_S)),
    }
    return kwargs


def _mysql_conversions() -> dict[Any, Any]:
    """pymysql's decoders, except that integers, decimals and dates stay the text MySQL sent
    (already the raw-layer text: no Python object per value)."""
    from pymysql.constants import FIELD_TYPE
    from pymysql.converters import conversions

    conv = dict(conversions)
    for code in (FIELD_TYPE.TINY, FIELD_TYPE.SHORT, FIELD_TYPE.LONG, FIELD_TYPE.LONGLONG,
                 FIELD_TYPE.INT24, FIELD_TYPE.DECIMAL, FIELD_TYPE.NEWDECIMAL):
        conv[code] = str
    conv[FIELD_TYPE.DATE] = _mysql_date
    return conv


def _mysql_date(text: str) -> str | None:
    # pymysql would give back an invalid date ('0000-00-00') as the text itself: same here
    return text


class MysqlReader(_DbReader):
    """MySQL / MariaDB via pymysql: read-only session, unbuffered SSCursor."""

    kind = "MySQL"

    @staticmethod
    def _find_secrets(dsn: str) -> list[str]:
        try:
            password = parse_mysql_dsn(dsn)["password"]
        except (ValueError, KeyError):
            return []
        return [password, urlsplit(dsn).password or ""]

    def __init__(self, source: SourceConfig) -> None:
        super().__init__(source)
        import pymysql
        import pymysql.cursors

        try:
            kwargs = parse_mysql_dsn(self._dsn)
        except ValueError:
            raise ConfigError("MySQL DSN must look like mysql://user:password@host:port/db / "
                              "数据库连接串格式错误", source=source.name) from None
        kwargs["password"] = kwargs["password"].encode("utf-8")  # pymysql would use latin-1
        try:
            self._conn = pymysql.connect(**kwargs, cursorclass=pymysql.cursors.SSCursor,
                                         conv=_mysql_conversions())
        except (pymysql.MySQLError, OSError, ValueError) as exc:
            raise self._unavailable("unreachable / 数据库无法连接", exc) from None
        try:
            self._cur = self._conn.cursor()
            self._cur.execute("set session transaction read only")
            self._cur.execute(self.query)
            self.header = [header_text(d[0]) for d in self._cur.description or []]
        except pymysql.MySQLError as exc:
            self.close()
            raise self._unavailable("query failed / 查询失败", exc) from None

    def close(self) -> None:
        import pymysql

        with contextlib.suppress(pymysql.MySQLError):
            self._conn.close()

    def read_into(self, sink: RawSink, batch_rows: int) -> None:
        """Fetch batch_rows at a time into sink."""
        import pymysql

        first = 1
        try:
            while rows := self._cur.fetchmany(batch_rows):
                first = self._emit(sink, list(rows), first)
        except pymysql.MySQLError as exc:
            raise self._unavailable(f"failed after {first - 1} rows / 读取中断", exc) from None


def open_database(source: SourceConfig) -> PostgresReader | MysqlReader:
    """Connect and run the source's query; the reader is ready to stream."""
    assert source.database is not None
    if source.database.kind == "postgresql":
        return PostgresReader(source)
    return MysqlReader(source)
