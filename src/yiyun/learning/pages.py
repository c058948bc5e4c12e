"""Learning pages: my learning (courses, credit, attendance), a course, a quiz, the
transcript and certificates, a lecture's attendance for its organiser (with XLSX),
staff credit for administrators, and the literature shelf."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from yiyun import i18n
from yiyun.audit import service as audit
from yiyun.auth.policy import Action, allows, own
from yiyun.core.clock import district, now
from yiyun.core.errors import InvalidInput
from yiyun.core.pagination import PageParams
from yiyun.learning import attendance, certificate, courses, quiz, shelf
from yiyun.learning.models import SubjectKind
from yiyun.learning.schemas import AttemptCreate
from yiyun.org.models import Institution
from yiyun.stats import exports
from yiyun.web.blobs import blob_response
from yiyun.web.deps import CurrentActor, CurrentPrincipal, DbSession, Store
from yiyun.web.pagekit import page, see_other
from yiyun.web.params import Id
from yiyun.web.templating import locale_of

router = APIRouter()
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Year = Annotated[int | None, Query(ge=2000, le=2100)]


@router.get("/learning", response_class=HTMLResponse)
async def home(
    request: Request, session: DbSession, principal: CurrentPrincipal, actor: CurrentActor
) -> HTMLResponse:
    """My learning: the courses, my credit this year and the lectures I attended."""
    rows = await courses.listing(session, principal)
    mine = {c.id: await courses.enrolment_of(session, c.id, principal.user_id) for c in rows}
    year = district(now()).year
    credits = await courses.transcript(session, principal.user_id, year)
    return page(
        request,
        principal,
        "learning/home.html",
        {
            "courses": rows,
            "mine": mine,
            "year": year,
            "hours": sum(c.credit_hours for c in credits),
            "lectures": await attendance.my_record(session, principal.user_id, limit=20),
            "is_admin": allows(principal, Action.MANAGE_TEACHING, own(principal)),
        },
    )


@router.get("/learning/courses/{course_id}", response_class=HTMLResponse)
async def course_page(
    request: Request,
    course_id: Id,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> HTMLResponse:
    course = await courses.get(session, principal, course_id)
    view = await courses.read(session=session, principal=principal, actor=actor, course=course)
    enrolment = await courses.enrolment_of(session, course.id, principal.user_id)
    docs, _total = await shelf.search(
        session=session,
        principal=principal,
        course_id=course.id,
        params=PageParams(page=1, size=50),
    )
    return page(
        request,
        principal,
        "learning/course.html",
        {"c": view, "enrolment": enrolment, "docs": docs},
    )


@router.post("/learning/courses/{course_id}/enrol")
async def enrol(
    course_id: Id, session: DbSession, principal: CurrentPrincipal, actor: CurrentActor
) -> Response:
    await courses.enrol(session=session, principal=principal, actor=actor, course_id=course_id)
    return see_other(f"/learning/courses/{course_id}?done=enrolled")


@router.get("/learning/quizzes/{kind}/{subject_id}", response_class=HTMLResponse)
async def quiz_page(
    request: Request,
    kind: SubjectKind,
    subject_id: Id,
    session: DbSession,
    principal: CurrentPrincipal,
    course: Annotated[int | None, Query(gt=0, le=2**31 - 1)] = None,
) -> HTMLResponse:
    title, _site = await quiz.subject(session, principal, kind, subject_id)
    row = await quiz.get_for(session, principal, kind, subject_id)
    return page(
        request,
        principal,
        "learning/quiz.html",
        {
            "q": await quiz.read(session, row, principal.user_id),
            "subject_title": title,
            "course": course,
        },
    )


@router.post("/learning/quizzes/{kind}/{subject_id}")
async def quiz_submit(
    request: Request,
    kind: SubjectKind,
    subject_id: Id,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    course: Annotated[int | None, Query(gt=0, le=2**31 - 1)] = None,
) -> Response:
    """A quiz form: fields `q0`, `q1`… each with the ticked choice indexes."""
    form = await request.form()
    row = await quiz.get_for(session, principal, kind, subject_id)
    answers: list[list[int]] = []
    for n in range(len(row.questions)):
        values = form.getlist(f"q{n}")
        if not all(isinstance(v, str) and v.isdecimal() and len(v) < 3 for v in values):
            raise InvalidInput(
                "each answer must be one of the choices", code="learning.not_a_choice"
            )
        answers.append([int(str(v)) for v in values])
    attempt = await quiz.attempt(
        session=session,
        principal=principal,
        actor=actor,
        kind=kind,
        subject_id=subject_id,
        data=AttemptCreate(answers=answers),
    )
    back = f"&course={course}" if course else ""
    done = "quiz_passed" if attempt.passed else "quiz_failed"
    return see_other(f"/learning/quizzes/{kind}/{subject_id}?done={done}{back}")


@router.get("/learning/transcript", response_class=HTMLResponse)
async def transcript(
    request: Request, session: DbSession, principal: CurrentPrincipal, year: Year = None
) -> HTMLResponse:
    rows = await courses.transcript(session, principal.user_id, year)
    by_year: dict[int, float] = {}
    for c in rows:
        by_year[c.credit_year] = by_year.get(c.credit_year, 0.0) + c.credit_hours
    return page(
        request,
        principal,
        "learning/transcript.html",
        {"rows": rows, "year": year, "by_year": sorted(by_year.items(), reverse=True)},
    )


@router.get("/learning/certificates/{enrolment_id}.pdf")
async def certificate_pdf(
    enrolment_id: Id, session: DbSession, principal: CurrentPrincipal, actor: CurrentActor
) -> Response:
    credit = await courses.certificate(session, principal, enrolment_id)
    course = await courses.get(session, principal, credit.course_id)
    issuer = await session.scalar(
        select(Institution.name).where(Institution.id == course.institution_id)
    )
    data = await certificate.render(credit, issuer=issuer or "")
    await audit.record(
        session=session,
        actor=actor,
        action="learning.certificate.download",
        entity_type="learning_enrolment",
        entity_id=enrolment_id,
    )
    await session.commit()
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{credit.certificate_no}.pdf"'},
    )


@router.get("/learning/meetings/{meeting_id}/attendance", response_class=HTMLResponse)
async def attendance_page(
    request: Request, meeting_id: Id, session: DbSession, principal: CurrentPrincipal
) -> HTMLResponse:
    """A lecture's attendance, per person and per site (its organiser)."""
    meeting = await attendance.get_meeting(session, meeting_id)
    attendance.require_organiser(principal, meeting)
    people = await attendance.stays(session, meeting)
    return page(
        request,
        principal,
        "learning/attendance.html",
        {"m": meeting, "people": people, "sites": attendance.by_site(people)},
    )


@router.get("/learning/meetings/{meeting_id}/attendance.xlsx")
async def attendance_xlsx(
    request: Request,
    meeting_id: Id,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> Response:
    meeting = await attendance.get_meeting(session, meeting_id)
    attendance.require_organiser(principal, meeting)
    people = await attendance.stays(session, meeting)
    locale = locale_of(request)

    def t(text: str) -> str:
        return i18n.gettext(locale, text)

    def when(value: object) -> str:
        return "" if value is None else f"{district(value):%Y-%m-%d %H:%M}"  # type: ignore[arg-type]

    sites = [[s.name, s.people, s.terminals, s.minutes] for s in attendance.by_site(people)]
    rows: list[list[object]] = [
        [p.name, p.site, when(p.first_joined), when(p.last_left), p.minutes] for p in people
    ]
    table = exports.Table(
        title=f"{t('Attendance')}: {meeting.title}",
        note=t("Minutes count overlapping connections once; times are Beijing time.")
        + "\n"
        + "\n".join(f"{n}: {a} / {b} / {m}" for n, a, b, m in sites),
        header=[t("Name"), t("Site"), t("First joined"), t("Last left"), t("Minutes")],
        rows=rows,
    )
    await audit.record(
        session=session,
        actor=actor,
        action="learning.attendance.export",
        entity_type="meeting",
        entity_id=meeting.id,
        details={"rows": len(rows)},
    )
    await session.commit()
    return Response(
        exports.xlsx(table),
        media_type=XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="yiyun-attendance-{meeting.id}.xlsx"'
        },
    )


@router.get("/learning/credits", response_class=HTMLResponse)
async def staff_credits(
    request: Request, session: DbSession, principal: CurrentPrincipal, year: Year = None
) -> HTMLResponse:
    """Credit hours of the administrator's staff in a year."""
    chosen = year or district(now()).year
    rows = await courses.staff_credits(session, principal, chosen)
    return page(request, principal, "learning/credits.html", {"rows": rows, "year": chosen})


@router.get("/learning/shelf", response_class=HTMLResponse)
async def shelf_page(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    q: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    docs, total = await shelf.search(
        session=session, principal=principal, q=q, params=PageParams(page=1, size=50)
    )
    return page(request, principal, "learning/shelf.html", {"docs": docs, "total": total, "q": q})


@router.get("/learning/documents/{document_id}/file")
async def document_file(
    request: Request,
    document_id: Id,
    session: DbSession,
    principal: CurrentPrincipal,
    store: Store,
) -> Response:
    doc = await shelf.get(session, principal, document_id)
    return await blob_response(
        store,
        doc.storage_key,
        range_header=request.headers.get("range"),
        media_type="application/pdf",
        headers={"Cache-Control": "private, max-age=3600"},
    )
