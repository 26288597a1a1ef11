"""Logging set-up for govcloud's entry points, with secrets redacted from every record."""

from __future__ import annotations

import logging
import re
import sys
from typing import TextIO

from govcloud.domain.text import printable, printable_lines

_SECRET_KEYS = r"(?:password|passwd|secret|token|api[_-]?key|credential|auth[_-]?key)"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # HTTP headers: X-Auth-Token: abc, X-Subject-Token: abc, Authorization: Bearer abc
    (re.compile(r"(?i)\b((?:x-auth-token|x-subject-token|x-service-token)\s*[:=]\s*)(\S+)"),
     r"\1***"),
    (re.compile(r"(?i)\b(authorization\s*[:=]\s*(?:bearer|basic|token)?\s*)(\S+)"), r"\1***"),
    # JSON / Python reprs: "password": "abc", 'token': 'abc'
    (re.compile(r"""(?i)(["']\w*""" + _SECRET_KEYS + r"""\w*["']\s*:\s*)(["'])(.*?)(?<!\\)\2"""),
     r"\1\2***\2"),
    # key=value and key: value in free text
    (re.compile(r"(?i)\b(\w*" + _SECRET_KEYS + r"\w*\s*[=:]\s*)(?![\"'*])([^\s,;&]+)"), r"\1***"),
    # credentials in URLs: scheme://user:pass@host
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)([^@/\s]+)(@)"), r"\1***\3"),
)


def redact(text: str) -> str:
    """Replace anything that looks like a secret in ``text`` with ``***``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Redacts secrets from a record's message (with its arguments) and exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class EscapingFormatter(logging.Formatter):
    """Log lines with control characters escaped: a message quoting a reason, a host's answer
    or a cloud's error must not act on the terminal (or the log viewer) it is written to, nor
    add a line that looks like another record (its newlines too are escaped, ``printable``);
    a traceback keeps its line breaks (``printable_lines``)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))

    def format(self, record: logging.LogRecord) -> str:
        return printable_lines(super().format(record))


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a record is emitted, not to the one there was
    at set-up: a caller that swaps stderr (a test's capture, a daemon redirecting it) and
    closes the old one must not leave the root logger writing to a closed stream."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)

    def flush(self) -> None:
        self.stream = sys.stderr
        super().flush()


def configure_logging(*, debug: bool = False, stream: TextIO | None = None) -> logging.Handler:
    """Log to ``stream`` (the current stderr): warnings by default, everything with
    ``debug``."""
    handler = logging.StreamHandler(stream) if stream is not None else StderrHandler()
    handler.setFormatter(EscapingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_govcloud", False)]:
        root.removeHandler(old)
    handler._govcloud = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    return handler
