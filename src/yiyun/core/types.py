"""Annotated aliases shared by schemas. Limits match the columns they are stored in."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

EntityId = Annotated[int, Field(gt=0, le=2**31 - 1)]
# Printable text: no control characters (NUL and friends fail at the database otherwise).
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
# The same with at least one visible character (names are stripped, so blank is empty).
_VISIBLE = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
NameStr = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_VISIBLE),
]
# Person, department and terminal names (100-character columns).
ShortNameStr = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=_VISIBLE),
]
CodeStr = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[\w.-]+$")
]
UsernameStr = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=64, pattern=r"^[a-z0-9_.-]+$"
    ),
]
PhoneCN = Annotated[str, StringConstraints(pattern=r"^1[3-9]\d{9}$")]
# A work e-mail address: one "@", a dot in the domain, no spaces or control characters.
# The C1 controls (\x80-\x9f) are named: U+0085 is a space to Python's and Rust's `\s`
# but not to ECMAScript's, so the published pattern and the validator would disagree.
EMAIL_PATTERN = (
    r"^[^@\s\x00-\x1f\x7f-\x9f]{1,64}@[^@\s\x00-\x1f\x7f-\x9f]+\.[^@\s\x00-\x1f\x7f-\x9f]+$"
)
EmailStr = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=254, pattern=EMAIL_PATTERN)
]
