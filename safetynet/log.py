"""Logging that never writes a full ID number: every record passes a redaction filter.

`run_log` gives one run its log file (`<out>/<as_of>/run.log`, owner-only): a handler on the
`safetynet` logger whose filter masks ID-shaped numbers in messages, arguments and tracebacks.
Filters sit on handlers (a logger's own filters do not see records of its child loggers), so
`redact_handlers` puts the same filter on any other handler, e.g. Prefect's.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

_ID_LIKE = re.compile(r"(?<![0-9A-Za-z])(\d{4})\d{7,10}(\d{3}[\dXx])(?![0-9A-Za-z])")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def redact(text: str) -> str:
    """Mask anything shaped like a 15- or 18-character ID number."""
    return _ID_LIKE.sub(lambda m: m.group(1) + "*" * (len(m.group(0)) - 8) + m.group(2), text)


class RedactingFilter(logging.Filter):
    """Rewrite the rendered message (and any traceback) so no ID-shaped number survives."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string: keep the template only
            msg = str(record.msg)
        red = redact(msg)
        if red != msg or record.args:
            record.msg, record.args = red, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def get_logger(name: str = "safetynet") -> logging.Logger:
    """The package logger, with the redaction filter installed once."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger


def redact_handlers(handlers: Iterable[logging.Handler]) -> None:
    """Put the redaction filter on each handler (once)."""
    for handler in handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


@contextmanager
def run_log(path: str | Path, *, logger_names: Iterable[str] = ("safetynet",),
            level: int = logging.INFO) -> Iterator[Path]:
    """Append the block's log records of `logger_names` to `path` (0600), redacted.

    The loggers' levels are lowered to `level` for the block when they are higher (or unset)
    and restored afterwards; the handler is removed when the block ends.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(fd)
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(level)
    handler.addFilter(RedactingFilter())
    loggers = [logging.getLogger(n) for n in logger_names]
    previous = [lg.level for lg in loggers]
    for lg in loggers:
        if lg.getEffectiveLevel() > level:
            lg.setLevel(level)
        lg.addHandler(handler)
    try:
        yield path
    finally:
        for lg, lvl in zip(loggers, previous, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(lvl)
        handler.close()


@contextmanager
def console_handler(stream: TextIO | None = None, *,
                    level: int = logging.WARNING) -> Iterator[logging.Handler]:
    """For the block, `safetynet` warnings go to `stream` (stderr) redacted, instead of
    Python's unfiltered last-resort handler."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.setLevel(level)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("safetynet")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
