"""Substring and prefix matches in SQL, with the user's text taken literally.

The one place a LIKE pattern is built: `%` and `_` (and the escape character) in what a
user typed match themselves, never "anything".
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, or_


def contains(text: str, *columns: Any) -> ColumnElement[bool]:
    """Any of `columns` contains `text`, case-insensitively."""
    return or_(false(), *(c.icontains(text, autoescape=True) for c in columns))


def starts_with(text: str, *columns: Any) -> ColumnElement[bool]:
    """Any of `columns` starts with `text`, case-insensitively."""
    return or_(false(), *(c.istartswith(text, autoescape=True) for c in columns))


def prefix(text: str, column: Any) -> ColumnElement[bool]:
    """`column` starts with `text`, exactly (case-sensitive)."""
    return column.startswith(text, autoescape=True)  # type: ignore[no-any-return]
