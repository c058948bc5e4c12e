"""Answer deadlines remind and escalate once; signed consultations feed surveillance."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from tests.consult.conftest import CW, OPINION, accepted, requested, step_up
from yiyun.audit.service import SYSTEM
from yiyun.consult import encounters, sla
from yiyun.consult.config import ConsultSettings
from yiyun.core.clock import district, now
from yiyun.notify.models import Notification
from yiyun.surveillance import syndromes


async def _kinds(app: Any, user_id: int) -> list[str]:
    async with app.state.sessions() as s:
        rows = await s.scalars(select(Notification.kind).where(Notification.user_id == user_id))
        return list(rows.all())


async def test_an_emergency_request_is_reminded_then_escalated_once(
    app: Any, client: httpx.AsyncClient, cw: CW
) -> None:
    consult = await requested(client, cw, urgency="emergency")
    ctx = sla.Context(app.state.sessions, app.state.bus, ConsultSettings())
    carol = cw.uid("carol")
    assert await sla.send_due(ctx, at=now() + timedelta(minutes=5)) == {
        "reminded": 0,
        "escalated": 0,
    }
    assert await sla.send_due(ctx, at=now() + timedelta(minutes=24)) == {
        "reminded": 1,
        "escalated": 0,
    }
    assert await sla.send_due(ctx, at=now() + timedelta(minutes=31)) == {
        "reminded": 0,
        "escalated": 1,
    }
    assert await sla.send_due(ctx, at=now() + timedelta(minutes=40)) == {
        "reminded": 0,
        "escalated": 0,
    }
    kinds = await _kinds(app, carol)
    assert kinds.count("consult.remind") == 1 and kinds.count("consult.escalate") == 1
    del consult


async def test_signed_consultations_count_as_encounters(
    app: Any, client: httpx.AsyncClient, cw: CW
) -> None:
    consult = await accepted(client, cw, reason="发热伴咳嗽三天")
    cid = consult["id"]
    await step_up(client, cw, "alice")
    assert (
        await client.post(f"/api/v1/consults/{cid}/start", headers=cw.auth("alice"))
    ).status_code == 200
    fever = OPINION | {"diagnoses": [{"code": "J11.1"}]}
    await client.put(f"/api/v1/consults/{cid}/opinion", headers=cw.auth("bob"), json=fever)
    await step_up(client, cw, "bob")
    assert (
        await client.post(f"/api/v1/consults/{cid}/sign", headers=cw.auth("bob"))
    ).status_code == 200
    today = district(now()).date()
    async with app.state.sessions() as s, s.begin():
        found = await encounters.encounters(s, today, today)
        assert [e.icd10_codes for e in found] == [["J11.1"]]
        assert found[0].site_id == cw.world.inst["chc_a"].id
        counts = syndromes.derive_counts(found)
        assert counts[(cw.world.inst["chc_a"].id, "ili", today)] == 1
        result = await encounters.store_counts(session=s, actor=SYSTEM, start=today, end=today)
        assert result.accepted + result.replaced >= 1 and not result.rejected
