"""Masking of personal data for logs, summaries and screens."""

from __future__ import annotations


def mask_id(id_number: str | None) -> str:
    """Keep the first 4 and last 4 characters of an ID number: 4301**********1234."""
    if not id_number:
        return ""
    s = str(id_number)
    if len(s) <= 8:
        return "*" * len(s)
    return s[:4] + "*" * (len(s) - 8) + s[-4:]


def mask_name(name: str | None) -> str:
    """Keep the surname (first character) only: 张**."""
    if not name:
        return ""
    s = str(name)
    return s[0] + "*" * max(1, len(s) - 1)
