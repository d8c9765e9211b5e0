"""Logging that never writes a full ID number: every record passes a redaction filter."""

from __future__ import annotations

import logging
import re

_ID_LIKE = re.compile(r"(?<![0-9A-Za-z])(\d{4})\d{7,10}(\d{3}[\dXx])(?![0-9A-Za-z])")


def redact(text: str) -> str:
    """Mask anything shaped like a 15- or 18-character ID number."""
    return _ID_LIKE.sub(lambda m: m.group(1) + "*" * (len(m.group(0)) - 8) + m.group(2), text)


class RedactingFilter(logging.Filter):
    """Rewrite the rendered message so no ID-shaped number survives."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        red = redact(msg)
        if red != msg:
            record.msg, record.args = red, None
        return True


def get_logger(name: str = "safetynet") -> logging.Logger:
    """The package logger, with the redaction filter installed once."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger
