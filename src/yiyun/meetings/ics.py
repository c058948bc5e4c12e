"""A meeting as an iCalendar file (RFC 5545), written by hand.

One VCALENDAR with one VEVENT: UTC `DTSTART`/`DTEND`, a `UID` that stays the same for
the meeting, a `SEQUENCE` that grows with each change, `STATUS:CANCELLED` once
cancelled, the organizer and attendees with their names, the join address in `URL` and
`DESCRIPTION`, and a display alarm before the start. Lines end in CRLF and are folded
at 75 octets without splitting a UTF-8 character (§3.1); TEXT values are escaped
(§3.3.11); parameter values that need it are quoted (§3.2).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun import i18n
from yiyun.auth.principal import Principal
from yiyun.core.clock import as_utc, now
from yiyun.meetings import schedule, service, workflow
from yiyun.meetings.models import Meeting, MeetingMember
from yiyun.org.models import User

CRLF = "\r\n"
MAX_OCTETS = 75
PRODID = "-//Yiyun//Meetings//EN"


@dataclass(frozen=True)
class Person:
    name: str
    address: str  # a cal-address URI: "mailto:…" or another URI naming the person
    role: str = "REQ-PARTICIPANT"  # CHAIR, REQ-PARTICIPANT, OPT-PARTICIPANT, NON-PARTICIPANT


@dataclass(frozen=True)
class Event:
    uid: str
    sequence: int
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime
    url: str
    organizer: Person
    attendees: tuple[Person, ...]
    cancelled: bool = False
    alarm_minutes: int = 15
    alarm_text: str = ""
    stamp: datetime | None = None


def escape_text(value: str) -> str:
    """TEXT escaping: backslash, semicolon, comma and line breaks (CR dropped)."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\n")
        .replace("\r", "\n")
        .replace("\n", "\\n")
    )


def param_value(value: str) -> str:
    """A parameter value: no DQUOTE or control characters; quoted if it has `:;,`."""
    clean = "".join(ch for ch in value if ch != '"' and (ch >= " " or ch == "\t")).strip()
    return f'"{clean}"' if any(ch in clean for ch in ":;,") else clean


def utc(value: datetime) -> str:
    return as_utc(value).strftime("%Y%m%dT%H%M%SZ")


def fold(line: str) -> str:
    """Split a content line into pieces of at most 75 octets, joined by CRLF + space."""
    pieces: list[str] = []
    current: list[str] = []
    size, limit = 0, MAX_OCTETS
    for ch in line:
        width = len(ch.encode("utf-8"))
        if size + width > limit:
            pieces.append("".join(current))
            current, size, limit = [], 0, MAX_OCTETS - 1  # the leading space counts
        current.append(ch)
        size += width
    pieces.append("".join(current))
    return (CRLF + " ").join(pieces)


def _person(name: str, who: Person, *, attendee: bool) -> str:
    params = [f"CN={param_value(who.name)}"]
    if attendee:
        params += [f"ROLE={who.role}", "PARTSTAT=NEEDS-ACTION", "CUTYPE=INDIVIDUAL"]
    return f"{name};{';'.join(params)}:{who.address}"


def lines(event: Event) -> Iterable[str]:
    yield "BEGIN:VCALENDAR"
    yield "VERSION:2.0"
    yield f"PRODID:{PRODID}"
    yield "CALSCALE:GREGORIAN"
    yield "METHOD:PUBLISH"
    yield "BEGIN:VEVENT"
    yield f"UID:{event.uid}"
    yield f"SEQUENCE:{event.sequence}"
    yield f"DTSTAMP:{utc(event.stamp or event.starts_at)}"
    yield f"DTSTART:{utc(event.starts_at)}"
    yield f"DTEND:{utc(event.ends_at)}"
    yield f"SUMMARY:{escape_text(event.title)}"
    yield f"DESCRIPTION:{escape_text(event.description)}"
    yield f"URL:{event.url}"
    yield f"STATUS:{'CANCELLED' if event.cancelled else 'CONFIRMED'}"
    yield "TRANSP:OPAQUE"
    yield _person("ORGANIZER", event.organizer, attendee=False)
    for who in event.attendees:
        yield _person("ATTENDEE", who, attendee=True)
    if not event.cancelled:
        yield "BEGIN:VALARM"
        yield "ACTION:DISPLAY"
        yield f"DESCRIPTION:{escape_text(event.alarm_text or event.title)}"
        yield f"TRIGGER:-PT{event.alarm_minutes}M"
        yield "END:VALARM"
    yield "END:VEVENT"
    yield "END:VCALENDAR"


def render(event: Event) -> str:
    """The whole file: folded content lines, each ending in CRLF."""
    return "".join(fold(line) + CRLF for line in lines(event))


# --- a meeting's file ------------------------------------------------------------------


async def meeting_file(
    *,
    session: AsyncSession,
    principal: Principal,
    meeting_id: int,
    base_url: str,
    locale: str,
    alarm_minutes: int,
) -> tuple[Meeting, str]:
    """The calendar file of a meeting the principal belongs to (others: not found)."""
    meeting = await service.get(session=session, principal=principal, meeting_id=meeting_id)
    rows = (
        await session.execute(
            select(MeetingMember.role, User)
            .join(User, User.id == MeetingMember.user_id)
            .where(MeetingMember.meeting_id == meeting.id)
            .order_by(MeetingMember.id)
        )
    ).all()
    people = {
        user.id: Person(
            name=user.display_name,
            address=f"mailto:{user.email}" if user.email else f"urn:yiyun:user:{user.id}",
            role=ROLES.get(role, "REQ-PARTICIPANT"),
        )
        for role, user in rows
    }
    url = f"{base_url.rstrip('/')}/meetings/{meeting.id}"
    join = i18n.gettext(locale, "Join the meeting: %(url)s") % {"url": url}
    event = Event(
        uid=f"meeting-{meeting.code}@yiyun",
        sequence=await schedule.sequence(session, meeting),
        title=meeting.title,
        description=f"{meeting.description}\n\n{join}" if meeting.description else join,
        starts_at=workflow.starts_at(meeting),
        ends_at=workflow.ends_at(meeting),
        url=url,
        organizer=people.get(meeting.host_id, Person(name="Yiyun", address="urn:yiyun:system")),
        attendees=tuple(p for uid, p in people.items() if uid != meeting.host_id),
        cancelled=meeting.state == workflow.CANCELLED,
        alarm_minutes=alarm_minutes,
        alarm_text=meeting.title,
        stamp=now(),
    )
    return meeting, render(event)


ROLES = {
    "host": "CHAIR",
    "cohost": "CHAIR",
    "participant": "REQ-PARTICIPANT",
    "observer": "NON-PARTICIPANT",
}
