"""What members are told about a meeting, as a sentence in each reader's language:
who did what to which meeting (「张医生邀请您参加视频会议「病例讨论」」). One place for the
wording of every meeting notification; a notification about a meeting is marked read
once its reader joins that meeting."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun import i18n
from yiyun.core.bus import EventBus
from yiyun.core.clock import now
from yiyun.meetings import workflow
from yiyun.meetings.models import Meeting
from yiyun.notify import service as notify_service
from yiyun.notify.models import Notification
from yiyun.org.models import User

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


def sentence(locale: str, kind: str, *, title: str, by: str | None) -> str:
    """The notification's headline in `locale`."""
    return i18n.gettext(locale, SENTENCES[kind]).format(name=by or "", title=title)


def role_text(locale: str, role: str) -> str:
    label = i18n.gettext(locale, ROLES.get(role, ROLES["participant"]))
    return i18n.gettext(locale, YOUR_ROLE).format(role=label)


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
    rows = (await session.execute(select(User.id, User.locale).where(User.id.in_(ids)))).all()
    by_locale: dict[str, list[int]] = defaultdict(list)
    for uid, locale in rows:
        by_locale[i18n.normalise(locale) or i18n.DEFAULT_LOCALE].append(uid)
    ring = kind == "meeting.ring"
    for locale, group in sorted(by_locale.items()):
        text = body
        if role is not None:
            text = role_text(locale, role)
        elif text is None:
            text = "" if ring else workflow.when_text(meeting)
        data: dict[str, object] = {"meeting_id": meeting.id, "state": meeting.state}
        if by is not None:
            data["caller" if ring else "by"] = by
        await notify_service.notify(
            session=session,
            bus=bus,
            user_ids=group,
            kind=kind,
            title=sentence(locale, kind, title=meeting.title, by=by),
            body=text,
            link=links(meeting.id)[0 if ring else 1],
            data=data,
            urgent=urgent,
        )
    return len(rows)


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
