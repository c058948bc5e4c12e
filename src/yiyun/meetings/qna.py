"""Questions and answers in a meeting: members ask and upvote, the chair moderates.

    open --answer--> answered
    open, answered --hide--> hidden

Host, co-hosts and participants ask (while the meeting is open) and upvote others'
open questions once each; the chair marks a question answered or hides it (a hidden
question is then seen only by the chair). Observers read. Every change is audited and
announced to the meeting room after the commit (`{"type": "questions"}`).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.core import events
from yiyun.core.bus import EventBus
from yiyun.core.clock import now
from yiyun.core.errors import Conflict, NotFound
from yiyun.core.statemachine import Machine, Step, Who, steps
from yiyun.meetings import workflow as meeting_workflow
from yiyun.meetings.members import CHAIRS
from yiyun.meetings.models import Meeting, Question, QuestionState, QuestionVote
from yiyun.meetings.polls import csv_cell
from yiyun.meetings.room_relay import bus_channel
from yiyun.org.models import User

Q = QuestionState
MAX_QUESTIONS = 500  # per meeting


def _not_author(principal: Any, question: Question) -> bool:
    return bool(principal.user_id != question.author_id)


NOT_OWN: Who[Question] = Who(
    _not_author, code="meeting.question_own", message="you cannot upvote your own question"
)

TABLE: dict[tuple[QuestionState, str], Step[QuestionState, Question]] = {
    (Q.OPEN, "answer"): Step(Q.ANSWERED),
    (Q.OPEN, "hide"): Step(Q.HIDDEN),
    (Q.ANSWERED, "hide"): Step(Q.HIDDEN),
    **steps("upvote", [Q.OPEN], who=NOT_OWN),
}

MACHINE: Machine[QuestionState, Question] = Machine(
    name="question",
    states=QuestionState,
    table=TABLE,
    audit=audit.record,
    entity_type="meeting_question",
    audit_prefix="meeting.question",
    channel="meetings.question",
    illegal_code="meeting.question_illegal",
)


class QuestionCreate(BaseModel):
    text: str = Field(min_length=1, max_length=1000)

    @field_validator("text")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("empty")
        return value


class QuestionRead(BaseModel):
    id: int
    text: str
    author: str
    mine: bool
    state: QuestionState
    votes: int
    voted: bool
    created_at: str


def _announce(session: AsyncSession, bus: EventBus, meeting_id: int, question_id: int) -> None:
    events.publish_after_commit(
        session, bus, bus_channel(meeting_id), {"type": "questions", "question": question_id}
    )


async def ask(
    *, session: AsyncSession, bus: EventBus, meeting: Meeting, text: str, actor: Actor
) -> Question:
    if meeting.state != meeting_workflow.OPEN:
        raise meeting_workflow.MACHINE.illegal(meeting.state, "ask")
    count = len(
        (await session.scalars(select(Question.id).where(Question.meeting_id == meeting.id))).all()
    )
    if count >= MAX_QUESTIONS:
        raise Conflict("this meeting has as many questions as it may", code="meeting.qna_limit")
    question = Question(
        meeting_id=meeting.id,
        author_id=actor.user_id,
        body=text,
        state=Q.OPEN,
        votes=0,
        created_at=now(),
    )
    session.add(question)
    await session.flush()
    await audit.record(
        session=session,
        actor=actor,
        action="meeting.question.ask",
        entity_type="meeting_question",
        entity_id=question.id,
        details={"meeting_id": meeting.id},
    )
    _announce(session, bus, meeting.id, question.id)
    return question


async def get(session: AsyncSession, meeting: Meeting, question_id: int) -> Question:
    question = await session.get(Question, question_id)
    if question is None or question.meeting_id != meeting.id:
        raise NotFound("question not found", code="meeting.question_not_found")
    return question


async def upvote(
    *, session: AsyncSession, bus: EventBus, question: Question, principal: Any, actor: Actor
) -> None:
    MACHINE.check(question, "upvote", principal)
    try:
        async with session.begin_nested():
            session.add(QuestionVote(question_id=question.id, user_id=principal.user_id))
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "you have already upvoted this question", code="meeting.question_voted"
        ) from exc
    question.votes = question.votes + 1
    await MACHINE.transition(
        session=session,
        bus=bus,
        entity=question,
        action="upvote",
        actor=actor,
        principal=principal,
        details={"meeting_id": question.meeting_id},
        event={"meeting_id": question.meeting_id},
    )
    _announce(session, bus, question.meeting_id, question.id)


async def moderate(
    *, session: AsyncSession, bus: EventBus, question: Question, action: str, actor: Actor
) -> None:
    """`answer` or `hide` (the caller has checked that the actor chairs the meeting)."""
    await MACHINE.transition(
        session=session,
        bus=bus,
        entity=question,
        action=action,
        actor=actor,
        details={"meeting_id": question.meeting_id},
        event={"meeting_id": question.meeting_id},
    )
    if action == "answer":
        question.answered_at = now()
    _announce(session, bus, question.meeting_id, question.id)


async def listing(
    *, session: AsyncSession, meeting: Meeting, user_id: int, role: str | None
) -> list[QuestionRead]:
    """Open questions by votes then age, then answered ones; hidden ones for the chair."""
    query = (
        select(Question, User.display_name)
        .join(User, User.id == Question.author_id)
        .where(Question.meeting_id == meeting.id)
    )
    if role not in CHAIRS:
        query = query.where(Question.state != Q.HIDDEN)
    rows = list((await session.execute(query)).all())
    ids = [q.id for q, _ in rows]
    voted = set(
        (
            await session.scalars(
                select(QuestionVote.question_id).where(
                    QuestionVote.user_id == user_id, QuestionVote.question_id.in_(ids)
                )
            )
        ).all()
    )
    order = {Q.OPEN: 0, Q.ANSWERED: 1, Q.HIDDEN: 2}
    rows.sort(key=lambda r: (order[r[0].state], -r[0].votes, r[0].id))
    return [
        QuestionRead(
            id=q.id,
            text=q.body,
            author=name,
            mine=q.author_id == user_id,
            state=q.state,
            votes=q.votes,
            voted=q.id in voted,
            created_at=q.created_at.isoformat(),
        )
        for q, name in rows
    ]


async def export_csv(*, session: AsyncSession, meeting: Meeting) -> str:
    items = await listing(session=session, meeting=meeting, user_id=0, role="host")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["question", "text", "author", "state", "votes", "asked_at"])
    for q in sorted(items, key=lambda q: q.id):
        writer.writerow(
            [q.id, csv_cell(q.text), csv_cell(q.author), q.state.value, q.votes, q.created_at]
        )
    return out.getvalue()
