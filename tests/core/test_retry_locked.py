"""`retry_when_locked`: a unit of work that hit SQLite's "database is locked" runs again."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from yiyun.core.db import retry_when_locked


def _locked() -> OperationalError:
    return OperationalError("INSERT", {}, Exception("database is locked"))


async def test_a_locked_unit_is_retried_until_it_succeeds() -> None:
    calls = []

    async def work() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _locked()
        return "done"

    assert await retry_when_locked(work, first_delay=0.001) == "done"
    assert len(calls) == 3


async def test_other_errors_and_the_last_attempt_pass_through() -> None:
    async def other() -> None:
        raise OperationalError("SELECT", {}, Exception("no such table: x"))

    with pytest.raises(OperationalError, match="no such table"):
        await retry_when_locked(other, first_delay=0.001)

    async def always() -> None:
        raise _locked()

    with pytest.raises(OperationalError, match="locked"):
        await retry_when_locked(always, attempts=2, first_delay=0.001)
