"""Courses and continuing-medical-education credit (继续医学教育学分).

A course groups lectures and library videos. A learner enrols; an item is done when the
video is completed (90 % of its buckets watched, as the library counts) or the lecture
was attended for the course's `min_minutes`, and, where the item has a quiz, the quiz
is passed. When every item is done the course's credit hours are awarded once, for the
district year of completion, with a certificate number."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth.policy import Action, Target, allows, own, require
from yiyun.auth.policy import scope as policy_scope
from yiyun.auth.principal import Principal
from yiyun.core.clock import district, now
from yiyun.core.errors import InvalidInput, NotFound
from yiyun.learning import attendance, quiz
from yiyun.learning.models import Course, CourseItem, Enrolment, SubjectKind
from yiyun.learning.schemas import CourseCreate, CourseRead, ItemProgress
from yiyun.meetings.models import Meeting
from yiyun.org.models import Institution, User
from yiyun.teaching import service as teaching_service
from yiyun.teaching.models import Video, WatchProgress


async def create(
    *, session: AsyncSession, principal: Principal, actor: Actor, data: CourseCreate
) -> Course:
    """A course of the caller's institution. Its author must see every video and
    organise (or administer) every lecture in it."""
    require(principal, Action.PUBLISH_TEACHING, own(principal))
    seen: set[tuple[SubjectKind, int]] = set()
    for item in data.items:
        if (item.kind, item.ref_id) in seen:
            raise InvalidInput("an item is listed twice", code="learning.duplicate_item")
        seen.add((item.kind, item.ref_id))
        if item.kind is SubjectKind.VIDEO:
            await teaching_service.get(session=session, principal=principal, video_id=item.ref_id)
        else:
            meeting = await attendance.get_meeting(session, item.ref_id)
            attendance.require_organiser(principal, meeting)
    course = Course(
        institution_id=principal.institution_id,
        created_by_id=principal.user_id,
        title=data.title,
        description=data.description,
        credit_hours=data.credit_hours,
        min_minutes=data.min_minutes,
    )
    session.add(course)
    await session.flush()
    session.add_all(
        CourseItem(course_id=course.id, kind=i.kind, ref_id=i.ref_id, position=n)
        for n, i in enumerate(data.items)
    )
    await session.flush()
    await audit.record(
        session=session,
        actor=actor,
        action="learning.course.create",
        entity_type="learning_course",
        entity_id=course.id,
        details={"items": len(data.items), "credit_hours": data.credit_hours},
    )
    return course


async def get(session: AsyncSession, principal: Principal, course_id: int) -> Course:
    """Courses are for the whole consortium: every staff member sees them."""
    require(principal, Action.VIEW_TEACHING)
    course = await session.get(Course, course_id)
    if course is None:
        raise NotFound("no such course", code="learning.no_course")
    return course


async def listing(session: AsyncSession, principal: Principal) -> list[Course]:
    require(principal, Action.VIEW_TEACHING)
    rows = await session.scalars(select(Course).order_by(Course.created_at.desc()).limit(200))
    return list(rows)


async def enrolment_of(session: AsyncSession, course_id: int, user_id: int) -> Enrolment | None:
    row: Enrolment | None = await session.scalar(
        select(Enrolment).where(Enrolment.course_id == course_id, Enrolment.user_id == user_id)
    )
    return row


async def enrol(
    *, session: AsyncSession, principal: Principal, actor: Actor, course_id: int
) -> Enrolment:
    course = await get(session, principal, course_id)
    row = await enrolment_of(session, course.id, principal.user_id)
    if row is not None:
        return row
    row = Enrolment(
        course_id=course.id,
        user_id=principal.user_id,
        institution_id=principal.institution_id,
        enrolled_at=now(),
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session=session,
        actor=actor,
        action="learning.course.enrol",
        entity_type="learning_course",
        entity_id=course.id,
    )
    return row


async def items(session: AsyncSession, course: Course) -> list[CourseItem]:
    rows = await session.scalars(
        select(CourseItem).where(CourseItem.course_id == course.id).order_by(CourseItem.position)
    )
    return list(rows)


async def progress(session: AsyncSession, course: Course, user_id: int) -> list[ItemProgress]:
    """Each item of the course and whether this learner has done it."""
    out: list[ItemProgress] = []
    for item in await items(session, course):
        found = await quiz.find(session, item.kind, item.ref_id)
        passed = await quiz.passed(session, user_id, item.kind, item.ref_id)
        if item.kind is SubjectKind.VIDEO:
            video = await session.get(Video, item.ref_id)
            watch = await session.scalar(
                select(WatchProgress).where(
                    WatchProgress.video_id == item.ref_id, WatchProgress.user_id == user_id
                )
            )
            share = teaching_service.completed_share(watch, video) if video else 0.0
            met = watch is not None and watch.completed_at is not None
            title = video.title if video else "—"
            detail = f"{round(share * 100)}%"
        else:
            meeting = await session.get(Meeting, item.ref_id)
            minutes = await attendance.attended_minutes(session, item.ref_id, user_id)
            met = minutes >= course.min_minutes
            title = meeting.title if meeting else "—"
            detail = f"{minutes}/{course.min_minutes}"
        out.append(
            ItemProgress(
                kind=item.kind,
                ref_id=item.ref_id,
                title=title,
                done=met and passed is not False,
                watched_or_attended=met,
                quiz_id=found.id if found else None,
                quiz_passed=passed,
                detail=detail,
            )
        )
    return out


async def refresh(
    *, session: AsyncSession, actor: Actor, course: Course, enrolment: Enrolment
) -> list[ItemProgress]:
    """Award the credit once every item is done (idempotent; audited once)."""
    done = await progress(session, course, enrolment.user_id)
    if enrolment.completed_at is None and done and all(i.done for i in done):
        at = now()
        enrolment.completed_at = at
        enrolment.credit_hours = course.credit_hours
        enrolment.credit_year = district(at).year
        enrolment.certificate_no = f"CME{enrolment.credit_year}-{enrolment.id:07d}"
        await session.flush()
        await audit.record(
            session=session,
            actor=actor,
            action="learning.course.complete",
            entity_type="learning_enrolment",
            entity_id=enrolment.id,
            details={"course_id": course.id, "credit_hours": course.credit_hours},
        )
    return done


async def read(
    *, session: AsyncSession, principal: Principal, actor: Actor, course: Course
) -> CourseRead:
    """The course with the caller's progress (awarding credit if it is now due)."""
    row = await enrolment_of(session, course.id, principal.user_id)
    if row is not None:
        done = await refresh(session=session, actor=actor, course=course, enrolment=row)
    else:
        done = await progress(session, course, principal.user_id)
    return CourseRead(
        id=course.id,
        institution_id=course.institution_id,
        title=course.title,
        description=course.description,
        credit_hours=course.credit_hours,
        min_minutes=course.min_minutes,
        enrolled=row is not None,
        completed_at=row.completed_at if row else None,
        items=done,
    )


@dataclass(frozen=True)
class Credit:
    enrolment_id: int
    course_id: int
    course_title: str
    user_id: int
    display_name: str
    site: str
    credit_hours: float
    credit_year: int
    completed_at: datetime
    certificate_no: str


def _credits_query() -> Any:
    return (
        select(Enrolment, Course.title, User.display_name, Institution.name)
        .join(Course, Course.id == Enrolment.course_id)
        .join(User, User.id == Enrolment.user_id)
        .join(Institution, Institution.id == User.institution_id)
        .where(Enrolment.completed_at.is_not(None))
    )


def _credit(row: Any) -> Credit:
    e, title, name, site = row
    return Credit(
        e.id,
        e.course_id,
        title,
        e.user_id,
        name,
        site,
        e.credit_hours,
        e.credit_year,
        e.completed_at,
        e.certificate_no,
    )


async def transcript(session: AsyncSession, user_id: int, year: int | None = None) -> list[Credit]:
    query = _credits_query().where(Enrolment.user_id == user_id)
    if year is not None:
        query = query.where(Enrolment.credit_year == year)
    rows = await session.execute(query.order_by(Enrolment.completed_at.desc()))
    return [_credit(r) for r in rows]


@dataclass(frozen=True)
class StaffCredit:
    user_id: int
    display_name: str
    site: str
    courses: int
    credit_hours: float


async def staff_credits(
    session: AsyncSession, principal: Principal, year: int
) -> list[StaffCredit]:
    """Credit hours per staff member in a year: an institution's administrator sees their
    own staff, the consortium administrator everyone's."""
    require(principal, Action.MANAGE_TEACHING, own(principal))
    scope = policy_scope(principal, Action.MANAGE_TEACHING)
    query = (
        select(
            User.id,
            User.display_name,
            Institution.name,
            func.count(Enrolment.id),
            func.sum(Enrolment.credit_hours),
        )
        .join(Enrolment, Enrolment.user_id == User.id)
        .join(Institution, Institution.id == User.institution_id)
        .where(Enrolment.completed_at.is_not(None), Enrolment.credit_year == year)
        .group_by(User.id, User.display_name, Institution.name)
        .order_by(Institution.name, User.display_name)
    )
    if not scope.everywhere:
        query = query.where(scope.where(User.institution_id))
    rows = await session.execute(query)
    return [StaffCredit(u, n, s, int(c), float(h or 0)) for u, n, s, c, h in rows]


async def certificate(session: AsyncSession, principal: Principal, enrolment_id: int) -> Credit:
    """A completed enrolment's credit: the learner's own, or their administrator's view."""
    require(principal, Action.VIEW_TEACHING)
    row = (await session.execute(_credits_query().where(Enrolment.id == enrolment_id))).first()
    if row is None:
        raise NotFound("no such certificate", code="learning.no_certificate")
    credit = _credit(row)
    if credit.user_id != principal.user_id:
        site = await session.scalar(select(User.institution_id).where(User.id == credit.user_id))
        if site is None or not allows(principal, Action.MANAGE_TEACHING, Target.of(site)):
            raise NotFound("no such certificate", code="learning.no_certificate")
    return credit
