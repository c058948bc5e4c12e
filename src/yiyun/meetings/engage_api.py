"""Polls and Q&A of a meeting (JSON): members read, the chair runs polls and moderates,
host/co-hosts/participants vote, ask and upvote; observers read only. Non-members get
404 as for a meeting that does not exist."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from yiyun.meetings import polls, qna, service
from yiyun.meetings.members import CHAIRS
from yiyun.meetings.polls import VOTERS, PollCreate, PollRead, VoteRequest
from yiyun.meetings.qna import QuestionCreate, QuestionRead
from yiyun.web.deps import CurrentActor, CurrentPrincipal, DbSession
from yiyun.web.params import Id

router = APIRouter()


def _csv(body: str, name: str) -> Response:
    return Response(
        content="\ufeff" + body,  # a BOM, so spreadsheet programs read the Chinese right
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/meetings/{meeting_id}/polls", response_model=list[PollRead])
async def list_polls(
    meeting_id: Id, session: DbSession, principal: CurrentPrincipal
) -> list[PollRead]:
    """The meeting's polls with live counts (who chose what in named polls: the chair)."""
    meeting = await service.get(session=session, principal=principal, meeting_id=meeting_id)
    role = await service.member_role(session, meeting, principal)
    return await polls.listing(
        session=session, meeting=meeting, user_id=principal.user_id, role=role
    )


@router.post("/meetings/{meeting_id}/polls", response_model=PollRead, status_code=201)
async def create_poll(
    meeting_id: Id,
    data: PollCreate,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> PollRead:
    """Open a poll (host and co-hosts; 2–10 options; single or multiple choice;
    anonymous or named)."""
    meeting = await service.get_for(
        session=session, principal=principal, meeting_id=meeting_id, roles=CHAIRS
    )
    poll = await polls.create(
        session=session, bus=request.app.state.bus, meeting=meeting, data=data, actor=actor
    )
    listed = await polls.listing(
        session=session, meeting=meeting, user_id=principal.user_id, role="host"
    )
    return next(p for p in listed if p.id == poll.id)


@router.post("/meetings/{meeting_id}/polls/{poll_id}/vote", status_code=204)
async def vote_poll(
    meeting_id: Id,
    poll_id: Id,
    data: VoteRequest,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> Response:
    """Vote once (option indexes from 0)."""
    meeting = await service.get_for(
        session=session, principal=principal, meeting_id=meeting_id, roles=VOTERS
    )
    poll = await polls.get(session, meeting, poll_id)
    await polls.vote(
        session=session, bus=request.app.state.bus, poll=poll, choices=data.choices, actor=actor
    )
    return Response(status_code=204)


@router.post("/meetings/{meeting_id}/polls/{poll_id}/close", status_code=204)
async def close_poll(
    meeting_id: Id,
    poll_id: Id,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> Response:
    meeting = await service.get_for(
        session=session, principal=principal, meeting_id=meeting_id, roles=CHAIRS
    )
    poll = await polls.get(session, meeting, poll_id)
    await polls.close(session=session, bus=request.app.state.bus, poll=poll, actor=actor)
    return Response(status_code=204)


@router.get("/meetings/{meeting_id}/polls.csv")
async def export_polls(meeting_id: Id, session: DbSession, principal: CurrentPrincipal) -> Response:
    """Every poll's results as CSV (host and co-hosts)."""
    meeting = await service.get_for(
        session=session, principal=principal, meeting_id=meeting_id, roles=CHAIRS
    )
    return _csv(
        await polls.export_csv(session=session, meeting=meeting), f"polls-{meeting.code}.csv"
    )


@router.get("/meetings/{meeting_id}/questions", response_model=list[QuestionRead])
async def list_questions(
    meeting_id: Id, session: DbSession, principal: CurrentPrincipal
) -> list[QuestionRead]:
    """Open questions first, most upvoted first; hidden ones only for the chair."""
    meeting = await service.get(session=session, principal=principal, meeting_id=meeting_id)
    role = await service.member_role(session, meeting, principal)
    return await qna.listing(session=session, meeting=meeting, user_id=principal.user_id, role=role)


@router.post("/meetings/{meeting_id}/questions", response_model=QuestionRead, status_code=201)
async def ask_question(
    meeting_id: Id,
    data: QuestionCreate,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> QuestionRead:
    meeting = await service.get_for(
        session=session, principal=principal, meeting_id=meeting_id, roles=VOTERS
    )
    question = await qna.ask(
        session=session, bus=request.app.state.bus, meeting=meeting, text=data.text, actor=actor
    )
    listed = await qna.listing(
        session=session, meeting=meeting, user_id=principal.user_id, role="host"
    )
    return next(q for q in listed if q.id == question.id)


@router.post("/meetings/{meeting_id}/questions/{question_id}/upvote", status_code=204)
async def upvote_question(
    meeting_id: Id,
    question_id: Id,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> Response:
    meeting = await service.get_for(
        session=session, principal=principal, meeting_id=meeting_id, roles=VOTERS
    )
    question = await qna.get(session, meeting, question_id)
    await qna.upvote(
        session=session,
        bus=request.app.state.bus,
        question=question,
        principal=principal,
        actor=actor,
    )
    return Response(status_code=204)


async def _moderate(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    meeting_id: int,
    question_id: int,
    action: str,
) -> Response:
    meeting = await service.get_for(
        session=session, principal=principal, meeting_id=meeting_id, roles=CHAIRS
    )
    question = await qna.get(session, meeting, question_id)
    await qna.moderate(
        session=session, bus=request.app.state.bus, question=question, action=action, actor=actor
    )
    return Response(status_code=204)


@router.post("/meetings/{meeting_id}/questions/{question_id}/answer", status_code=204)
async def answer_question(
    meeting_id: Id,
    question_id: Id,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> Response:
    """Mark a question answered (host and co-hosts)."""
    return await _moderate(request, session, principal, actor, meeting_id, question_id, "answer")


@router.post("/meetings/{meeting_id}/questions/{question_id}/hide", status_code=204)
async def hide_question(
    meeting_id: Id,
    question_id: Id,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> Response:
    """Hide a question from everyone but the chair (host and co-hosts)."""
    return await _moderate(request, session, principal, actor, meeting_id, question_id, "hide")


@router.get("/meetings/{meeting_id}/questions.csv")
async def export_questions(
    meeting_id: Id, session: DbSession, principal: CurrentPrincipal
) -> Response:
    """Every question as CSV (host and co-hosts)."""
    meeting = await service.get_for(
        session=session, principal=principal, meeting_id=meeting_id, roles=CHAIRS
    )
    body = await qna.export_csv(session=session, meeting=meeting)
    return _csv(body, f"questions-{meeting.code}.csv")
