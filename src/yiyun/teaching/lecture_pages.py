"""The live lecture page, its slide images and the live HLS files (lecture access only)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, File, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from yiyun.core.errors import NotFound
from yiyun.meetings import slides
from yiyun.meetings.room_state import PRESENTERS
from yiyun.teaching import lectures, live_hls
from yiyun.teaching.lecture_api import upload_slides
from yiyun.teaching.live_streams import LiveStreams
from yiyun.web.deps import AppSettings, CurrentActor, CurrentPrincipal, DbSession, Store
from yiyun.web.pagekit import page, see_other
from yiyun.web.params import Id

router = APIRouter()


@router.get("/teaching/lectures/{lecture_id}", response_class=HTMLResponse)
async def lecture_page(
    request: Request,
    lecture_id: Id,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    settings: AppSettings,
) -> HTMLResponse:
    # Read-only: joining (a token, enrolment) is the island's POST to the join API.
    seat = await lectures.seat(session=session, principal=principal, lecture_id=lecture_id)
    decks = await slides.decks(session, seat.meeting.id)
    return page(
        request,
        principal,
        "teaching/lecture.html",
        {
            "lecture": seat.lecture,
            "meeting": seat.meeting,
            "role": seat.role,
            "presenter": seat.role in PRESENTERS,
            "chair": seat.role in ("host", "cohost"),
            "slide": await slides.current(session, seat.meeting.id),
            "decks": [d for d in decks if d.state == slides.READY],
            "pending_decks": [d for d in decks if d.state != slides.READY],
        },
    )


@router.get("/teaching/lectures/{lecture_id}/slides/{deck_id}/{page_no}.png")
async def slide_image(
    lecture_id: Id,
    deck_id: Id,
    page_no: Id,
    session: DbSession,
    principal: CurrentPrincipal,
    store: Store,
) -> Response:
    seat = await lectures.seat(session=session, principal=principal, lecture_id=lecture_id)
    deck = await slides.deck_of(session, seat.meeting.id, deck_id)
    png = await slides.page_png(store, deck, page_no)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/teaching/lectures/{lecture_id}/live/{name}")
async def live_file(
    request: Request, lecture_id: Id, name: str, session: DbSession, principal: CurrentPrincipal
) -> Response:
    """The live playlist and segments (rolling; the playlist is never cached)."""
    seat = await lectures.seat(session=session, principal=principal, lecture_id=lecture_id)
    streams: LiveStreams = request.app.state.live_streams
    stream = streams.get(seat.meeting.id)
    path = live_hls.file_path(stream, name) if stream is not None else None
    if path is None:
        raise NotFound("the lecture is not streamed now", code="teaching.not_live")
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except FileNotFoundError:  # rolled out of the playlist just now
        raise NotFound("the lecture is not streamed now", code="teaching.not_live") from None
    suffix = name[name.rfind(".") :]
    cache = "no-cache" if suffix == ".m3u8" else "private, max-age=60"
    return Response(data, media_type=live_hls.TYPES[suffix], headers={"Cache-Control": cache})


@router.post("/teaching/lectures/{lecture_id}/slides")
async def upload_slides_form(
    request: Request,
    lecture_id: Id,
    background: BackgroundTasks,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    store: Store,
    settings: AppSettings,
    file: Annotated[UploadFile, File()],
) -> Response:
    """The page's upload form (same rules as the API), back to the lecture page."""
    await upload_slides(
        lecture_id, request, background, session, principal, actor, store, settings, file
    )
    return see_other(f"/teaching/lectures/{lecture_id}?done=slides_uploaded")
