"""Who sees what: region scope and department routing as SQL, and ID/name masking by role.

Every query of the workbench gets its scope from here, on the server, as SQL with parameters:
an officer sees rows whose region code starts with the scope prefix; a department user, in
addition, only warnings whose `routes` contain the department.
"""

from __future__ import annotations

from safetynet.privacy import mask_id, mask_name
from safetynet.workbench.auth import User

# Roles that verify cases on the ground (or act on a referral) see ID numbers and names in full
# on a person's page and in exports; supervisory roles see them masked.
FULL_IDENTITY_ROLES = frozenset({"county", "town", "department"})
# Roles that may enter a disposition or decide a review-queue link.
DISPOSING_ROLES = frozenset({"county", "town", "department"})
REVIEWING_ROLES = frozenset({"county", "town"})


def warning_scope(user: User, alias: str = "w") -> tuple[str, list[str]]:
    """SQL predicate (and its parameters) limiting warnings-shaped rows to the user's scope."""
    sql = f"starts_with(coalesce({alias}.region_code, {alias}.county_code), ?)"
    params = [user.region_scope]
    if user.is_department:
        sql += f" and list_contains({alias}.routes, ?)"
        params.append(user.department or "")
    return sql, params


def region_scope(user: User, column: str) -> tuple[str, list[str]]:
    """SQL predicate limiting rows with a region code column (roster rows) to the scope."""
    return f"starts_with({column}, ?)", [user.region_scope]


def sees_full_identity(user: User) -> bool:
    """True when the role needs ID numbers and names in full."""
    return user.role in FULL_IDENTITY_ROLES


def show_id(user: User, id_number: str | None, *, detail: bool) -> str:
    """An ID number as this user may see it: full on a person's page for verifying roles."""
    if detail and sees_full_identity(user):
        return id_number or ""
    return mask_id(id_number)


def show_name(user: User, name: str | None) -> str:
    """A name as this user may see it: supervisory roles see the surname only."""
    return (name or "") if sees_full_identity(user) else mask_name(name)
