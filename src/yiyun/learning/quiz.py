"""Quizzes at the end of a lecture or a video: who sets them, who takes them, scoring.

A lecture's quiz is set by its organiser (the host, or an administrator of the host's
site); a video's by whoever may manage the video. Anyone who may see the subject takes
it, as often as they like; a question scores only when exactly the right choices are
ticked, and the attempt passes at `pass_percent`. Credit reads `passed()`."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth.principal import Principal
from yiyun.core.clock import now
from yiyun.core.errors import InvalidInput, NotFound, PermissionDenied
from yiyun.learning import attendance
from yiyun.learning.models import Quiz, QuizAttempt, SubjectKind
from yiyun.learning.schemas import AttemptCreate, QuestionRead, QuizCreate, QuizRead
from yiyun.meetings.models import Attendance, MeetingMember
from yiyun.teaching import service as teaching_service
from yiyun.teaching import workflow as teaching_workflow


async def subject(
    session: AsyncSession,
    principal: Principal,
    kind: SubjectKind,
    subject_id: int,
    *,
    author: bool = False,
) -> tuple[str, int]:
    """The subject's title and institution, if the caller may take (or, with `author`,
    set) its quiz; 404 for what they may not see, 403 for what they may not set."""
    if kind is SubjectKind.VIDEO:
        video = await teaching_service.get(
            session=session, principal=principal, video_id=subject_id
        )
        if author and not teaching_workflow.MACHINE.may(principal, video, "withdraw"):
            raise PermissionDenied(
                "only the person who uploaded the video or an administrator can do this",
                code="teaching.not_owner",
            )
        return video.title, video.institution_id
    meeting = await attendance.get_meeting(session, subject_id)
    organiser = attendance.may_organise(principal, meeting)
    if not organiser and not await _takes_part(session, meeting.id, principal.user_id):
        raise NotFound("no such meeting", code="meeting.not_found")
    if author and not organiser:
        attendance.require_organiser(principal, meeting)
    return meeting.title, meeting.institution_id


async def _takes_part(session: AsyncSession, meeting_id: int, user_id: int) -> bool:
    member = await session.scalar(
        select(MeetingMember.id).where(
            MeetingMember.meeting_id == meeting_id, MeetingMember.user_id == user_id
        )
    )
    came = await session.scalar(
        select(Attendance.id)
        .where(Attendance.meeting_id == meeting_id, Attendance.user_id == user_id)
        .limit(1)
    )
    return member is not None or came is not None


async def find(session: AsyncSession, kind: SubjectKind, subject_id: int) -> Quiz | None:
    quiz: Quiz | None = await session.scalar(
        select(Quiz).where(Quiz.subject_kind == kind, Quiz.subject_id == subject_id)
    )
    return quiz


async def save(
    *,
    session: AsyncSession,
    principal: Principal,
    actor: Actor,
    kind: SubjectKind,
    subject_id: int,
    data: QuizCreate,
) -> Quiz:
    """Set (or replace) the subject's quiz. Earlier attempts stay as they were."""
    _title, institution_id = await subject(session, principal, kind, subject_id, author=True)
    quiz = await find(session, kind, subject_id)
    questions = [q.model_dump() for q in data.questions]
    if quiz is None:
        quiz = Quiz(
            subject_kind=kind,
            subject_id=subject_id,
            institution_id=institution_id,
            created_by_id=principal.user_id,
            title=data.title,
            pass_percent=data.pass_percent,
            questions=questions,
        )
        session.add(quiz)
    else:
        quiz.title, quiz.pass_percent, quiz.questions = data.title, data.pass_percent, questions
    await session.flush()
    await audit.record(
        session=session,
        actor=actor,
        action="learning.quiz.save",
        entity_type="learning_quiz",
        entity_id=quiz.id,
        subject_institutions=frozenset({institution_id}),
        details={"kind": str(kind), "subject_id": subject_id, "questions": len(questions)},
    )
    return quiz


async def get_for(
    session: AsyncSession, principal: Principal, kind: SubjectKind, subject_id: int
) -> Quiz:
    await subject(session, principal, kind, subject_id)
    quiz = await find(session, kind, subject_id)
    if quiz is None:
        raise NotFound("this has no quiz", code="learning.no_quiz")
    return quiz


async def best(session: AsyncSession, quiz_id: int, user_id: int) -> QuizAttempt | None:
    attempt: QuizAttempt | None = await session.scalar(
        select(QuizAttempt)
        .where(QuizAttempt.quiz_id == quiz_id, QuizAttempt.user_id == user_id)
        .order_by(QuizAttempt.score_percent.desc(), QuizAttempt.at)
        .limit(1)
    )
    return attempt


async def read(session: AsyncSession, quiz: Quiz, user_id: int) -> QuizRead:
    """The quiz as a learner sees it: without the answers, with their best result."""
    top = await best(session, quiz.id, user_id)
    return QuizRead(
        id=quiz.id,
        subject_kind=quiz.subject_kind,
        subject_id=quiz.subject_id,
        title=quiz.title,
        pass_percent=quiz.pass_percent,
        questions=[
            QuestionRead(text=q["text"], choices=q["choices"], multiple=q["multiple"])
            for q in quiz.questions
        ],
        passed=bool(top and top.passed),
        best_percent=top.score_percent if top else None,
    )


def score(quiz: Quiz, answers: list[list[int]]) -> int:
    """Percent of questions answered with exactly the right choices."""
    if len(answers) != len(quiz.questions):
        raise InvalidInput(
            "answer every question of the quiz",
            code="learning.quiz_incomplete",
            details={"questions": len(quiz.questions), "answers": len(answers)},
        )
    right = 0
    for question, chosen in zip(quiz.questions, answers, strict=True):
        if not chosen:
            raise InvalidInput("answer every question of the quiz", code="learning.quiz_incomplete")
        if any(not 0 <= c < len(question["choices"]) for c in chosen):
            raise InvalidInput(
                "each answer must be one of the choices", code="learning.not_a_choice"
            )
        if not question["multiple"] and len(chosen) > 1:
            raise InvalidInput(
                "a single-choice question has exactly one answer", code="learning.single_choice"
            )
        right += set(chosen) == set(question["answer"])
    return round(100 * right / len(quiz.questions))


async def attempt(
    *,
    session: AsyncSession,
    principal: Principal,
    actor: Actor,
    kind: SubjectKind,
    subject_id: int,
    data: AttemptCreate,
) -> QuizAttempt:
    quiz = await get_for(session, principal, kind, subject_id)
    percent = score(quiz, data.answers)
    row = QuizAttempt(
        quiz_id=quiz.id,
        user_id=principal.user_id,
        answers=data.answers,
        score_percent=percent,
        passed=percent >= quiz.pass_percent,
        at=now(),
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session=session,
        actor=actor,
        action="learning.quiz.attempt",
        entity_type="learning_quiz",
        entity_id=quiz.id,
        details={"score": percent, "passed": row.passed},
    )
    return row


async def passed(
    session: AsyncSession, user_id: int, kind: SubjectKind, subject_id: int
) -> bool | None:
    """Whether the user passed the subject's quiz; None when it has none."""
    quiz = await find(session, kind, subject_id)
    if quiz is None:
        return None
    top = await best(session, quiz.id, user_id)
    return bool(top and top.passed)
