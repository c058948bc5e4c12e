"""Reads' audit entries commit together: durable before each response, one transaction
for all that wait, the chain intact; a request that writes keeps its entry in its own
transaction."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select

from tests.factories import World
from yiyun.audit import service as audit
from yiyun.audit.models import AuditEvent
from yiyun.auth import service as auth_service

# Several tasks (sockets, background writers) use the database at once.
pytestmark = pytest.mark.commits


async def _count(app: Any, action: str) -> int:
    async with app.state.sessions() as s:
        return int(
            await s.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
            )
            or 0
        )


async def test_concurrent_reads_share_commits_and_every_entry_is_stored_first(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    commits: list[object] = []
    engine = app.state.engine.sync_engine

    def committed(conn: Any) -> None:
        commits.append(conn)

    patient = world.patients["pa"].id
    stored_when_answered: list[int] = []

    async def read() -> None:
        res = await client.get(f"/api/v1/patients/{patient}", headers=world.auth("alice"))
        assert res.status_code == 200, res.text
        stored_when_answered.append(await _count(app, "patient.read"))

    await read()  # signs the caller in (and stamps the session's last use) once
    stored_when_answered.clear()
    event.listen(engine, "commit", committed)
    try:
        await asyncio.gather(*(read() for _ in range(16)))
    finally:
        event.remove(engine, "commit", committed)
    assert await _count(app, "patient.read") == 17
    assert min(stored_when_answered) >= 1  # each answer came after its entry was stored
    assert len(commits) < 16  # grouped: fewer transactions than reads
    async with app.state.sessions() as s:
        assert (await audit.verify(session=s)).ok


async def test_a_request_that_writes_commits_its_entry_with_the_change(
    client: httpx.AsyncClient, world: World, app: Any
) -> None:
    patient = world.patients["pa"].id
    res = await client.patch(
        f"/api/v1/patients/{patient}",
        headers=world.auth("alice"),
        json={"address": "示例区健康路 9 号"},
    )
    assert res.status_code == 200, res.text
    async with app.state.sessions() as s:
        row = await s.scalar(select(AuditEvent).where(AuditEvent.action == "patient.update"))
        assert row is not None and row.patient_id == patient
        assert (await audit.verify(session=s)).ok


async def test_reads_while_other_callers_sign_in_never_fail_nor_lose_an_entry(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    """Concurrent audited reads while other requests write (a token's first use stamps
    its session): the grouped audit commit and the writers must not wait on each other
    (on SQLite this ended in `database is locked` and a 500 for the whole batch)."""
    patient = world.patients["pa"].id
    fresh: list[str] = []
    async with app.state.sessions() as s, s.begin():
        for n in range(12):
            issued = await auth_service.create_api_token(
                session=s, username="alice", name=f"burst {n}"
            )
            fresh.append(issued.token)
    warm = world.auth("alice")
    assert (await client.get(f"/api/v1/patients/{patient}", headers=warm)).status_code == 200

    async def read(headers: dict[str, str]) -> int:
        res = await client.get(f"/api/v1/patients/{patient}", headers=headers)
        return res.status_code

    callers = [warm] * 20 + [{"Authorization": f"Bearer {t}"} for t in fresh]
    statuses = await asyncio.wait_for(asyncio.gather(*(read(h) for h in callers)), 30)
    assert statuses == [200] * len(callers)
    assert await _count(app, "patient.read") == len(callers) + 1
    async with app.state.sessions() as s:
        assert (await audit.verify(session=s)).ok
