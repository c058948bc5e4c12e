"""Offset pagination shared by list endpoints."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


class PageParams(BaseModel):
    page: int = Field(default=1, ge=1, le=100_000)
    size: int = Field(default=50, ge=1, le=200)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @classmethod
    def of(cls, items: list[T], total: int, params: PageParams) -> Page[T]:
        """One page of `items` out of `total`, as asked for by `params`."""
        return cls(items=items, total=total, page=params.page, size=params.size)


async def paginate(
    session: AsyncSession, query: Select[Any], params: PageParams
) -> tuple[list[Any], int]:
    """Run `query` for one page; also count all matching rows."""
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = (await session.scalars(query.offset(params.offset).limit(params.size))).all()
    return list(rows), int(total or 0)
