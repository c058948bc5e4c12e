"""Live lectures: a meeting in webinar mode, scheduled through the one meeting-creation
path (`meetings.schedule.create`, subject `teaching.lecture`).

Roles are the meeting members' roles: the organiser is the host (chair and presenter),
`presenter` (shows slides, speaks), `panelist` (speaks, shows video) and `audience`
(receives only). A lecture open to staff lets any active staff member watch: the first
time they open it they become audience. Everybody else gets 404. How a viewer receives
the lecture (WebRTC, or the live HLS stream once the WebRTC audience is full) is
decided here; the room enforces the roles (`meetings.room_stage`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.auth.policy import Action, Target, allows, require
from yiyun.auth.principal import Principal
from yiyun.core.bus import EventBus
from yiyun.core.clock import now
from yiyun.core.errors import InvalidInput, NotFound
from yiyun.meetings import schedule
from yiyun.meetings import service as meetings_service
from yiyun.meetings.models import Meeting, MeetingMember
from yiyun.meetings.schemas import MeetingCreate, Subject
from yiyun.records import service as records_service
from yiyun.teaching.models import Lecture
from yiyun.teaching.schemas import LectureCreate

SUBJECT = "teaching.lecture"
PRESENTER, PANELIST, AUDIENCE = "presenter", "panelist", "audience"
SPEAKERS = frozenset({"host", "cohost", PRESENTER, PANELIST})


async def create(
    *,
    session: AsyncSession,
    ctx: records_service.Ctx,
    bus: EventBus,
    data: LectureCreate,
    default_limit: int,
) -> tuple[Lecture, Meeting]:
    """Schedule a lecture (teachers and administrators: `teaching.publish`)."""
    principal = ctx.principal
    require(principal, Action.PUBLISH_TEACHING, Target.of(principal.institution_id))
    lecture = Lecture(
        institution_id=principal.institution_id,
        organiser_id=principal.user_id,
        open_to_staff=data.open_to_staff,
        webrtc_audience_limit=default_limit
        if data.webrtc_audience_limit is None
        else data.webrtc_audience_limit,
    )
    session.add(lecture)
    await session.flush()
    try:  # the meeting's own rules (e.g. the start time's range) apply to a lecture too
        meeting_data = MeetingCreate(
            title=data.title,
            invitees=[*data.presenters, *data.panelists, *data.audience],
            starts_at=data.starts_at,
            duration_minutes=data.duration_minutes,
            description=data.description,
            waiting_room=False,
            allow_unmute=False,
        )
    except ValidationError as exc:
        raise InvalidInput(
            "the lecture cannot be scheduled as given",
            details={"fields": sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})},
        ) from None
    meeting = await schedule.create(
        session=session,
        ctx=ctx,
        data=meeting_data,
        bus=bus,
        subject=Subject(type=SUBJECT, id=lecture.id),
    )
    meeting.mode = "webinar"
    lecture.meeting_id = meeting.id
    for role, names in ((PANELIST, data.panelists), (PRESENTER, data.presenters)):
        await _set_roles(session, meeting.id, [n.lower() for n in names], role)
    await _set_roles(session, meeting.id, [n.lower() for n in data.audience], AUDIENCE)
    await session.flush()
    return lecture, meeting


async def _set_roles(
    session: AsyncSession, meeting_id: int, usernames: list[str], role: str
) -> None:
    from yiyun.org.models import User

    if not usernames:
        return
    ids = select(User.id).where(User.username.in_(usernames))
    await session.execute(
        update(MeetingMember)
        .where(
            MeetingMember.meeting_id == meeting_id,
            MeetingMember.user_id.in_(ids),
            MeetingMember.role == "participant",
        )
        .values(role=role)
    )


@dataclass(frozen=True)
class Seat:
    """A lecture as one viewer sees it: the lecture, its meeting, their role."""

    lecture: Lecture
    meeting: Meeting
    role: str


async def seat(
    *, session: AsyncSession, principal: Principal, lecture_id: int, enrol: bool = False
) -> Seat:
    """The lecture and the principal's role in it. Members see it; staff see an open
    lecture (with `enrol`, they become audience); everyone else gets 404."""
    lecture = await session.get(Lecture, lecture_id)
    meeting = (
        await session.get(Meeting, lecture.meeting_id) if lecture and lecture.meeting_id else None
    )
    if lecture is None or meeting is None:
        raise NotFound("lecture not found", code="teaching.lecture_not_found")
    role = await meetings_service.member_role(session, meeting, principal)
    if role is None:
        if not (lecture.open_to_staff and allows(principal, Action.VIEW_TEACHING)):
            raise NotFound("lecture not found", code="teaching.lecture_not_found")
        role = AUDIENCE
        if enrol:
            session.add(
                MeetingMember(
                    meeting_id=meeting.id,
                    user_id=principal.user_id,
                    role=AUDIENCE,
                    invited_at=now(),
                )
            )
            await session.flush()
    return Seat(lecture=lecture, meeting=meeting, role=role)


async def listed(session: AsyncSession, principal: Principal, limit: int = 50) -> list[Seat]:
    """Lectures not over yet that the principal may watch, soonest first."""
    mine = select(MeetingMember.meeting_id).where(MeetingMember.user_id == principal.user_id)
    query = (
        select(Lecture, Meeting)
        .join(Meeting, Meeting.id == Lecture.meeting_id)
        .where(Meeting.state.in_(("scheduled", "open")))
        .order_by(Meeting.starts_at, Meeting.id)
        .limit(limit)
    )
    if allows(principal, Action.VIEW_TEACHING):
        query = query.where(or_(Lecture.open_to_staff.is_(True), Meeting.id.in_(mine)))
    else:
        query = query.where(Meeting.id.in_(mine))
    out = []
    for lecture, meeting in (await session.execute(query)).all():
        role = await meetings_service.member_role(session, meeting, principal) or AUDIENCE
        out.append(Seat(lecture=lecture, meeting=meeting, role=role))
    return out


def delivery(role: str, *, webrtc_audience: int, limit: int) -> str:
    """How this viewer receives the lecture: speakers always over WebRTC; the audience
    over WebRTC while there is room (`limit`), then over the live HLS stream."""
    if role in SPEAKERS:
        return "webrtc"
    return "webrtc" if webrtc_audience < limit else "hls"
