"""Learning REST API: attendance, quizzes, courses and credit, the shelf, the gate."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from pydantic import BaseModel

from yiyun.core.clock import district, now
from yiyun.core.pagination import Page
from yiyun.learning import attendance, courses, quiz, review, shelf
from yiyun.learning.models import Document, SubjectKind
from yiyun.learning.schemas import (
    AttemptCreate,
    AttemptRead,
    CourseCreate,
    CourseRead,
    QuizCreate,
    QuizRead,
    ReviewCreate,
    ReviewDecision,
    ReviewRead,
)
from yiyun.teaching.api import read as read_video
from yiyun.teaching.schemas import VideoRead
from yiyun.web.deps import AppSettings, CurrentActor, CurrentPrincipal, DbSession, Store
from yiyun.web.params import Id, Paging

router = APIRouter()
Year = Annotated[int | None, Query(ge=2000, le=2100)]


class StayRead(BaseModel):
    identity: str
    name: str
    user_id: int | None
    institution_id: int | None
    site: str
    first_joined: datetime
    last_left: datetime | None
    minutes: int


class SiteRead(BaseModel):
    institution_id: int | None
    name: str
    people: int
    terminals: int
    minutes: int


class AttendanceRead(BaseModel):
    meeting_id: int
    title: str
    people: list[StayRead]
    sites: list[SiteRead]


class MyLectureRead(BaseModel):
    meeting_id: int
    title: str
    first_joined: datetime
    minutes: int


class DocumentRead(BaseModel):
    id: int
    title: str
    description: str
    filename: str
    size: int
    course_id: int | None
    meeting_id: int | None
    created_at: datetime
    url: str


def _stay(s: attendance.Stay) -> StayRead:
    return StayRead(**{k: getattr(s, k) for k in StayRead.model_fields})


@router.get("/learning/meetings/{meeting_id}/attendance", response_model=AttendanceRead)
async def meeting_attendance(
    meeting_id: Id, session: DbSession, principal: CurrentPrincipal
) -> AttendanceRead:
    """Who came to a lecture, when, for how long and from which site (its organiser)."""
    meeting = await attendance.get_meeting(session, meeting_id)
    attendance.require_organiser(principal, meeting)
    people = await attendance.stays(session, meeting)
    return AttendanceRead(
        meeting_id=meeting.id,
        title=meeting.title,
        people=[_stay(s) for s in people],
        sites=[SiteRead(**vars(s)) for s in attendance.by_site(people)],
    )


@router.get("/learning/attendance/mine", response_model=list[MyLectureRead])
async def my_attendance(session: DbSession, principal: CurrentPrincipal) -> list[MyLectureRead]:
    """The lectures and meetings I attended, with my minutes in each."""
    rows = await attendance.my_record(session, principal.user_id)
    return [MyLectureRead(**vars(r)) for r in rows]


@router.put("/learning/quizzes/{kind}/{subject_id}", response_model=QuizRead)
async def save_quiz(
    kind: SubjectKind,
    subject_id: Id,
    data: QuizCreate,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> QuizRead:
    """Set the quiz at the end of a lecture (its organiser) or a video (its owner)."""
    row = await quiz.save(
        session=session,
        principal=principal,
        actor=actor,
        kind=kind,
        subject_id=subject_id,
        data=data,
    )
    return await quiz.read(session, row, principal.user_id)


@router.get("/learning/quizzes/{kind}/{subject_id}", response_model=QuizRead)
async def get_quiz(
    kind: SubjectKind, subject_id: Id, session: DbSession, principal: CurrentPrincipal
) -> QuizRead:
    row = await quiz.get_for(session, principal, kind, subject_id)
    return await quiz.read(session, row, principal.user_id)


@router.post(
    "/learning/quizzes/{kind}/{subject_id}/attempts", response_model=AttemptRead, status_code=201
)
async def attempt_quiz(
    kind: SubjectKind,
    subject_id: Id,
    data: AttemptCreate,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> AttemptRead:
    row = await quiz.attempt(
        session=session,
        principal=principal,
        actor=actor,
        kind=kind,
        subject_id=subject_id,
        data=data,
    )
    return AttemptRead.model_validate(row)


@router.post("/learning/courses", response_model=CourseRead, status_code=201)
async def create_course(
    data: CourseCreate, session: DbSession, principal: CurrentPrincipal, actor: CurrentActor
) -> CourseRead:
    course = await courses.create(session=session, principal=principal, actor=actor, data=data)
    return await courses.read(session=session, principal=principal, actor=actor, course=course)


@router.get("/learning/courses", response_model=list[CourseRead])
async def list_courses(session: DbSession, principal: CurrentPrincipal) -> list[CourseRead]:
    rows = await courses.listing(session, principal)
    return [
        CourseRead(
            id=c.id,
            institution_id=c.institution_id,
            title=c.title,
            description=c.description,
            credit_hours=c.credit_hours,
            min_minutes=c.min_minutes,
        )
        for c in rows
    ]


@router.get("/learning/courses/{course_id}", response_model=CourseRead)
async def get_course(
    course_id: Id, session: DbSession, principal: CurrentPrincipal, actor: CurrentActor
) -> CourseRead:
    """The course with my progress; credit is awarded here once every item is done."""
    course = await courses.get(session, principal, course_id)
    return await courses.read(session=session, principal=principal, actor=actor, course=course)


@router.post("/learning/courses/{course_id}/enrol", response_model=CourseRead)
async def enrol(
    course_id: Id, session: DbSession, principal: CurrentPrincipal, actor: CurrentActor
) -> CourseRead:
    await courses.enrol(session=session, principal=principal, actor=actor, course_id=course_id)
    course = await courses.get(session, principal, course_id)
    return await courses.read(session=session, principal=principal, actor=actor, course=course)


def _credit(c: courses.Credit) -> dict[str, Any]:
    return {k: v for k, v in vars(c).items()} | {
        "certificate_url": f"/learning/certificates/{c.enrolment_id}.pdf"
    }


@router.get("/learning/credits/mine")
async def my_credits(
    session: DbSession, principal: CurrentPrincipal, year: Year = None
) -> list[dict[str, Any]]:
    """My transcript: completed courses with credit hours (one year, or all)."""
    return [_credit(c) for c in await courses.transcript(session, principal.user_id, year)]


@router.get("/learning/credits")
async def staff_credits(
    session: DbSession, principal: CurrentPrincipal, year: Year = None
) -> list[dict[str, Any]]:
    """Credit hours per staff member in a year (an administrator's staff)."""
    rows = await courses.staff_credits(session, principal, year or district(now()).year)
    return [vars(r) for r in rows]


def document_read(doc: Document) -> DocumentRead:
    return DocumentRead(
        id=doc.id,
        title=doc.title,
        description=doc.description,
        filename=doc.filename,
        size=doc.size,
        course_id=doc.course_id,
        meeting_id=doc.meeting_id,
        created_at=doc.created_at,
        url=f"/learning/documents/{doc.id}/file",
    )


class DocumentMeta(BaseModel):
    title: str
    description: str = ""


@router.post("/learning/documents", response_model=DocumentRead, status_code=201)
async def add_document(
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    store: Store,
    file: Annotated[UploadFile, File(description="a PDF document")],
    title: Annotated[str, Form(min_length=1, max_length=200)],
    description: Annotated[str, Form(max_length=5000)] = "",
    course_id: Annotated[int | None, Form(gt=0, le=2**31 - 1)] = None,
    meeting_id: Annotated[int | None, Form(gt=0, le=2**31 - 1)] = None,
) -> DocumentRead:
    """Put a PDF on the shelf of a course or a lecture."""
    data = await file.read(shelf.MAX_BYTES + 1)
    doc = await shelf.add(
        session=session,
        store=store,
        principal=principal,
        actor=actor,
        course_id=course_id,
        meeting_id=meeting_id,
        title=title.strip(),
        description=description.strip(),
        filename=file.filename or "",
        data=data,
    )
    return document_read(doc)


@router.get("/learning/documents", response_model=Page[DocumentRead])
async def search_documents(
    session: DbSession,
    principal: CurrentPrincipal,
    params: Paging,
    q: Annotated[str, Query(max_length=200)] = "",
    course_id: Annotated[int | None, Query(gt=0, le=2**31 - 1)] = None,
    meeting_id: Annotated[int | None, Query(gt=0, le=2**31 - 1)] = None,
) -> Page[DocumentRead]:
    """The shelf: every term of `q` must occur in the title, description or file name."""
    rows, total = await shelf.search(
        session=session,
        principal=principal,
        q=q,
        course_id=course_id,
        meeting_id=meeting_id,
        params=params,
    )
    return Page.of([document_read(d) for d in rows], total, params)


@router.post("/learning/recordings/{recording_id}/review", response_model=ReviewRead)
async def submit_review(
    recording_id: Id,
    data: ReviewCreate,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> ReviewRead:
    """Propose a clinical meeting's recording for teaching, after removing identifiers."""
    row = await review.submit(
        session=session,
        bus=request.app.state.bus,
        principal=principal,
        actor=actor,
        recording_id=recording_id,
        note=data.note,
    )
    return ReviewRead.model_validate(row)


@router.post("/learning/reviews/{review_id}/{action}", response_model=ReviewRead)
async def decide_review(
    review_id: Id,
    action: Literal["approve", "reject"],
    data: ReviewDecision,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> ReviewRead:
    """A reviewer approves the de-identification, or rejects it with a reason."""
    row = await review.decide(
        session=session,
        bus=request.app.state.bus,
        principal=principal,
        actor=actor,
        review_id=review_id,
        action=action,
        reason=data.reason,
    )
    return ReviewRead.model_validate(row)


@router.post(
    "/learning/recordings/{recording_id}/publish", response_model=VideoRead, status_code=202
)
async def publish_recording(
    recording_id: Id,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    store: Store,
    settings: AppSettings,
    title: Annotated[str, Query(max_length=200)] = "",
) -> VideoRead:
    """Put a recording into the library (a clinical one only once approved: 409)."""
    video = await review.publish(
        session=session,
        bus=request.app.state.bus,
        store=store,
        principal=principal,
        actor=actor,
        recording_id=recording_id,
        work_dir=settings.data_dir / "teaching-work",
        title=title.strip(),
    )
    return read_video(video)
