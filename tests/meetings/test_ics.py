"""The calendar file: RFC 5545 structure, folding, escaping, updates and cancellation.

Checked twice: against the `icalendar` package's parser, and line by line against the
RFC's own rules (CRLF, 75-octet lines, continuation lines start with one space).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import icalendar
import pytest

from tests.factories import World
from yiyun.meetings import ics

API = "/api/v1/meetings"


def strict_lines(text: str) -> list[str]:
    """Unfold per RFC 5545 §3.1, asserting the wire rules on the way."""
    raw = text.encode("utf-8")
    assert raw.endswith(b"\r\n")
    physical = raw[:-2].split(b"\r\n")
    assert all(b"\n" not in p and b"\r" not in p for p in physical)
    assert all(len(p) <= 75 for p in physical), [len(p) for p in physical if len(p) > 75]
    logical: list[bytes] = []
    for p in physical:
        if p.startswith(b" "):
            logical[-1] += p[1:]
        else:
            logical.append(p)
    return [line.decode("utf-8") for line in logical]  # each piece split on a char boundary


def event(**kw: Any) -> ics.Event:
    start = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    fields: dict[str, Any] = {
        "uid": "meeting-abc@yiyun",
        "sequence": 0,
        "title": "会诊",
        "description": "",
        "starts_at": start,
        "ends_at": start + timedelta(minutes=60),
        "url": "https://yiyun.example.org/meetings/1",
        "organizer": ics.Person("李医生", "mailto:li@example.org"),
        "attendees": (ics.Person("王, 主任; 心内科", "urn:yiyun:user:2"),),
        "stamp": start - timedelta(days=1),
    }
    return ics.Event(**(fields | kw))


def test_text_values_are_escaped_and_round_trip() -> None:
    tricky = "血压 120/80; 心率, 72\\次\n复查：下周"
    text = ics.render(event(title=tricky, description=tricky))
    lines = strict_lines(text)
    assert "SUMMARY:血压 120/80\\; 心率\\, 72\\\\次\\n复查：下周" in lines
    cal = icalendar.Calendar.from_ical(text)
    vevent = cal.walk("VEVENT")[0]
    assert str(vevent["SUMMARY"]) == tricky
    assert str(vevent["DESCRIPTION"]) == tricky


def test_long_lines_fold_at_75_octets_without_splitting_characters() -> None:
    long = "远程会诊" * 40 + "abc" * 30
    text = ics.render(event(description=long))
    assert f"DESCRIPTION:{long}" in strict_lines(text)
    assert str(icalendar.Calendar.from_ical(text).walk("VEVENT")[0]["DESCRIPTION"]) == long
    for width in range(1, 200):  # every split point of mixed-width text
        line = "X:" + ("é" * width) + ("a" * (width % 7))
        folded = ics.fold(line)
        assert all(len(p.encode()) <= 75 for p in folded.split("\r\n"))
        assert folded.replace("\r\n ", "") == line


def test_parameter_values_with_separators_are_quoted() -> None:
    lines = strict_lines(ics.render(event()))
    attendee = next(line for line in lines if line.startswith("ATTENDEE"))
    assert attendee.startswith('ATTENDEE;CN="王, 主任; 心内科";ROLE=REQ-PARTICIPANT')
    assert ics.param_value('Dr. "Q"') == "Dr. Q"


def test_a_cancelled_event_says_so_and_has_no_alarm() -> None:
    text = ics.render(event(cancelled=True, sequence=2))
    vevent = icalendar.Calendar.from_ical(text).walk("VEVENT")[0]
    assert str(vevent["STATUS"]) == "CANCELLED"
    assert int(vevent["SEQUENCE"]) == 2
    assert not vevent.walk("VALARM")


async def test_members_download_the_meeting_and_changes_bump_the_sequence(
    client: httpx.AsyncClient, world: World
) -> None:
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0, second=0)
    res = await client.post(
        API,
        headers=world.auth("alice"),
        json={
            "title": "多学科会诊, 第一次",
            "description": "讨论：CT 结果",
            "starts_at": start.isoformat(),
            "duration_minutes": 45,
            "invitees": ["bob"],
            "observers": ["carol"],
        },
    )
    meeting = res.json()
    url = f"/meetings/{meeting['id']}/invite.ics"
    first = await client.get(url, headers=world.auth("bob"))
    assert first.status_code == 200
    assert first.headers["content-type"] == "text/calendar; charset=utf-8"
    assert "attachment" in first.headers["content-disposition"]
    strict_lines(first.text)
    cal = icalendar.Calendar.from_ical(first.text)
    assert str(cal["VERSION"]) == "2.0" and str(cal["PRODID"]) == ics.PRODID
    vevent = cal.walk("VEVENT")[0]
    assert vevent["DTSTART"].dt == start and vevent["DTEND"].dt == start + timedelta(minutes=45)
    assert vevent["DTSTART"].to_ical() == start.strftime("%Y%m%dT%H%M%SZ").encode()
    assert str(vevent["SUMMARY"]) == "多学科会诊, 第一次"
    join = f"http://testserver/meetings/{meeting['id']}"
    assert str(vevent["URL"]) == join and join in str(vevent["DESCRIPTION"])
    assert int(vevent["SEQUENCE"]) == 0 and str(vevent["STATUS"]) == "CONFIRMED"
    assert vevent["ORGANIZER"].params["CN"] == "Alice"
    attendees = {a.params["CN"]: a.params["ROLE"] for a in vevent["ATTENDEE"]}
    assert attendees == {"Bob": "REQ-PARTICIPANT", "Carol": "NON-PARTICIPANT"}
    alarm = vevent.walk("VALARM")[0]
    assert str(alarm["ACTION"]) == "DISPLAY" and alarm["TRIGGER"].dt == timedelta(minutes=-15)
    uid = str(vevent["UID"])

    await client.patch(
        f"{API}/{meeting['id']}",
        headers=world.auth("alice"),
        json={"starts_at": (start + timedelta(hours=1)).isoformat()},
    )
    moved = icalendar.Calendar.from_ical((await client.get(url, headers=world.auth("bob"))).text)
    moved_event = moved.walk("VEVENT")[0]
    assert str(moved_event["UID"]) == uid and int(moved_event["SEQUENCE"]) == 1
    assert moved_event["DTSTART"].dt == start + timedelta(hours=1)

    await client.post(f"{API}/{meeting['id']}/cancel", headers=world.auth("alice"))
    gone = icalendar.Calendar.from_ical((await client.get(url, headers=world.auth("alice"))).text)
    gone_event = gone.walk("VEVENT")[0]
    assert str(gone_event["STATUS"]) == "CANCELLED" and int(gone_event["SEQUENCE"]) == 2
    assert str(gone_event["UID"]) == uid


@pytest.mark.parametrize("who", ["mallory", "hana", None])
async def test_non_members_get_404_or_sign_in(
    client: httpx.AsyncClient, world: World, who: str | None
) -> None:
    meeting = (
        await client.post(API, headers=world.auth("alice"), json={"title": "x", "invitees": []})
    ).json()
    headers = world.auth(who) if who else {}
    res = await client.get(f"/meetings/{meeting['id']}/invite.ics", headers=headers)
    assert res.status_code == (404 if who else 401)
