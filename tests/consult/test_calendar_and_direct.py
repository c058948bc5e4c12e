"""Experts' calendars (Asia/Shanghai windows; bookings only inside them, never two at
once) and the invited department accepting a request directly."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.consult.conftest import CW, assigned, requested, soon

API = "/api/v1"
CST = "+08:00"


async def _clear(client: httpx.AsyncClient, cw: CW, name: str) -> None:
    rows = await client.get(f"{API}/consults/availability", headers=cw.auth(name))
    assert rows.status_code == 200, rows.text
    for row in rows.json():
        res = await client.delete(f"{API}/consults/availability/{row['id']}", headers=cw.auth(name))
        assert res.status_code == 204


def _tomorrow_local(hour: int) -> str:
    """A district wall-clock time tomorrow, without a zone (as a form sends it)."""
    day = (datetime.now(UTC) + timedelta(hours=8) + timedelta(days=1)).date()
    return f"{day.isoformat()}T{hour:02d}:00:00"


async def test_a_specialist_publishes_windows_and_bookings_must_fit_them(
    client: httpx.AsyncClient, cw: CW
) -> None:
    await _clear(client, cw, "bob")
    made = await client.post(
        f"{API}/consults/availability",
        headers=cw.auth("bob"),
        json={"starts_at": _tomorrow_local(9), "ends_at": _tomorrow_local(12)},
    )
    assert made.status_code == 201, made.text
    window = made.json()
    # 09:00 in Shanghai is 01:00 UTC.
    assert datetime.fromisoformat(window["starts_at"]).astimezone(UTC).hour == 1
    overlap = await client.post(
        f"{API}/consults/availability",
        headers=cw.auth("bob"),
        json={"starts_at": _tomorrow_local(11), "ends_at": _tomorrow_local(13)},
    )
    assert overlap.status_code == 409
    assert overlap.json()["error"]["code"] == "consult.window_overlap"
    backwards = await client.post(
        f"{API}/consults/availability",
        headers=cw.auth("bob"),
        json={"starts_at": _tomorrow_local(15), "ends_at": _tomorrow_local(14)},
    )
    assert backwards.status_code == 422
    assert backwards.json()["error"]["details"]["field"] == "ends_at"
    not_specialist = await client.post(
        f"{API}/consults/availability",
        headers=cw.auth("alice"),
        json={"starts_at": _tomorrow_local(9), "ends_at": _tomorrow_local(10)},
    )
    assert not_specialist.status_code == 403
    # The dispatcher reads an expert's calendar; another doctor does not.
    seen = await client.get(
        f"{API}/consults/availability?expert_id={cw.uid('bob')}", headers=cw.auth("carol")
    )
    assert [w["id"] for w in seen.json()] == [window["id"]]
    hidden = await client.get(
        f"{API}/consults/availability?expert_id={cw.uid('bob')}", headers=cw.auth("alice")
    )
    assert hidden.status_code == 403
    foreign = await client.delete(
        f"{API}/consults/availability/{window['id']}", headers=cw.auth("bea")
    )
    assert foreign.status_code == 404

    consult = await requested(client, cw)
    outside = await client.post(
        f"{API}/consults/{consult['id']}/assign",
        headers=cw.auth("carol"),
        json={
            "expert_ids": [cw.uid("bob")],
            "starts_at": _tomorrow_local(11) + CST,
            "duration_minutes": 90,
        },
    )
    assert outside.status_code == 409, outside.text
    error = outside.json()["error"]
    assert error["code"] == "consult.not_available"
    assert (error["details"]["state"], error["details"]["action"]) == ("requested", "assign")
    candidates = await client.get(
        f"{API}/consults/{consult['id']}/candidates", headers=cw.auth("carol")
    )
    assert any(c["user_id"] == cw.uid("bob") for c in candidates.json())
    inside = await client.post(
        f"{API}/consults/{consult['id']}/assign",
        headers=cw.auth("carol"),
        json={"expert_ids": [cw.uid("bob")], "starts_at": _tomorrow_local(10) + CST},
    )
    assert inside.status_code == 200, inside.text
    # The same slot again: inside the window, but booked.
    other = await requested(client, cw)
    twice = await client.post(
        f"{API}/consults/{other['id']}/assign",
        headers=cw.auth("carol"),
        json={"expert_ids": [cw.uid("bob")], "starts_at": _tomorrow_local(10) + CST},
    )
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "consult.double_booked"


async def _invite_cardiology(client: httpx.AsyncClient, cw: CW, **over: Any) -> dict[str, Any]:
    return await requested(client, cw, department_id=cw.world.departments["cardio"].id, **over)


async def test_the_invited_department_accepts_directly(client: httpx.AsyncClient, cw: CW) -> None:
    consult = await _invite_cardiology(client, cw)
    assert consult["department_id"] == cw.world.departments["cardio"].id
    invited = await client.get(f"{API}/consults?view=invited", headers=cw.auth("bea"))
    assert consult["id"] in [c["id"] for c in invited.json()["items"]]
    detail = await client.get(f"{API}/consults/{consult['id']}", headers=cw.auth("bea"))
    assert "take" in detail.json()["allowed"] and detail.json()["summary"]
    # Another institution's doctor does not even see it; an unqualified colleague is
    # refused with the reason; a slot outside the calendar is a 409.
    hidden = await client.post(
        f"{API}/consults/{consult['id']}/take",
        headers=cw.auth("mallory"),
        json={"starts_at": soon()},
    )
    assert hidden.status_code == 404
    junior = await client.post(
        f"{API}/consults/{consult['id']}/take", headers=cw.auth("dan"), json={"starts_at": soon()}
    )
    assert junior.status_code == 422
    assert junior.json()["error"]["code"] == "consult.expert_refused"
    far = (datetime.now(UTC) + timedelta(days=40)).isoformat()
    busy = await client.post(
        f"{API}/consults/{consult['id']}/take", headers=cw.auth("bea"), json={"starts_at": far}
    )
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "consult.not_available"

    taken = await client.post(
        f"{API}/consults/{consult['id']}/take",
        headers=cw.auth("bea"),
        json={"starts_at": soon(20), "duration_minutes": 45},
    )
    assert taken.status_code == 200, taken.text
    assert taken.json()["state"] == "accepted"
    detail = await client.get(f"{API}/consults/{consult['id']}", headers=cw.auth("alice"))
    assert [(e["expert_id"], e["answer"]) for e in detail.json()["experts"]] == [
        (cw.uid("bea"), "accepted")
    ]
    # Now the dispatcher cannot assign it, nor a colleague take it: 409 naming both.
    late = await client.post(
        f"{API}/consults/{consult['id']}/take", headers=cw.auth("bob"), json={"starts_at": soon()}
    )
    assert late.status_code == 409
    assert late.json()["error"]["details"] == {"state": "accepted", "action": "take"}
    assign = await client.post(
        f"{API}/consults/{consult['id']}/assign",
        headers=cw.auth("carol"),
        json={"expert_ids": [cw.uid("bob")], "starts_at": soon(120)},
    )
    assert assign.status_code == 409
    # bea is booked now: a second direct acceptance at the same time is refused.
    second = await _invite_cardiology(client, cw)
    clash = await client.post(
        f"{API}/consults/{second['id']}/take", headers=cw.auth("bea"), json={"starts_at": soon(30)}
    )
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "consult.double_booked"


async def test_direct_acceptance_needs_an_invited_department(
    client: httpx.AsyncClient, cw: CW
) -> None:
    plain = await requested(client, cw)
    unseen = await client.post(
        f"{API}/consults/{plain['id']}/take", headers=cw.auth("bob"), json={"starts_at": soon()}
    )
    assert unseen.status_code == 404  # no department invited: only the dispatcher sees it
    res = await client.post(
        f"{API}/consults/{plain['id']}/take", headers=cw.auth("carol"), json={"starts_at": soon()}
    )
    assert res.status_code == 403
    assert res.json()["error"]["code"] == "consult.invited_department_only"
    own = await client.post(
        f"{API}/consults",
        headers=cw.auth("alice"),
        json={
            "patient_id": cw.world.patients["pa"].id,
            "reason": "血压控制不佳",
            "specialty": "03.04",
            "department_id": cw.world.departments["gp"].id,
        },
    )
    assert own.status_code == 422
    assert own.json()["error"]["details"]["field"] == "department_id"
    mdt = await _invite_cardiology(client, cw, kind="mdt")
    res = await client.post(
        f"{API}/consults/{mdt['id']}/take", headers=cw.auth("bob"), json={"starts_at": soon()}
    )
    assert res.status_code == 409 and res.json()["error"]["code"] == "consult.mdt_dispatch_only"
    # A request already with the telemedicine centre's experts is no longer open to take.
    booked = await assigned(client, cw, "bob", department_id=cw.world.departments["cardio"].id)
    res = await client.post(
        f"{API}/consults/{booked['id']}/take", headers=cw.auth("bea"), json={"starts_at": soon()}
    )
    assert res.status_code == 409


@pytest.mark.commits
async def test_two_colleagues_and_the_dispatcher_at_once_exactly_one_wins(
    client: httpx.AsyncClient, cw: CW, db_backend: str
) -> None:
    """Two specialists of the invited department take the request while the dispatcher
    assigns it (to one of them, at another time), each in its own connection and
    transaction: one succeeds, the others get a 409, and exactly one booking is live."""
    consult = await _invite_cardiology(client, cw)
    base = f"{API}/consults/{consult['id']}"
    results = await asyncio.gather(
        client.post(f"{base}/take", headers=cw.auth("bob"), json={"starts_at": soon(20)}),
        client.post(f"{base}/take", headers=cw.auth("bea"), json={"starts_at": soon(40)}),
        client.post(
            f"{base}/assign",
            headers=cw.auth("carol"),
            json={"expert_ids": [cw.uid("bob")], "starts_at": soon(60)},
        ),
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 409, 409], [r.text for r in results]
    # the loser is told the request moved on, or (a write that met the winner's in the
    # database) that its change conflicts with what was saved: never a 500, never two
    refused = {r.json()["error"]["code"] for r in results if r.status_code == 409}
    assert refused <= {"consult.illegal_transition", "consult.double_booked", "conflict"}, refused
    detail = (await client.get(base, headers=cw.auth("alice"))).json()
    live = [e for e in detail["experts"] if e["answer"] in ("pending", "accepted")]
    assert len(live) == 1, detail["experts"]
    assert detail["state"] in ("accepted", "assigned")
    del db_backend
