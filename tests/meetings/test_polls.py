"""Polls and Q&A in a meeting over the API: who may do what (host, participant, observer,
outsider), anonymity, one vote each, the 409s of closed polls and answered questions,
CSV export and the live notice on the meeting's bus channel."""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import select

from tests.factories import World
from yiyun.audit.models import AuditEvent
from yiyun.core import events
from yiyun.meetings.models import MeetingMember, PollBallot
from yiyun.meetings.room_relay import bus_channel

API = "/api/v1"


async def _meeting(client: Any, world: World) -> int:
    res = await client.post(
        f"{API}/meetings",
        headers=world.auth("bob"),
        json={"title": "病例讨论", "invitees": ["alice", "nina", "carol"]},
    )
    assert res.status_code == 201, res.text
    return int(res.json()["id"])


async def _observer(session: Any, meeting: int, user_id: int) -> None:
    member = await session.scalar(
        select(MeetingMember).where(
            MeetingMember.meeting_id == meeting, MeetingMember.user_id == user_id
        )
    )
    member.role = "observer"
    await session.commit()


async def test_a_poll_runs_from_launch_to_close(client, world: World, session, app) -> None:
    meeting = await _meeting(client, world)
    await _observer(session, meeting, world.users["nina"].id)
    url = f"{API}/meetings/{meeting}/polls"
    body = {"question": "是否转诊？", "options": ["转诊", "继续观察"], "anonymous": False}
    for who, status in (("alice", 403), ("nina", 403), ("mallory", 404)):
        assert (await client.post(url, headers=world.auth(who), json=body)).status_code == status

    seen: list[dict[str, Any]] = []
    async with app.state.bus.subscribe(bus_channel(meeting)) as sub:
        made = await client.post(url, headers=world.auth("bob"), json=body)
        assert made.status_code == 201, made.text
        await events.settle()
        async for message in sub:
            seen.append(message)
            break
    assert seen == [{"type": "polls", "poll": made.json()["id"]}]
    poll = made.json()["id"]

    vote = f"{url}/{poll}/vote"
    assert (
        await client.post(vote, headers=world.auth("alice"), json={"choices": [0]})
    ).status_code == 204
    again = await client.post(vote, headers=world.auth("alice"), json={"choices": [1]})
    assert again.status_code == 409 and again.json()["error"]["code"] == "meeting.poll_voted"
    two = await client.post(vote, headers=world.auth("carol"), json={"choices": [0, 1]})
    assert two.status_code == 422 and two.json()["error"]["code"] == "meeting.poll_single_choice"
    bad = await client.post(vote, headers=world.auth("carol"), json={"choices": [5]})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "meeting.poll_no_such_option"
    assert (
        await client.post(vote, headers=world.auth("nina"), json={"choices": [0]})
    ).status_code == 403
    assert (
        await client.post(vote, headers=world.auth("mallory"), json={"choices": [0]})
    ).status_code == 404
    assert (
        await client.post(vote, headers=world.auth("carol"), json={"choices": [1]})
    ).status_code == 204

    as_host = (await client.get(url, headers=world.auth("bob"))).json()[0]
    assert [o["votes"] for o in as_host["options"]] == [1, 1] and as_host["ballots"] == 2
    assert as_host["options"][0]["voters"] == [world.users["alice"].display_name]
    as_observer = (await client.get(url, headers=world.auth("nina"))).json()[0]
    assert [o["votes"] for o in as_observer["options"]] == [1, 1]
    assert all(o["voters"] is None for o in as_observer["options"])
    assert (await client.get(url, headers=world.auth("alice"))).json()[0]["voted"] is True
    assert (await client.get(url, headers=world.auth("mallory"))).status_code == 404

    close = f"{url}/{poll}/close"
    assert (await client.post(close, headers=world.auth("alice"))).status_code == 403
    assert (await client.post(close, headers=world.auth("bob"))).status_code == 204
    late = await client.post(vote, headers=world.auth("bob"), json={"choices": [0]})
    assert late.status_code == 409
    assert late.json()["error"]["details"] == {"state": "closed", "action": "vote"}
    twice = await client.post(close, headers=world.auth("bob"))
    assert twice.status_code == 409 and twice.json()["error"]["details"]["state"] == "closed"
    assert (await client.post(f"{url}/99999/close", headers=world.auth("bob"))).status_code == 404

    exported = await client.get(f"{url}.csv", headers=world.auth("bob"))
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert rows[1][5:8] == ["转诊", "1", world.users["alice"].display_name]
    assert (await client.get(f"{url}.csv", headers=world.auth("alice"))).status_code == 403
    assert (await client.get(f"{url}.csv", headers=world.auth("mallory"))).status_code == 404


async def test_an_anonymous_poll_keeps_no_link_from_voter_to_choice(
    client, world: World, session
) -> None:
    meeting = await _meeting(client, world)
    url = f"{API}/meetings/{meeting}/polls"
    body = {"question": "首选方案", "options": ["A", "B", "C"], "multiple": True, "anonymous": True}
    poll = (await client.post(url, headers=world.auth("bob"), json=body)).json()["id"]
    res = await client.post(
        f"{url}/{poll}/vote", headers=world.auth("alice"), json={"choices": [2, 0]}
    )
    assert res.status_code == 204
    ballots = (await session.scalars(select(PollBallot).where(PollBallot.poll_id == poll))).all()
    assert [(b.user_id, b.choices) for b in ballots] == [(None, [0, 2])]
    audit = (
        await session.scalars(select(AuditEvent).where(AuditEvent.action == "meeting.poll.vote"))
    ).all()
    assert audit and all("choices" not in (a.details or {}) for a in audit)
    listed = (await client.get(url, headers=world.auth("bob"))).json()[0]
    assert [o["votes"] for o in listed["options"]] == [1, 0, 1]
    assert all(o["voters"] is None for o in listed["options"])


async def test_bad_polls_are_refused_with_reasons(client, world: World) -> None:
    meeting = await _meeting(client, world)
    url = f"{API}/meetings/{meeting}/polls"
    cases = {
        "one option": {"question": "q", "options": ["a"]},
        "blank question": {"question": "  ", "options": ["a", "b"]},
        "blank option": {"question": "q", "options": ["a", " "]},
        "same option": {"question": "q", "options": ["a", "a"]},
        "eleven": {"question": "q", "options": [str(i) for i in range(11)]},
    }
    for name, body in cases.items():
        res = await client.post(url, headers=world.auth("bob"), json=body)
        assert res.status_code == 422, (name, res.text)
    await client.post(f"{API}/meetings/{meeting}/end", headers=world.auth("bob"))
    ended = await client.post(
        url, headers=world.auth("bob"), json={"question": "q", "options": ["a", "b"]}
    )
    assert ended.status_code == 409 and ended.json()["error"]["details"]["action"] == "poll"


async def test_questions_are_asked_upvoted_and_moderated(client, world: World, session) -> None:
    meeting = await _meeting(client, world)
    await _observer(session, meeting, world.users["nina"].id)
    url = f"{API}/meetings/{meeting}/questions"
    first = await client.post(url, headers=world.auth("alice"), json={"text": "需要增强 CT 吗？"})
    assert first.status_code == 201, first.text
    second = await client.post(
        url, headers=world.auth("carol"), json={"text": "=cmd|' /C calc'!A0"}
    )
    assert second.status_code == 201
    q1, q2 = first.json()["id"], second.json()["id"]
    assert (
        await client.post(url, headers=world.auth("nina"), json={"text": "?"})
    ).status_code == 403
    assert (
        await client.post(url, headers=world.auth("mallory"), json={"text": "?"})
    ).status_code == 404
    assert (
        await client.post(url, headers=world.auth("alice"), json={"text": "   "})
    ).status_code == 422

    own = await client.post(f"{url}/{q1}/upvote", headers=world.auth("alice"))
    assert own.status_code == 403 and own.json()["error"]["code"] == "meeting.question_own"
    assert (await client.post(f"{url}/{q1}/upvote", headers=world.auth("carol"))).status_code == 204
    assert (await client.post(f"{url}/{q1}/upvote", headers=world.auth("bob"))).status_code == 204
    twice = await client.post(f"{url}/{q1}/upvote", headers=world.auth("bob"))
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "meeting.question_voted"
    assert (await client.post(f"{url}/{q1}/upvote", headers=world.auth("nina"))).status_code == 403

    listed = (await client.get(url, headers=world.auth("nina"))).json()
    assert [(q["id"], q["votes"]) for q in listed] == [(q1, 2), (q2, 0)]

    assert (await client.post(f"{url}/{q1}/answer", headers=world.auth("alice"))).status_code == 403
    assert (await client.post(f"{url}/{q1}/answer", headers=world.auth("bob"))).status_code == 204
    answered = await client.post(f"{url}/{q1}/answer", headers=world.auth("bob"))
    assert answered.status_code == 409
    assert answered.json()["error"]["details"] == {"state": "answered", "action": "answer"}
    late = await client.post(f"{url}/{q1}/upvote", headers=world.auth("nina"))
    assert late.status_code == 403  # observers never upvote, whatever the state
    assert (await client.post(f"{url}/{q2}/hide", headers=world.auth("bob"))).status_code == 204
    for_alice = (await client.get(url, headers=world.auth("alice"))).json()
    assert [(q["id"], q["state"]) for q in for_alice] == [(q1, "answered")]
    for_host = (await client.get(url, headers=world.auth("bob"))).json()
    assert [(q["id"], q["state"]) for q in for_host] == [(q1, "answered"), (q2, "hidden")]

    exported = await client.get(f"{url}.csv", headers=world.auth("bob"))
    rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert rows[2][1].startswith("'=")  # a formula is written as text
    assert (await client.get(f"{url}.csv", headers=world.auth("nina"))).status_code == 403
