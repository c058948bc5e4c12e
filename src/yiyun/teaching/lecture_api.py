"""Live lectures REST API: schedule, list, join (WebRTC or HLS), slides, live stream."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, File, Request, Response, UploadFile

from yiyun.core.errors import Conflict, PermissionDenied
from yiyun.meetings import service as meetings_service
from yiyun.meetings import slides
from yiyun.meetings.room import RoomControl
from yiyun.meetings.room_state import AUDIENCE, PRESENTERS
from yiyun.settings import secret
from yiyun.teaching import lectures
from yiyun.teaching.live_streams import LiveStreams
from yiyun.teaching.schemas import DeckRead, LectureCreate, LectureJoin, LectureRead
from yiyun.web.deps import AppSettings, CurrentActor, CurrentPrincipal, DbSession, PatientCtx, Store
from yiyun.web.params import Id

router = APIRouter()


def read(seat: lectures.Seat) -> LectureRead:
    return LectureRead(
        id=seat.lecture.id,
        meeting_id=seat.meeting.id,
        title=seat.meeting.title,
        description=seat.meeting.description,
        state=str(seat.meeting.state),
        starts_at=seat.meeting.starts_at,
        role=seat.role,
        open_to_staff=seat.lecture.open_to_staff,
        webrtc_audience_limit=seat.lecture.webrtc_audience_limit,
        page_url=f"/teaching/lectures/{seat.lecture.id}",
    )


def hls_url(lecture_id: int) -> str:
    return f"/teaching/lectures/{lecture_id}/live/index.m3u8"


def webrtc_audience(request: Request, meeting_id: int) -> int:
    """Audience members receiving media over WebRTC on this node now (HLS viewers keep
    a signalling socket but never subscribe)."""
    rooms: RoomControl = request.app.state.rooms
    room = rooms.rooms.get(meeting_id)
    if room is None:
        return 0
    return sum(
        1
        for o in room.admitted()
        if o.role == AUDIENCE and o.session is not None and o.session.subscribed
    )


@router.post("/teaching/lectures", response_model=LectureRead, status_code=201)
async def create_lecture(
    data: LectureCreate,
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    settings: AppSettings,
) -> LectureRead:
    """Schedule a live lecture (a meeting in webinar mode); the organiser hosts it."""
    lecture, meeting = await lectures.create(
        session=session,
        ctx=ctx,
        bus=request.app.state.bus,
        data=data,
        default_limit=settings.teaching.webrtc_audience_limit,
    )
    return read(lectures.Seat(lecture=lecture, meeting=meeting, role="host"))


@router.get("/teaching/lectures", response_model=list[LectureRead])
async def list_lectures(session: DbSession, principal: CurrentPrincipal) -> list[LectureRead]:
    """Lectures not over yet that you may watch."""
    return [read(s) for s in await lectures.listed(session, principal)]


@router.get("/teaching/lectures/{lecture_id}", response_model=LectureRead)
async def get_lecture(
    lecture_id: Id, session: DbSession, principal: CurrentPrincipal
) -> LectureRead:
    return read(await lectures.seat(session=session, principal=principal, lecture_id=lecture_id))


@router.post("/teaching/lectures/{lecture_id}/join", response_model=LectureJoin)
async def join_lecture(
    lecture_id: Id,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    settings: AppSettings,
) -> LectureJoin:
    """How to watch: media over WebRTC while the WebRTC audience has room, else the live
    HLS playlist (the room token is for signalling: slides, hands, questions). Staff
    opening an open lecture become its audience."""
    return await joining(request, session, principal, actor, settings, lecture_id)


async def joining(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    settings: AppSettings,
    lecture_id: int,
) -> LectureJoin:
    seat = await lectures.seat(
        session=session, principal=principal, lecture_id=lecture_id, enrol=True
    )
    shown = await slides.current(session, seat.meeting.id)
    way = lectures.delivery(
        seat.role,
        webrtc_audience=webrtc_audience(request, seat.meeting.id),
        limit=seat.lecture.webrtc_audience_limit,
    )
    streams: LiveStreams = request.app.state.live_streams
    # HLS viewers keep the signalling socket (slides, questions), just no media.
    _, token = await meetings_service.join_token(
        session=session,
        bus=request.app.state.bus,
        principal=principal,
        meeting_id=seat.meeting.id,
        secret_key=secret(settings.security.secret_key),
        actor=actor,
    )
    live = streams.get(seat.meeting.id) is not None
    return LectureJoin(
        delivery=way,
        role=seat.role,
        token=token,
        hls_url=hls_url(lecture_id) if live or way == "hls" else None,
        slide=shown,
    )


async def _presenting(
    session: DbSession, principal: CurrentPrincipal, lecture_id: int
) -> lectures.Seat:
    seat = await lectures.seat(session=session, principal=principal, lecture_id=lecture_id)
    if seat.role not in PRESENTERS:
        raise PermissionDenied("only presenters can do this", code="meeting.presenter_only")
    return seat


@router.post("/teaching/lectures/{lecture_id}/slides", response_model=DeckRead, status_code=202)
async def upload_slides(
    lecture_id: Id,
    request: Request,
    background: BackgroundTasks,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    store: Store,
    settings: AppSettings,
    file: Annotated[UploadFile, File(description="PDF (or PPTX where LibreOffice is installed)")],
) -> DeckRead:
    """Upload slides; pages are rendered in the background (202: follow `state`)."""
    seat = await _presenting(session, principal, lecture_id)
    limit = settings.teaching.max_slides_mb << 20
    data = await file.read(limit + 1)
    deck = await slides.add(
        session=session,
        store=store,
        meeting_id=seat.meeting.id,
        user_id=principal.user_id,
        actor=actor,
        filename=file.filename or "slides.pdf",
        data=data,
        max_bytes=limit,
    )
    out = DeckRead.model_validate(deck)
    job = slides.RenderJob(
        sessions=request.app.state.sessions,
        bus=request.app.state.bus,
        store=store,
        work_dir=settings.data_dir / "slides-work",
        width=settings.teaching.slide_width,
        max_pages=settings.teaching.max_slide_pages,
    )
    background.add_task(slides.render, job, deck.id)  # after the upload has committed
    return out


@router.get("/teaching/lectures/{lecture_id}/slides", response_model=list[DeckRead])
async def list_slides(
    lecture_id: Id, session: DbSession, principal: CurrentPrincipal
) -> list[DeckRead]:
    seat = await lectures.seat(session=session, principal=principal, lecture_id=lecture_id)
    return [DeckRead.model_validate(d) for d in await slides.decks(session, seat.meeting.id)]


@router.get("/teaching/lectures/{lecture_id}/slide-track")
async def slide_track(
    lecture_id: Id, session: DbSession, principal: CurrentPrincipal
) -> list[dict[str, Any]]:
    """Every change of page with its time: the slide track to replay with a recording."""
    seat = await lectures.seat(session=session, principal=principal, lecture_id=lecture_id)
    return await slides.track(session, seat.meeting.id)


@router.post("/teaching/lectures/{lecture_id}/live", response_model=LectureJoin)
async def start_live(
    lecture_id: Id, request: Request, session: DbSession, principal: CurrentPrincipal
) -> LectureJoin:
    """Start the live HLS stream of your own camera and microphone (you must be in the
    lecture and publishing)."""
    seat = await _presenting(session, principal, lecture_id)
    rooms: RoomControl = request.app.state.rooms
    room = rooms.rooms.get(seat.meeting.id)
    me = f"u{principal.user_id}"
    mine = [o for o in room.people() if o.identity == me and o.participant] if room else []
    if room is None or not mine:
        raise Conflict("join the lecture before streaming it", code="teaching.live_not_joined")
    streams: LiveStreams = request.app.state.live_streams
    await streams.start(seat.meeting.id, room.room_id, str(mine[0].participant))
    return LectureJoin(delivery="hls", role=seat.role, hls_url=hls_url(lecture_id))


@router.delete("/teaching/lectures/{lecture_id}/live", status_code=204)
async def stop_live(
    lecture_id: Id, request: Request, session: DbSession, principal: CurrentPrincipal
) -> Response:
    seat = await _presenting(session, principal, lecture_id)
    streams: LiveStreams = request.app.state.live_streams
    await streams.stop(seat.meeting.id)
    return Response(status_code=204)
