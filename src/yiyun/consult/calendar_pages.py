"""A specialist's consultation calendar, and the invited department's direct acceptance,
as pages: windows for the next two weeks by day, one form to add a window and one to
withdraw each; dispatchers look at an expert's calendar. The rules are the calendar's
(`consult/calendar.py`) and direct acceptance's (`consult/direct.py`)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from itertools import groupby
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from yiyun.consult import calendar, direct
from yiyun.consult.schemas import AvailabilityCreate, Take
from yiyun.core.clock import DISTRICT_TZ, district, now
from yiyun.core.errors import InvalidInput
from yiyun.meetings.schedule_pages import parse_local
from yiyun.org.enums import Role
from yiyun.org.models import User, UserRole
from yiyun.web.deps import DbSession, PatientCtx
from yiyun.web.pagekit import invalid, page, see_other
from yiyun.web.params import Id

router = APIRouter()
DURATIONS = (15, 30, 45, 60, 90, 120)


def _wall(day: str, at: str, field: str) -> datetime:
    """A date and a time of day from the form, on the district's wall clock."""
    try:
        return datetime.combine(date.fromisoformat(day), time.fromisoformat(at), DISTRICT_TZ)
    except ValueError:
        raise InvalidInput(
            "enter the date and time as YYYY-MM-DD HH:MM",
            code="consult.bad_time",
            details={"field": field},
        ) from None


@router.get("/consults/calendar", response_class=HTMLResponse)
async def calendar_page(
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    expert_id: Annotated[Id | None, Query()] = None,
) -> Response:
    principal = ctx.principal
    rows = await calendar.listing(session=session, principal=principal, expert_id=expert_id)
    days = [
        (day, list(windows))
        for day, windows in groupby(rows, key=lambda w: district(w.starts_at).date())
    ]
    experts: list[tuple[int, str]] = []
    if principal.has(Role.DISPATCHER):
        found = await session.execute(
            select(User.id, User.display_name)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == Role.SPECIALIST, User.disabled_at.is_(None))
            .order_by(User.display_name)
            .limit(500)
        )
        experts = [(i, n) for i, n in found.all()]
    tomorrow = district(now()).date() + timedelta(days=1)
    return page(
        request,
        principal,
        "consult/calendar.html",
        {
            "days": days,
            "own": expert_id in (None, principal.user_id),
            "may_publish": principal.has(Role.SPECIALIST),
            "experts": experts,
            "expert_id": expert_id,
            "default_day": tomorrow.isoformat(),
            "district": district,
        },
    )


@router.post("/consults/calendar")
async def add_window(
    session: DbSession,
    ctx: PatientCtx,
    day: Annotated[str, Form(max_length=10)],
    start: Annotated[str, Form(max_length=5)],
    end: Annotated[str, Form(max_length=5)],
) -> Response:
    try:
        data = AvailabilityCreate(
            starts_at=_wall(day, start, "start"), ends_at=_wall(day, end, "end")
        )
    except ValidationError as exc:
        raise invalid(exc) from None
    await calendar.add(session=session, ctx=ctx, data=data)
    return see_other("/consults/calendar?done=window_added")


@router.post("/consults/calendar/{window_id}/remove")
async def remove_window(window_id: Id, session: DbSession, ctx: PatientCtx) -> Response:
    await calendar.remove(session=session, ctx=ctx, window_id=window_id)
    return see_other("/consults/calendar?done=window_removed")


@router.post("/consults/{consult_id}/take")
async def take(
    consult_id: Id,
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    starts_local: Annotated[str, Form(max_length=32)],
    duration_minutes: Annotated[int, Form(ge=10, le=240)] = 30,
) -> Response:
    try:
        data = Take(starts_at=parse_local(starts_local), duration_minutes=duration_minutes)
    except ValidationError as exc:
        raise invalid(exc) from None
    await direct.take(
        session=session, ctx=ctx, bus=request.app.state.bus, consult_id=consult_id, data=data
    )
    return see_other(f"/consults/{consult_id}?done=taken")
