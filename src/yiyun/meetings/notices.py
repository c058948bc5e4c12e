"""What members are told about a meeting, as a sentence in each reader's language:
who did what to which meeting (「张医生邀请您参加视频会议「病例讨论」」). One place for the
wording of every meeting notification; a notification about a meeting is marked read
once its reader joins that meeting."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.core.bus import EventBus
from yiyun.core.clock import now
from yiyun.i18n.text import Text
from yiyun.meetings import workflow
from yiyun.meetings.models import Meeting
from yiyun.notify import service as notify_service
from yiyun.notify.models import Notification

# kind -> the sentence (English source string; `{name}` is who acted, `{title}` the meeting)
SENTENCES = {
    "meeting.ring": "{name} invites you to the video meeting “{title}”",
    "meeting.invited": "{name} invites you to the video meeting “{title}”",
    "meeting.updated": "{name} changed the meeting “{title}”",
    "meeting.cancelled": "{name} cancelled the meeting “{title}”",
    "meeting.reminder": "The meeting “{title}” starts soon",
    "meeting.role": "{name} changed your role in the meeting “{title}”",
}
ROLES = {
    "host": "Host",
    "cohost": "Co-host",
    "participant": "Participant",
    "observer": "Observer",
}
YOUR_ROLE = "Your role: {role}"


def sentence(kind: str, *, title: str, by: str | None) -> Text:
    """The notification's headline, worded for each reader."""
    return Text(SENTENCES[kind], name=by or "", title=title)


def role_text(role: str) -> Text:
    return Text(YOUR_ROLE, role=Text(ROLES.get(role, ROLES["participant"])))


def links(meeting_id: int) -> list[str]:
    """Where a meeting's notifications point: its call page and its info page."""
    return [f"/meetings/{meeting_id}", f"/meetings/{meeting_id}/info"]


async def send(
    *,
    session: AsyncSession,
    bus: EventBus,
    meeting: Meeting,
    user_ids: Iterable[int],
    kind: str,
    by: str | None = None,
    body: str | None = None,
    role: str | None = None,
    urgent: bool = False,
) -> int:
    """Tell members about the meeting, each in their own language; returns how many."""
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        return 0
    ring = kind == "meeting.ring"
    text: str | Text
    if role is not None:
        text = role_text(role)
    elif body is not None:
        text = body
    else:
        text = "" if ring else workflow.when_text(meeting)
    data: dict[str, object] = {"meeting_id": meeting.id, "state": str(meeting.state)}
    if by is not None:
        data["caller" if ring else "by"] = by
    sent = await notify_service.notify(
        session=session,
        bus=bus,
        user_ids=ids,
        kind=kind,
        title=sentence(kind, title=meeting.title, by=by),
        body=text,
        link=links(meeting.id)[0 if ring else 1],
        data=data,
        urgent=urgent,
    )
    return len(sent)


async def mark_read_on_join(
    *, session: AsyncSession, user_id: int, meeting_id: int, bus: EventBus | None = None
) -> int:
    """Whoever joins a meeting has seen what announced it: those notifications are read
    (and the user's open pages hear the new unread count when a bus is given)."""
    result = await session.execute(
        update(Notification)
        .where(
            Notification.user_id == user_id,
            Notification.read_at.is_(None),
            Notification.link.in_(links(meeting_id)),
        )
        .values(read_at=now())
    )
    changed = int(getattr(result, "rowcount", 0) or 0)
    if changed and bus is not None:
        await notify_service.push_unread(session=session, bus=bus, user_id=user_id)
    return changed
