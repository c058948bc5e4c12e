"""Meeting reminders, `reminder_minutes` before a scheduled meeting starts.

Every member is told in the app (`meeting.reminder`), staff with an e-mail address get
an e-mail and guests with a phone an SMS (the link is not in it: only its hash is
stored; the guest uses the invitation SMS on the same device). Each meeting is claimed
with a conditional UPDATE of `reminder_sent_at` (NULL → now) in the transaction that
writes the in-app notifications, so with several app nodes (or two runners racing) a
reminder goes out once. E-mails and SMS are sent after that commit: at most once.
Rescheduling clears `reminder_sent_at`, so the new time is reminded again.

`Runner` ticks every `tick_seconds` from the app's lifespan; the tick itself is claimed
through `core.jobs` so one node scans at a time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun import i18n
from yiyun.audit import service as audit
from yiyun.core import jobs
from yiyun.core.bus import EventBus
from yiyun.core.clock import as_utc
from yiyun.core.clock import now as clock_now
from yiyun.core.crypto import FieldCipher
from yiyun.core.db import transaction
from yiyun.meetings import guests, members, workflow
from yiyun.meetings.config import MeetingSettings
from yiyun.meetings.models import Meeting, MeetingGuest, MeetingMember
from yiyun.notify.channels import Channel, Outbound, OutboundMessage, deliver
from yiyun.org.models import User

logger = logging.getLogger(__name__)
JOB = "meeting-reminders"


@dataclass
class Sent:
    meetings: int = 0
    in_app: int = 0
    emails: int = 0
    sms: int = 0
    failed: int = 0
    outbox: list[tuple[Channel, OutboundMessage]] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {
            "meetings": self.meetings,
            "in_app": self.in_app,
            "emails": self.emails,
            "sms": self.sms,
            "failed": self.failed,
        }


@dataclass(frozen=True)
class Context:
    factory: async_sessionmaker[AsyncSession]
    bus: EventBus
    outbound: Outbound
    cipher: FieldCipher
    config: MeetingSettings
    public_url: str | None = None
    locale: str = i18n.DEFAULT_LOCALE


def _url(ctx: Context, path: str) -> str | None:
    return f"{ctx.public_url.rstrip('/')}{path}" if ctx.public_url else None


def _email(ctx: Context, meeting: Meeting, user: User) -> OutboundMessage:
    locale = i18n.normalise(user.locale) or ctx.locale
    lines = [
        f"{i18n.gettext(locale, 'Meeting starts soon')}: {meeting.title}",
        workflow.when_text(meeting) + " (UTC+8)",
    ]
    if url := _url(ctx, f"/meetings/{meeting.id}"):
        lines.append(i18n.gettext(locale, "Join the meeting: %(url)s") % {"url": url})
    return OutboundMessage(
        to=user.email or "",
        subject=i18n.gettext(locale, "Meeting reminder"),  # logged: no title, no names
        body="\n".join(lines),
    )


def _sms(ctx: Context, meeting: Meeting, guest: MeetingGuest, phone: str) -> OutboundMessage:
    text = i18n.gettext(
        ctx.locale,
        'Yiyun: %(name)s, your video meeting "%(title)s" starts at %(when)s. Open the link '
        "from your invitation on the same device.",
    ) % {"name": guest.display_name, "title": meeting.title, "when": workflow.when_text(meeting)}
    return OutboundMessage(
        to=phone, subject=i18n.gettext(ctx.locale, "Meeting reminder"), body=text
    )


async def _remind(ctx: Context, meeting_id: int, at: datetime, sent: Sent) -> None:
    async with transaction(ctx.factory) as session:
        claimed = await session.execute(
            update(Meeting)
            .where(
                Meeting.id == meeting_id,
                Meeting.reminder_sent_at.is_(None),
                Meeting.state.in_(workflow.LIVE),
            )
            .values(reminder_sent_at=at)
            .execution_options(synchronize_session=False)
        )
        if getattr(claimed, "rowcount", 0) != 1:  # another node (or runner) has it
            return
        meeting = await session.get(Meeting, meeting_id)
        if meeting is None:
            return
        staff = list(
            (
                await session.scalars(
                    select(User)
                    .join(MeetingMember, MeetingMember.user_id == User.id)
                    .where(MeetingMember.meeting_id == meeting.id, User.active.is_(True))
                    .order_by(MeetingMember.id)
                )
            ).all()
        )
        await members.tell(
            session=session,
            bus=ctx.bus,
            meeting=meeting,
            user_ids=[u.id for u in staff],
            kind="meeting.reminder",
        )
        invited = (
            await session.scalars(
                select(MeetingGuest).where(
                    MeetingGuest.meeting_id == meeting.id,
                    MeetingGuest.revoked_at.is_(None),
                    MeetingGuest.phone_enc.is_not(None),
                    MeetingGuest.expires_at > at,
                )
            )
        ).all()
        outbox = [(ctx.outbound.email, _email(ctx, meeting, u)) for u in staff if u.email]
        for guest in invited:
            phone = guests.phone_of(guest, ctx.cipher)
            if phone:
                outbox.append((ctx.outbound.sms, _sms(ctx, meeting, guest, phone)))
        await audit.record(
            session=session,
            actor=audit.SYSTEM,
            action="meeting.reminder",
            entity_type="meeting",
            entity_id=meeting.id,
            institution_id=meeting.institution_id,
            details={
                "in_app": len(staff),
                "emails": sum(1 for c, _ in outbox if c is ctx.outbound.email),
                "sms": sum(1 for c, _ in outbox if c is ctx.outbound.sms),
            },
        )
    sent.meetings += 1
    sent.in_app += len(staff)
    sent.outbox.extend(outbox)


async def send_due(ctx: Context, *, at: datetime | None = None) -> Sent:
    """Remind every meeting that starts within `reminder_minutes` and was not reminded."""
    at = at or clock_now()
    lead = timedelta(minutes=ctx.config.reminder_minutes)
    async with ctx.factory() as session:
        due = (
            await session.scalars(
                select(Meeting.id)
                .where(
                    Meeting.state.in_(workflow.LIVE),
                    Meeting.starts_at.is_not(None),
                    Meeting.reminder_sent_at.is_(None),
                    Meeting.starts_at <= at + lead,
                    Meeting.starts_at > at,
                )
                .order_by(Meeting.starts_at)
            )
        ).all()
    sent = Sent()
    for meeting_id in due:
        await _remind(ctx, meeting_id, at, sent)
    for channel, message in sent.outbox:  # after the commits: never twice
        if await deliver(channel, message):
            if channel is ctx.outbound.email:
                sent.emails += 1
            else:
                sent.sms += 1
        else:
            sent.failed += 1
    return sent


async def run_due(
    ctx: Context, *, at: datetime | None = None, node: str | None = None
) -> dict[str, Any]:
    """One tick: claim the job (one node at a time) and send what is due."""
    at = at or clock_now()
    await jobs.ensure(ctx.factory, JOB, at)
    every = timedelta(seconds=ctx.config.tick_seconds)
    previous = await jobs.claim(
        ctx.factory, JOB, at=at, node=node or jobs.node_name(), next_at=at + every
    )
    if previous is None:
        return {}
    sent = await send_due(ctx, at=at)
    result = sent.summary() | {"at": as_utc(at).isoformat()}
    await jobs.finish(ctx.factory, JOB, result)
    if sent.meetings:
        logger.info("meeting reminders: %s", sent.summary())
    return result


class Runner(jobs.Periodic):
    """Sends reminders every `tick_seconds` (start it in the app lifespan)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        super().__init__(
            "meeting-reminders",
            self._tick,
            every_seconds=ctx.config.tick_seconds,
            enabled=ctx.config.jobs_enabled,
        )

    async def _tick(self) -> None:
        await run_due(self.ctx)
