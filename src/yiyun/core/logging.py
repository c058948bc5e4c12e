"""Structured JSON logs with request context and a redaction filter.

Never log names, resident ID numbers, phone numbers, tokens or secrets. The
`RedactingFilter` scrubs what slips through: 18-digit resident IDs, mainland mobile
numbers, bearer tokens, cookies and `password=`/`secret=`/`token=` pairs.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
user_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("user_id", default=None)

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)"), "[resident-id]"),
    (re.compile(r"(?<!\d)(?:\+?86)?1[3-9]\d{9}(?!\d)"), "[phone]"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[token]"),
    (
        re.compile(
            r"(?i)((?:password|passwd|secret|token|totp|code|cookie|csrf|authorization)"
            r"[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;]+"
        ),
        r"\1[redacted]",
    ),
]


def redact(text: str) -> str:
    """Scrub identifiers and secrets from free text."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (after %-formatting) through `redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line with time, level, logger, message and context."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (rid := request_id_var.get()) is not None:
            entry["request_id"] = rid
        if (uid := user_id_var.get()) is not None:
            entry["user_id"] = uid
        for key in ("method", "path", "status", "duration_ms"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(*, json_output: bool = True, level: str = "INFO") -> None:
    """Install the JSON (or plain) handler with redaction on the root logger."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_yiyun", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._yiyun = True  # type: ignore[attr-defined]
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        JsonFormatter() if json_output else logging.Formatter("%(levelname)s %(name)s %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("uvicorn.access", "aiosqlite"):  # aiosqlite DEBUG logs SQL parameters
        logging.getLogger(noisy).setLevel(logging.WARNING)
