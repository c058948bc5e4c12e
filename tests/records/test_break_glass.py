"""The consortium administrator (IT) reads no patient record by default; breaking the
glass is explicit, reasoned, time-limited, read-only and audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update

from tests.factories import World
from yiyun.core.clock import now
from yiyun.records.models import BreakGlass

API = "/api/v1"
REASON = "support ticket 4711: record shows a duplicate registration"


async def test_the_it_administrator_reads_no_patient_until_it_breaks_the_glass(
    client: httpx.AsyncClient, world: World, app: Any
) -> None:
    pa = world.patients["pa"]
    admin = world.auth("admin")
    chart = f"{API}/patients/{pa.id}"
    assert (await client.get(chart, headers=admin)).status_code == 404
    assert (await client.patch(chart, headers=admin, json={"address": "x"})).status_code == 404
    assert (await client.get(f"{API}/patients", headers=admin)).status_code == 403

    short = await client.post(f"{chart}/break-glass", headers=admin, json={"reason": "need"})
    assert short.status_code == 422
    too_long = await client.post(
        f"{chart}/break-glass", headers=admin, json={"reason": REASON, "minutes": 600}
    )
    assert too_long.status_code == 422
    clinician = await client.post(
        f"{chart}/break-glass", headers=world.auth("mallory"), json={"reason": REASON}
    )
    assert clinician.status_code == 403

    opened = await client.post(
        f"{chart}/break-glass", headers=admin, json={"reason": REASON, "minutes": 15}
    )
    assert opened.status_code == 201, opened.text
    grant = opened.json()
    assert grant["reason"] == REASON
    assert (await client.get(chart, headers=admin)).status_code == 200
    # Reading only.
    edit = await client.patch(chart, headers=admin, json={"address": "别处"})
    assert edit.status_code == 403
    mine = await client.get(f"{API}/break-glass", headers=admin)
    assert [g["id"] for g in mine.json()] == [grant["id"]]

    # The patient's institution sees the grant with its reason, and the read under it.
    events = await client.get(
        f"{API}/audit/events", headers=world.auth("ines"), params={"patient_id": pa.id}
    )
    by_admin = [
        (e["action"], e["outcome"]) for e in events.json()["items"] if e["actor"] == "admin"
    ]
    assert ("patient.break_glass", "success") in by_admin
    assert ("patient.read", "success") in by_admin
    opened_entry = next(e for e in events.json()["items"] if e["action"] == "patient.break_glass")
    assert opened_entry["details"]["reason"] == REASON

    # Time is up: the grant lapses by itself.
    async with app.state.sessions.begin() as s:
        await s.execute(
            update(BreakGlass)
            .where(BreakGlass.id == grant["id"])
            .values(expires_at=now() - timedelta(seconds=1))
        )
    assert (await client.get(chart, headers=admin)).status_code == 404
    assert (await client.get(f"{API}/break-glass", headers=admin)).json() == []
