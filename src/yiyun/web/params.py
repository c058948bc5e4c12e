"""Request parameter types shared by every route."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Path, Query

from yiyun.core.pagination import PageParams

# A row id in a URL path: a positive 32-bit integer (anything else is a 422, not a 500).
Id = Annotated[int, Path(gt=0, le=2**31 - 1)]


def _paging(default_size: int) -> Callable[..., Awaitable[PageParams]]:
    async def params(  # async: a plain def would run on the thread pool
        page: Annotated[int, Query(ge=1, le=100_000, description="page number, from 1")] = 1,
        size: Annotated[int, Query(ge=1, le=200, description="rows per page")] = default_size,
    ) -> PageParams:
        return PageParams(page=page, size=size)

    return params


# Every list endpoint pages the same way: `?page=&size=` in, `Page[...]` out.
Paging = Annotated[PageParams, Depends(_paging(50))]
LongPaging = Annotated[PageParams, Depends(_paging(100))]  # short catalogues (institutions)
