"""Substring and prefix matches in SQL, with the user's text taken literally.

The one place a LIKE pattern is built: `%` and `_` (and the escape character) in what a
user typed match themselves, never "anything".
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, literal_column, or_, select, text, true


def contains(text: str, *columns: Any) -> ColumnElement[bool]:
    """Any of `columns` contains `text`, case-insensitively."""
    return or_(false(), *(c.icontains(text, autoescape=True) for c in columns))


def starts_with(text: str, *columns: Any) -> ColumnElement[bool]:
    """Any of `columns` starts with `text`, case-insensitively."""
    return or_(false(), *(c.istartswith(text, autoescape=True) for c in columns))


def prefix(text: str, column: Any) -> ColumnElement[bool]:
    """`column` starts with `text`, exactly (case-sensitive)."""
    return column.startswith(text, autoescape=True)  # type: ignore[no-any-return]


# --- full-text search over one indexed text column -----------------------------------
#
# Chinese has no spaces between words, so word-based full text (PostgreSQL's parsers,
# FTS5's unicode61) cannot find "肺炎" inside "社区获得性肺炎的诊治". Both databases index
# character trigrams instead: SQLite an FTS5 table with the trigram tokenizer, kept in
# step with its table by triggers; PostgreSQL a pg_trgm GIN index on the column, used by
# ILIKE. A query is split on spaces and every term must occur. Terms of three or more
# characters are looked up in the index; shorter ones (most two-character Chinese words)
# fall back to a scan of what the other terms left (FTS5 and pg_trgm both need three).


@dataclass(frozen=True)
class FullText:
    """An indexed text column: `column` on `table`, and on SQLite its FTS5 table."""

    column: Any
    id_column: Any
    fts_table: str  # SQLite: the FTS5 table whose rowid is the row's id

    def terms(self, query: str) -> list[str]:
        """Up to 8 terms; control characters (NUL ends an FTS5 string, PostgreSQL refuses
        it in text) separate terms like spaces, they never reach the database."""
        cleaned = "".join(" " if unicodedata.category(c).startswith("C") else c for c in query)
        return [t for t in cleaned.split() if t][:8]

    def matches(self, query: str, dialect: str) -> ColumnElement[bool]:
        """Rows whose column holds every term of `query` (no terms: every row)."""
        conditions: list[ColumnElement[bool]] = []
        for n, term in enumerate(self.terms(query)):
            if dialect == "sqlite" and len(term) >= 3:
                quoted = '"' + term.replace('"', '""') + '"'  # a phrase, never FTS syntax
                match = text(f"{self.fts_table} MATCH :fts{n}").bindparams(**{f"fts{n}": quoted})
                ids: Select[Any] = (
                    select(literal_column("rowid")).select_from(text(self.fts_table)).where(match)
                )
                conditions.append(self.id_column.in_(ids))
            else:
                conditions.append(self.column.icontains(term, autoescape=True))
        return and_(true(), *conditions)
