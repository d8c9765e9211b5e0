"""Accounts (meta.users), scrypt password hashes, server-side sessions and CSRF tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

ROLES = ("province", "prefecture", "county", "town", "department")
# Region-code prefix length each officer role's scope must have (a department user: any).
SCOPE_LENGTHS = {"province": (2,), "prefecture": (4,), "county": (6,), "town": (9, 12)}
_DEPARTMENT = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
_USERNAME = re.compile(r"^[A-Za-z0-9_.\-]{2,40}$")

SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 2**14, 8, 1, 32
SESSION_HOURS = 8
MIN_PASSWORD = 10


class AccountError(ValueError):
    """A user definition or password is not acceptable (message in Chinese)."""


@dataclass(frozen=True)
class User:
    """A signed-in account: what it may see is decided by role, region scope and department."""

    username: str
    role: str
    region_scope: str
    department: str | None
    display_name: str

    @property
    def is_department(self) -> bool:
        return self.role == "department"


def hash_password(password: str) -> str:
    """scrypt with a per-user random salt: `scrypt$n$r$p$salt$hash` (base64)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R,
                            p=SCRYPT_P, dklen=SCRYPT_LEN)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of a password against `hash_password` output."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n),
                             r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


_DUMMY_HASH = hash_password(secrets.token_hex(8))


def validate_account(username: str, role: str, region_scope: str,
                     department: str | None) -> None:
    """Reject a role/scope/department combination that would give unclear visibility."""
    if not _USERNAME.match(username or ""):
        raise AccountError("用户名须为2-40位字母、数字、下划线、点或短横线。")
    if role not in ROLES:
        raise AccountError(f"角色须为 {', '.join(ROLES)} 之一。")
    if not re.fullmatch(r"\d{2,12}", region_scope or ""):
        raise AccountError("管辖区划须为2-12位数字区划代码前缀。")
    if role in SCOPE_LENGTHS and len(region_scope) not in SCOPE_LENGTHS[role]:
        lengths = "或".join(str(n) for n in SCOPE_LENGTHS[role])
        raise AccountError(f"{role} 角色的管辖区划须为{lengths}位代码。")
    if role == "department":
        if not department or not _DEPARTMENT.match(department):
            raise AccountError("部门用户须填写部门代码（如 medical_security）。")
    elif department:
        raise AccountError("只有部门用户可以填写部门。")


def add_user(con: duckdb.DuckDBPyConnection, username: str, password: str, role: str,
             region_scope: str, department: str | None = None, display_name: str = "",
             *, replace: bool = False) -> None:
    """Create an account (or replace its password and scope with `replace=True`)."""
    validate_account(username, role, region_scope, department)
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"密码至少{MIN_PASSWORD}位。")
    exists = con.execute("select count(*) from meta.users where username = ?",
                         [username]).fetchone()[0]
    if exists and not replace:
        raise AccountError(f"用户 {username} 已存在。")
    con.execute("delete from meta.users where username = ?", [username])
    con.execute(
        "insert into meta.users (username, password_hash, role, region_scope, department, "
        "display_name, active, created_at) values (?, ?, ?, ?, ?, ?, true, current_timestamp)",
        [username, hash_password(password), role, region_scope, department or None,
         display_name or username])
    # A changed account starts over: its open sessions end.
    con.execute("delete from meta.web_sessions where username = ?", [username])


def _user_from_row(row: tuple) -> User:
    username, role, scope, department, display = row
    return User(username, role, scope, department, display or username)


def authenticate(con: duckdb.DuckDBPyConnection, username: str, password: str) -> User | None:
    """The active user with this password, or None (same cost whether or not the user exists)."""
    row = con.execute(
        "select username, role, region_scope, department, display_name, password_hash "
        "from meta.users where username = ? and active", [username]).fetchone()
    if row is None:
        verify_password(password, _DUMMY_HASH)
        return None
    if not verify_password(password, row[5]):
        return None
    return _user_from_row(row[:5])


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def create_session(con: duckdb.DuckDBPyConnection, username: str) -> tuple[str, str]:
    """Start a session: returns (cookie token, CSRF token). Only the token's hash is stored."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = datetime.now()
    con.execute("delete from meta.web_sessions where expires_at < ?", [now])
    con.execute("insert into meta.web_sessions values (?, ?, ?, ?, ?)",
                [_token_hash(token), username, csrf, now, now + timedelta(hours=SESSION_HOURS)])
    return token, csrf


def session_user(con: duckdb.DuckDBPyConnection, token: str | None) -> tuple[User, str] | None:
    """The (user, CSRF token) of a live session, or None."""
    if not token:
        return None
    row = con.execute(
        "select u.username, u.role, u.region_scope, u.department, u.display_name, s.csrf_token "
        "from meta.web_sessions s join meta.users u on u.username = s.username "
        "where s.token_hash = ? and s.expires_at > ? and u.active",
        [_token_hash(token), datetime.now()]).fetchone()
    if row is None:
        return None
    return _user_from_row(row[:5]), row[5]


def end_session(con: duckdb.DuckDBPyConnection, token: str | None) -> None:
    """Forget a session (sign-out)."""
    if token:
        con.execute("delete from meta.web_sessions where token_hash = ?", [_token_hash(token)])


def csrf_ok(expected: str | None, given: str | None) -> bool:
    """Constant-time CSRF token comparison; an empty token never passes."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
