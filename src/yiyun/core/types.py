"""Annotated aliases shared by schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

EntityId = Annotated[int, Field(gt=0, le=2**31 - 1)]
NameStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
CodeStr = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[\w.-]+$")
]
UsernameStr = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=64, pattern=r"^[a-z0-9_.-]+$"
    ),
]
PhoneCN = Annotated[str, StringConstraints(pattern=r"^1[3-9]\d{9}$")]
