"""Request parameter types shared by every route."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

# A row id in a URL path: a positive 32-bit integer (anything else is a 422, not a 500).
Id = Annotated[int, Path(gt=0, le=2**31 - 1)]
