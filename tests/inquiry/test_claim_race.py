"""Two doctors claim the same question at the same moment: exactly one wins, on the
database (concurrent sessions, each in its own transaction)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.factories import World
from tests.inquiry.helpers import make_inquiry, make_resident
from yiyun.audit.models import AuditEvent
from yiyun.auth import service as auth_service
from yiyun.auth.principal import Principal
from yiyun.core.errors import Conflict
from yiyun.inquiry import service
from yiyun.inquiry.models import Inquiry
from yiyun.org.enums import Role
from yiyun.org.models import User, UserRole

pytestmark = pytest.mark.commits


async def test_exactly_one_concurrent_claim_wins(app: Any, world: World, db_backend: str) -> None:
    if db_backend != "postgresql":
        pytest.skip("SQLite serialises writers; the race is PostgreSQL's to prove")
    resident = await make_resident(app, world)
    inquiry_id = await make_inquiry(app, world, resident)
    async with app.state.sessions() as s, s.begin():  # a second doctor at CHC A
        doc = User(
            username="alice2", display_name="Alice Two", institution_id=world.inst["chc_a"].id
        )
        s.add(doc)
        await s.flush()
        s.add(UserRole(user_id=doc.id, role=Role.COMMUNITY_DOCTOR))
        await s.flush()
        doc_id = doc.id
    second = Principal(
        user_id=doc_id,
        username="alice2",
        display_name="Alice Two",
        institution_id=world.inst["chc_a"].id,
        roles=frozenset({Role.COMMUNITY_DOCTOR}),
    )
    doctors = [auth_service.principal_of(world.users["alice"]), second]
    both_loaded = asyncio.Barrier(2)

    async def take(principal: Any) -> str:
        async with app.state.sessions() as s:
            try:
                async with s.begin():
                    await s.get(Inquiry, inquiry_id)  # both see it open
                    await both_loaded.wait()
                    await service.claim(
                        session=s, bus=app.state.bus, principal=principal,
                        actor=principal.actor(), inquiry_id=inquiry_id,
                    )  # fmt: skip
            except Conflict as exc:
                return exc.code
        return "won"

    results = await asyncio.gather(*(take(d) for d in doctors))
    assert sorted(results) == ["inquiry.already_claimed", "won"]
    async with app.state.sessions() as s:
        inquiry = await s.get(Inquiry, inquiry_id)
        assert inquiry is not None and inquiry.state == "claimed"
        winner = doctors[results.index("won")].user_id
        assert inquiry.claimed_by_id == winner
        claims = await s.scalar(
            select(func.count()).where(
                AuditEvent.action == "inquiry.claim", AuditEvent.entity_id == str(inquiry_id)
            )
        )
        assert claims == 1
