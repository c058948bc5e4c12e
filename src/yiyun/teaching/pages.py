"""Teaching pages: the library (search, upload, my uploads) and the player; the HLS
files and thumbnails are served from the blob store to signed-in staff only."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from yiyun.auth.policy import Action, allows, own
from yiyun.core.errors import NotFound
from yiyun.core.pagination import PageParams
from yiyun.teaching import service, uploads, workflow
from yiyun.teaching.models import Video, VideoState
from yiyun.teaching.schemas import VideoMeta
from yiyun.web.blobs import blob_response
from yiyun.web.deps import AppSettings, CurrentActor, CurrentPrincipal, DbSession, Store
from yiyun.web.pagekit import invalid, page, see_other
from yiyun.web.params import Id

router = APIRouter()
# `master.m3u8`, `720p/index.m3u8`, `720p/init.mp4`, `720p/seg_00012.m4s`
HLS_FILE = re.compile(r"^(?:[0-9a-z]{1,8}/)?(?:master\.m3u8|index\.m3u8|init\.mp4|seg_\d{5}\.m4s)$")
HLS_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mp4": "video/mp4",
    ".m4s": "video/iso.segment",
}
PAGE_SIZE = 24


def _may_manage(principal: object, video: Video) -> bool:
    return workflow.MACHINE.may(principal, video, "withdraw")


@router.get("/teaching", response_class=HTMLResponse)
async def library(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    q: Annotated[str, Query(max_length=200)] = "",
    specialty: Annotated[str, Query(max_length=64)] = "",
    mine: bool = False,
    page_no: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> HTMLResponse:
    params = PageParams(page=page_no, size=PAGE_SIZE)
    filters = service.Filters(q=q, specialty=specialty, mine=mine)
    rows, total = await service.search(
        session=session, principal=principal, filters=filters, params=params
    )
    progress = await service.progress_of(session, principal.user_id, [v.id for v in rows])
    context = {
        "videos": rows,
        "total": total,
        "q": q,
        "specialty": specialty,
        "mine": mine,
        "page_no": page_no,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "specialties": await service.specialties(session),
        "progress": {v.id: service.completed_share(progress.get(v.id), v) for v in rows},
        "completed": {i for i, p in progress.items() if p.completed_at is not None},
        "can_upload": allows(principal, Action.PUBLISH_TEACHING, own(principal)),
        "busy": any(v.state in (VideoState.UPLOADED, VideoState.TRANSCODING) for v in rows),
        "max_upload_mb": request.app.state.settings.teaching.max_upload_mb,
    }
    if request.headers.get("HX-Request") and request.query_params.get("part") == "grid":
        return page(request, principal, "teaching/_grid.html", context)
    return page(request, principal, "teaching/library.html", context)


@router.post("/teaching/upload")
async def upload(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    store: Store,
    settings: AppSettings,
    file: Annotated[UploadFile, File()],
    title: Annotated[str, Form(max_length=200)],
    description: Annotated[str, Form(max_length=5000)] = "",
    specialty: Annotated[str, Form(max_length=64)] = "",
    tags: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    try:
        meta = VideoMeta(title=title, description=description, specialty=specialty, tags=[tags])
    except ValidationError as exc:
        raise invalid(exc) from None
    service.require_publish(principal)
    path, name, size = await uploads.receive(
        file, settings.data_dir / "teaching-work", settings.teaching.max_upload_mb << 20
    )
    await service.create(
        session=session,
        store=store,
        bus=request.app.state.bus,
        principal=principal,
        actor=actor,
        meta=meta,
        filename=name,
        source=path,
        size=size,
    )
    return see_other("/teaching?mine=true&done=video_uploaded")


@router.get("/teaching/videos/{video_id}", response_class=HTMLResponse)
async def player(
    request: Request, video_id: Id, session: DbSession, principal: CurrentPrincipal
) -> HTMLResponse:
    video = await service.get(session=session, principal=principal, video_id=video_id)
    watched = (await service.progress_of(session, principal.user_id, [video.id])).get(video.id)
    return page(
        request,
        principal,
        "teaching/player.html",
        {
            "v": video,
            "watch": watched,
            "share": service.completed_share(watched, video),
            "may_manage": _may_manage(principal, video),
            "watermark": principal.display_name,
        },
    )


@router.post("/teaching/videos/{video_id}/{action}")
async def step(
    request: Request,
    video_id: Id,
    action: service.OwnerAction,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> Response:
    await service.step(
        session=session,
        bus=request.app.state.bus,
        principal=principal,
        actor=actor,
        video_id=video_id,
        action=action,
    )
    return see_other(f"/teaching/videos/{video_id}?done=video_{action}")


@router.get("/teaching/videos/{video_id}/hls/{name:path}")
async def hls_file(
    request: Request,
    video_id: Id,
    name: str,
    session: DbSession,
    principal: CurrentPrincipal,
    store: Store,
) -> Response:
    """A playlist or segment of a ready video (files are fixed per transcode run)."""
    if not HLS_FILE.match(name):
        raise NotFound("no such file", code="teaching.no_file")
    video = await service.playable(session=session, principal=principal, video_id=video_id)
    suffix = name[name.rfind(".") :]
    return await blob_response(
        store,
        f"{video.hls_prefix}/{name}",
        range_header=request.headers.get("range"),
        media_type=HLS_TYPES[suffix],
        headers={"Cache-Control": "private, max-age=3600"},
    )


@router.get("/teaching/videos/{video_id}/thumbnail.jpg")
async def thumbnail(
    request: Request, video_id: Id, session: DbSession, principal: CurrentPrincipal, store: Store
) -> Response:
    video = await service.get(session=session, principal=principal, video_id=video_id)
    if video.thumbnail_key is None:
        raise NotFound("the video has no thumbnail yet", code="teaching.not_ready")
    return await blob_response(
        store,
        video.thumbnail_key,
        range_header=None,
        media_type="image/jpeg",
        headers={"Cache-Control": "private, max-age=3600"},
    )
