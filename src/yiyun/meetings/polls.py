"""Polls in a meeting: the chair asks, members vote, results are live.

    open --close--> closed

A poll is created open (only by the host or a co-host, only while the meeting is open);
host, co-hosts and participants vote once each while it is open; observers see the
results. In an anonymous poll the ballot is stored without its voter (`PollBallot`),
and who has voted is kept apart (`PollVoter`) only to refuse a second vote; in a named
poll the chair sees who chose what. Every change is audited and, after the commit,
announced to everyone in the meeting room (`{"type": "polls"}` on the meeting's bus
channel): clients then read the results afresh, each with what their role may see.
"""

from __future__ import annotations

import csv
import io

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.core import events
from yiyun.core.bus import EventBus
from yiyun.core.clock import now
from yiyun.core.errors import Conflict, InvalidInput, NotFound
from yiyun.core.statemachine import Machine, Step, steps
from yiyun.meetings import workflow as meeting_workflow
from yiyun.meetings.members import CHAIRS
from yiyun.meetings.models import Meeting, Poll, PollBallot, PollState, PollVoter
from yiyun.meetings.room_relay import bus_channel
from yiyun.org.models import User

VOTERS = frozenset({"host", "cohost", "participant"})
MAX_POLLS = 100  # per meeting

TABLE: dict[tuple[PollState, str], Step[PollState, Poll]] = {
    (PollState.OPEN, "close"): Step(PollState.CLOSED),
    **steps("vote", [PollState.OPEN]),
}

MACHINE: Machine[PollState, Poll] = Machine(
    name="poll",
    states=PollState,
    table=TABLE,
    audit=audit.record,
    entity_type="meeting_poll",
    audit_prefix="meeting.poll",
    channel="meetings.poll",
    illegal_code="meeting.poll_illegal",
)


class PollCreate(BaseModel):
    question: str = Field(min_length=1, max_length=300)
    options: list[str] = Field(min_length=2, max_length=10)
    multiple: bool = False
    anonymous: bool = False

    @field_validator("question")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("empty")
        return value

    @field_validator("options")
    @classmethod
    def _options(cls, values: list[str]) -> list[str]:
        cleaned = [v.strip()[:200] for v in values]
        return cleaned


class VoteRequest(BaseModel):
    choices: list[int] = Field(min_length=1, max_length=10)


class OptionRead(BaseModel):
    text: str
    votes: int
    voters: list[str] | None = None  # named polls, for the chair


class PollRead(BaseModel):
    id: int
    question: str
    multiple: bool
    anonymous: bool
    state: PollState
    options: list[OptionRead]
    ballots: int
    voted: bool
    created_at: str


def _announce(session: AsyncSession, bus: EventBus, meeting_id: int, poll_id: int) -> None:
    events.publish_after_commit(
        session, bus, bus_channel(meeting_id), {"type": "polls", "poll": poll_id}
    )


def _check_options(options: list[str]) -> None:
    if any(not o for o in options):
        raise InvalidInput("every option needs some text", code="meeting.poll_option_empty")
    if len(set(options)) != len(options):
        raise InvalidInput("two options are the same", code="meeting.poll_option_repeated")


async def create(
    *, session: AsyncSession, bus: EventBus, meeting: Meeting, data: PollCreate, actor: Actor
) -> Poll:
    """Open a poll (the caller has checked that the actor chairs the meeting)."""
    if meeting.state != meeting_workflow.OPEN:
        raise meeting_workflow.MACHINE.illegal(meeting.state, "poll")
    _check_options(data.options)
    count = len((await session.scalars(select(Poll.id).where(Poll.meeting_id == meeting.id))).all())
    if count >= MAX_POLLS:
        raise Conflict("this meeting has as many polls as it may", code="meeting.poll_limit")
    poll = Poll(
        meeting_id=meeting.id,
        question=data.question,
        options=data.options,
        multiple=data.multiple,
        anonymous=data.anonymous,
        state=PollState.OPEN,
        created_by=actor.user_id,
        created_at=now(),
    )
    session.add(poll)
    await session.flush()
    await audit.record(
        session=session,
        actor=actor,
        action="meeting.poll.create",
        entity_type="meeting_poll",
        entity_id=poll.id,
        details={"meeting_id": meeting.id, "options": len(data.options)},
    )
    _announce(session, bus, meeting.id, poll.id)
    return poll


async def get(session: AsyncSession, meeting: Meeting, poll_id: int) -> Poll:
    poll = await session.get(Poll, poll_id)
    if poll is None or poll.meeting_id != meeting.id:
        raise NotFound("poll not found", code="meeting.poll_not_found")
    return poll


async def vote(
    *,
    session: AsyncSession,
    bus: EventBus,
    poll: Poll,
    choices: list[int],
    actor: Actor,
) -> None:
    """One vote per person; the choices are option indexes (one, unless `multiple`)."""
    MACHINE.check(poll, "vote")
    picked = sorted(set(choices))
    if any(c < 0 or c >= len(poll.options) for c in picked):
        raise InvalidInput("no such option in this poll", code="meeting.poll_no_such_option")
    if len(picked) > 1 and not poll.multiple:
        raise InvalidInput("this poll takes one choice", code="meeting.poll_single_choice")
    user_id = actor.user_id
    try:
        async with session.begin_nested():
            session.add(PollVoter(poll_id=poll.id, user_id=user_id))
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("you have already voted in this poll", code="meeting.poll_voted") from exc
    session.add(
        PollBallot(poll_id=poll.id, user_id=None if poll.anonymous else user_id, choices=picked)
    )
    await session.flush()
    # The audit entry says who voted, never what an anonymous voter chose.
    await audit.record(
        session=session,
        actor=actor,
        action="meeting.poll.vote",
        entity_type="meeting_poll",
        entity_id=poll.id,
        details={"meeting_id": poll.meeting_id} | ({} if poll.anonymous else {"choices": picked}),
    )
    _announce(session, bus, poll.meeting_id, poll.id)


async def close(*, session: AsyncSession, bus: EventBus, poll: Poll, actor: Actor) -> None:
    await MACHINE.transition(
        session=session,
        bus=bus,
        entity=poll,
        action="close",
        actor=actor,
        details={"meeting_id": poll.meeting_id},
        event={"meeting_id": poll.meeting_id},
    )
    poll.closed_at = now()
    _announce(session, bus, poll.meeting_id, poll.id)


async def _ballots(session: AsyncSession, poll_ids: list[int]) -> dict[int, list[PollBallot]]:
    out: dict[int, list[PollBallot]] = {p: [] for p in poll_ids}
    if poll_ids:
        rows = await session.scalars(
            select(PollBallot).where(PollBallot.poll_id.in_(poll_ids)).order_by(PollBallot.id)
        )
        for b in rows:
            out[b.poll_id].append(b)
    return out


async def _names(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    return {uid: name for uid, name in rows.all()}


async def listing(
    *, session: AsyncSession, meeting: Meeting, user_id: int, role: str | None
) -> list[PollRead]:
    """Every poll of the meeting, newest first, with counts; the names behind a named
    poll's votes only for the chair."""
    polls = list(
        (
            await session.scalars(
                select(Poll).where(Poll.meeting_id == meeting.id).order_by(Poll.id.desc())
            )
        ).all()
    )
    ballots = await _ballots(session, [p.id for p in polls])
    mine = set(
        (
            await session.scalars(
                select(PollVoter.poll_id).where(
                    PollVoter.user_id == user_id, PollVoter.poll_id.in_([p.id for p in polls])
                )
            )
        ).all()
    )
    chair = role in CHAIRS
    names = await _names(
        session, {b.user_id for bs in ballots.values() for b in bs if b.user_id} if chair else set()
    )
    return [_read(p, ballots[p.id], p.id in mine, names if chair else None) for p in polls]


def _read(
    poll: Poll, ballots: list[PollBallot], voted: bool, names: dict[int, str] | None
) -> PollRead:
    options: list[OptionRead] = []
    for i, text in enumerate(poll.options):
        chose = [b for b in ballots if i in b.choices]
        voters = None
        if names is not None and not poll.anonymous:
            voters = [names.get(b.user_id, "") for b in chose if b.user_id is not None]
        options.append(OptionRead(text=text, votes=len(chose), voters=voters))
    return PollRead(
        id=poll.id,
        question=poll.question,
        multiple=poll.multiple,
        anonymous=poll.anonymous,
        state=poll.state,
        options=options,
        ballots=len(ballots),
        voted=voted,
        created_at=poll.created_at.isoformat(),
    )


async def export_csv(*, session: AsyncSession, meeting: Meeting) -> str:
    """One row per poll option: counts, and for named polls who chose it."""
    polls = await listing(session=session, meeting=meeting, user_id=0, role="host")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["poll", "question", "kind", "anonymous", "state", "option", "votes", "voters"])
    for p in reversed(polls):
        for o in p.options:
            writer.writerow(
                [
                    p.id,
                    csv_cell(p.question),
                    "multiple" if p.multiple else "single",
                    "yes" if p.anonymous else "no",
                    p.state.value,
                    csv_cell(o.text),
                    o.votes,
                    "; ".join(csv_cell(v) for v in (o.voters or [])),
                ]
            )
    return out.getvalue()


def csv_cell(text: str) -> str:
    """A cell a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
