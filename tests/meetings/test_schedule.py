"""Scheduled meetings: the state machine, validation, edits, cancelling, roles, lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.factories import World
from yiyun.audit.models import AuditEvent
from yiyun.core.errors import IllegalTransition
from yiyun.meetings import workflow
from yiyun.meetings.models import Meeting
from yiyun.notify.models import Notification

API = "/api/v1/meetings"


def soon(minutes: int = 120) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).replace(microsecond=0).isoformat()


async def schedule(
    client: httpx.AsyncClient, world: World, who: str = "alice", **fields: Any
) -> httpx.Response:
    body = {"title": "多学科会诊", "starts_at": soon(), "invitees": ["bob"]} | fields
    return await client.post(API, headers=world.auth(who), json=body)


# --- the state machine ---------------------------------------------------------------------

LEGAL = {
    ("scheduled", "open"): "open",
    ("open", "end"): "ended",
    ("scheduled", "cancel"): "cancelled",
}
ACTIONS = ["open", "end", "cancel", "edit", "reschedule", "invite", "join", "ring"]


@pytest.mark.parametrize("state", workflow.STATES)
@pytest.mark.parametrize("action", ACTIONS)
def test_every_state_and_action_follows_the_table(state: str, action: str) -> None:
    keeps = {
        "edit": {"scheduled", "open"},
        "reschedule": {"scheduled"},
        "invite": {"scheduled", "open"},
        "join": {"scheduled", "open"},
        "ring": {"open"},
    }
    if (state, action) in LEGAL:
        assert workflow.next_state(state, action) == LEGAL[(state, action)]
    elif state in keeps.get(action, ()):
        assert workflow.next_state(state, action) == state
    else:
        with pytest.raises(IllegalTransition) as refused:
            workflow.next_state(state, action)
        assert refused.value.status == 409
        assert refused.value.details == {"state": state, "action": action}
        assert refused.value.code == {
            "ended": "meeting.ended",
            "cancelled": "meeting.cancelled",
        }.get(state, "meeting.illegal_transition")


async def test_a_meeting_with_a_start_is_scheduled_and_its_invitees_are_told(
    client: httpx.AsyncClient, world: World, app: Any
) -> None:
    res = await schedule(client, world, observers=["carol"], duration_minutes=45)
    assert res.status_code == 201, res.text
    m = res.json()
    assert m["state"] == "scheduled" and m["kind"] == "scheduled"
    assert m["duration_minutes"] == 45
    ends = datetime.fromisoformat(m["ends_at"]) - datetime.fromisoformat(m["starts_at"])
    assert ends == timedelta(minutes=45)
    roles = {x["username"]: x["role"] for x in m["members"]}
    assert roles == {"alice": "host", "bob": "participant", "carol": "observer"}
    async with app.state.sessions() as s:
        told = (await s.scalars(select(Notification).order_by(Notification.id))).all()
        assert {(n.user_id, n.kind) for n in told} == {
            (world.users["bob"].id, "meeting.invited"),
            (world.users["carol"].id, "meeting.invited"),
        }
        assert all(n.link == f"/meetings/{m['id']}/info" for n in told)
        audit = await s.scalar(select(AuditEvent).where(AuditEvent.action == "meeting.schedule"))
        assert audit is not None and audit.entity_id == str(m["id"])


async def test_instant_meetings_still_open_at_once_and_ring(
    client: httpx.AsyncClient, world: World
) -> None:
    res = await client.post(
        API, headers=world.auth("bob"), json={"title": "急会诊", "invitees": ["alice"]}
    )
    assert res.status_code == 201
    assert res.json()["state"] == "open" and res.json()["starts_at"] is None


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"starts_at": "2020-01-01T09:00:00+08:00"}, "meeting.start_in_past"),
        ({"invitees": ["bob", "nobody_here"]}, "meeting.unknown_invitee"),
        ({"observers": ["ghost"]}, "meeting.unknown_invitee"),
    ],
)
async def test_bad_schedules_are_refused_with_reasons(
    client: httpx.AsyncClient, world: World, fields: dict[str, Any], code: str
) -> None:
    res = await schedule(client, world, **fields)
    assert res.status_code == 422
    error = res.json()["error"]
    assert error["code"] == code
    assert error["details"]["reasons"]


async def test_several_problems_are_reported_together(
    client: httpx.AsyncClient, world: World
) -> None:
    res = await schedule(client, world, starts_at="2020-01-01T09:00:00Z", invitees=["ghost"])
    assert res.status_code == 422
    error = res.json()["error"]
    assert error["code"] == "meeting.invalid"
    assert {e["code"] for e in error["details"]["errors"]} == {
        "meeting.start_in_past",
        "meeting.unknown_invitee",
    }
    assert error["details"]["errors"][1]["usernames"] == ["ghost"]


@pytest.mark.parametrize(
    "fields",
    [
        {"duration_minutes": 4},
        {"duration_minutes": 721},
        {"starts_at": "2026-12-01T14:00:00"},  # no offset
        {"passcode": "12"},
        {"title": ""},
    ],
)
async def test_malformed_fields_are_422(
    client: httpx.AsyncClient, world: World, fields: dict[str, Any]
) -> None:
    res = await schedule(client, world, **fields)
    assert res.status_code == 422
    assert res.json()["error"]["code"] == "invalid_input"


async def test_a_patient_must_be_one_the_host_can_access(
    client: httpx.AsyncClient, world: World
) -> None:
    own = await schedule(client, world, patient_id=world.patients["pa"].id)
    assert own.status_code == 201 and own.json()["patient_id"] == world.patients["pa"].id
    other = await schedule(client, world, patient_id=world.patients["pb"].id)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "meeting.unknown_patient"
    missing = await schedule(client, world, patient_id=999_999)
    assert missing.json()["error"] == other.json()["error"]  # no difference to tell


async def test_the_passcode_is_stored_only_as_a_hash(
    client: httpx.AsyncClient, world: World, app: Any
) -> None:
    res = await schedule(client, world, passcode="Zx81Secret")
    assert res.json()["has_passcode"] is True
    async with app.state.sessions() as s:
        stored = await s.scalar(select(Meeting.passcode_hash).where(Meeting.id == res.json()["id"]))
    assert stored and "Zx81Secret" not in stored and stored.startswith("$argon2")


# --- edits and cancelling --------------------------------------------------------------------


async def test_the_host_edits_and_members_are_told(
    client: httpx.AsyncClient, world: World, app: Any
) -> None:
    m = (await schedule(client, world)).json()
    new_start = soon(240)
    res = await client.patch(
        f"{API}/{m['id']}",
        headers=world.auth("alice"),
        json={"title": "改期会诊", "starts_at": new_start, "duration_minutes": 90},
    )
    assert res.status_code == 200, res.text
    assert res.json()["title"] == "改期会诊" and res.json()["duration_minutes"] == 90
    assert datetime.fromisoformat(res.json()["starts_at"]) == datetime.fromisoformat(new_start)
    async with app.state.sessions() as s:
        kinds = (
            await s.scalars(
                select(Notification.kind).where(Notification.user_id == world.users["bob"].id)
            )
        ).all()
        assert kinds == ["meeting.invited", "meeting.updated"]
        audit = await s.scalar(select(AuditEvent).where(AuditEvent.action == "meeting.update"))
        assert audit is not None
        assert audit.details["fields"] == ["duration_minutes", "starts_at", "title"]


async def test_only_the_host_edits_or_cancels_and_outsiders_learn_nothing(
    client: httpx.AsyncClient, world: World
) -> None:
    m = (await schedule(client, world)).json()
    for method, url, body in (
        ("PATCH", f"{API}/{m['id']}", {"title": "x"}),
        ("POST", f"{API}/{m['id']}/cancel", None),
    ):
        member = await client.request(method, url, headers=world.auth("bob"), json=body)
        assert member.status_code == 403
        assert member.json()["error"]["code"] == "meeting.host_only"
        outsider = await client.request(method, url, headers=world.auth("mallory"), json=body)
        assert outsider.status_code == 404


async def test_cancelling_is_for_scheduled_meetings_and_is_final(
    client: httpx.AsyncClient, world: World
) -> None:
    m = (await schedule(client, world)).json()
    res = await client.post(f"{API}/{m['id']}/cancel", headers=world.auth("alice"))
    assert res.status_code == 200 and res.json()["state"] == "cancelled"
    for method, url, body in (
        ("POST", f"{API}/{m['id']}/cancel", None),
        ("PATCH", f"{API}/{m['id']}", {"title": "again"}),
        ("POST", f"{API}/{m['id']}/token", None),
        ("POST", f"{API}/{m['id']}/end", None),
        ("POST", f"{API}/{m['id']}/guests", {"display_name": "王阿姨"}),
    ):
        again = await client.request(method, url, headers=world.auth("alice"), json=body)
        assert again.status_code == 409, (url, again.text)
        assert again.json()["error"]["details"]["state"] == "cancelled"
        if not url.endswith("/token"):  # the token endpoint says "meeting.ended" for both
            assert again.json()["error"]["code"] == "meeting.cancelled"
    instant = await client.post(API, headers=world.auth("alice"), json={"title": "now"})
    refused = await client.post(f"{API}/{instant.json()['id']}/cancel", headers=world.auth("alice"))
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "meeting.illegal_transition"
    assert refused.json()["error"]["message"] == "当前状态不允许此操作。"  # the user's language
    assert refused.json()["error"]["details"] == {"state": "open", "action": "cancel"}


async def test_a_new_time_needs_the_meeting_still_scheduled(
    client: httpx.AsyncClient, world: World
) -> None:
    instant = (await client.post(API, headers=world.auth("alice"), json={"title": "now"})).json()
    res = await client.patch(
        f"{API}/{instant['id']}", headers=world.auth("alice"), json={"starts_at": soon()}
    )
    assert res.status_code == 409
    assert res.json()["error"]["details"] == {"state": "open", "action": "reschedule"}
    ok = await client.patch(
        f"{API}/{instant['id']}", headers=world.auth("alice"), json={"title": "renamed"}
    )
    assert ok.status_code == 200
    past = await client.patch(
        f"{API}/{(await schedule(client, world)).json()['id']}",
        headers=world.auth("alice"),
        json={"starts_at": "2021-05-01T08:00:00Z"},
    )
    assert past.status_code == 422 and past.json()["error"]["code"] == "meeting.start_in_past"


# --- joining opens a scheduled meeting -------------------------------------------------------


async def test_joining_opens_from_half_an_hour_before_the_start(
    client: httpx.AsyncClient, world: World
) -> None:
    later = (await schedule(client, world, starts_at=soon(45))).json()
    early = await client.post(f"{API}/{later['id']}/token", headers=world.auth("bob"))
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "meeting.not_started"
    near = (await schedule(client, world, starts_at=soon(20))).json()
    token = await client.post(f"{API}/{near['id']}/token", headers=world.auth("bob"))
    assert token.status_code == 200, token.text
    now_open = await client.get(f"{API}/{near['id']}", headers=world.auth("bob"))
    assert now_open.json()["state"] == "open"
    ended = await client.post(f"{API}/{near['id']}/end", headers=world.auth("alice"))
    assert ended.json()["state"] == "ended"
    after = await client.post(f"{API}/{near['id']}/token", headers=world.auth("bob"))
    assert after.status_code == 409 and after.json()["error"]["code"] == "meeting.ended"


async def test_ending_a_meeting_that_never_opened_is_illegal(
    client: httpx.AsyncClient, world: World
) -> None:
    m = (await schedule(client, world)).json()
    res = await client.post(f"{API}/{m['id']}/end", headers=world.auth("alice"))
    assert res.status_code == 409
    assert res.json()["error"]["details"] == {"state": "scheduled", "action": "end"}


# --- members and roles -----------------------------------------------------------------------


async def test_the_host_sets_co_hosts_and_invites_observers(
    client: httpx.AsyncClient, world: World
) -> None:
    m = (await schedule(client, world)).json()
    bob = world.users["bob"].id
    res = await client.put(
        f"{API}/{m['id']}/members/{bob}", headers=world.auth("alice"), json={"role": "cohost"}
    )
    assert res.status_code == 200
    assert {x["username"]: x["role"] for x in res.json()["members"]}["bob"] == "cohost"
    observed = await client.post(
        f"{API}/{m['id']}/invite",
        headers=world.auth("alice"),
        json={"usernames": ["hana"], "role": "observer"},
    )
    assert {x["username"]: x["role"] for x in observed.json()["members"]}["hana"] == "observer"
    # a co-host may invite guests but not change roles or the meeting
    refused = await client.put(
        f"{API}/{m['id']}/members/{world.users['hana'].id}",
        headers=world.auth("bob"),
        json={"role": "cohost"},
    )
    assert refused.status_code == 403
    guest = await client.post(
        f"{API}/{m['id']}/guests", headers=world.auth("bob"), json={"display_name": "王阿姨"}
    )
    assert guest.status_code == 201
    host = await client.put(
        f"{API}/{m['id']}/members/{world.users['alice'].id}",
        headers=world.auth("alice"),
        json={"role": "observer"},
    )
    assert host.status_code == 409 and host.json()["error"]["code"] == "meeting.host_role"


# --- listing -------------------------------------------------------------------------------------


async def test_upcoming_and_past_lists(client: httpx.AsyncClient, world: World) -> None:
    later = (await schedule(client, world, starts_at=soon(300))).json()
    sooner = (await schedule(client, world, starts_at=soon(60))).json()
    gone = (await schedule(client, world)).json()
    await client.post(f"{API}/{gone['id']}/cancel", headers=world.auth("alice"))
    upcoming = await client.get(API, headers=world.auth("bob"), params={"upcoming": "true"})
    assert [m["id"] for m in upcoming.json()] == [sooner["id"], later["id"]]
    past = await client.get(API, headers=world.auth("bob"), params={"upcoming": "false"})
    assert [m["id"] for m in past.json()] == [gone["id"]]
    everything = await client.get(API, headers=world.auth("bob"))
    assert {m["id"] for m in everything.json()} == {later["id"], sooner["id"], gone["id"]}
    assert (await client.get(API, headers=world.auth("mallory"))).json() == []
