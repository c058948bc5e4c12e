"""Teaching REST API: upload, catalogue and search, watch progress, withdraw."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from pydantic import ValidationError

from yiyun.core.pagination import Page
from yiyun.teaching import service, uploads
from yiyun.teaching.models import Video
from yiyun.teaching.schemas import VideoMeta, VideoRead, WatchRead, WatchUpdate
from yiyun.web.deps import AppSettings, CurrentActor, CurrentPrincipal, DbSession, Store
from yiyun.web.pagekit import invalid
from yiyun.web.params import Id, Paging

router = APIRouter()


def read(video: Video) -> VideoRead:
    out = VideoRead.model_validate(video)
    if video.hls_prefix is not None:
        out.playlist_url = f"/teaching/videos/{video.id}/hls/master.m3u8"
    if video.thumbnail_key is not None:
        out.thumbnail_url = f"/teaching/videos/{video.id}/thumbnail.jpg"
    return out


@router.post("/teaching/videos", response_model=VideoRead, status_code=202)
async def upload(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    store: Store,
    settings: AppSettings,
    file: Annotated[UploadFile, File(description="MP4, MOV, WebM or MKV video")],
    title: Annotated[str, Form(max_length=200)],
    description: Annotated[str, Form(max_length=5000)] = "",
    specialty: Annotated[str, Form(max_length=64)] = "",
    tags: Annotated[str, Form(max_length=500)] = "",
) -> VideoRead:
    """Upload a video; it is transcoded in the background (202: follow `state`)."""
    try:
        meta = VideoMeta(title=title, description=description, specialty=specialty, tags=[tags])
    except ValidationError as exc:
        raise invalid(exc) from None
    service.require_publish(principal)
    path, name, size = await uploads.receive(
        file, settings.data_dir / "teaching-work", settings.teaching.max_upload_mb << 20
    )
    video = await service.create(
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
    return read(video)


@router.get("/teaching/videos", response_model=Page[VideoRead])
async def catalogue(
    session: DbSession,
    principal: CurrentPrincipal,
    params: Paging,
    q: Annotated[str, Query(max_length=200)] = "",
    specialty: Annotated[str, Query(max_length=64)] = "",
    tag: Annotated[str, Query(max_length=32)] = "",
    mine: bool = False,
) -> Page[VideoRead]:
    """The library: every term of `q` must occur in the title, description, specialty or
    tags (Chinese and English; no word breaks needed)."""
    rows, total = await service.search(
        session=session,
        principal=principal,
        filters=service.Filters(q=q, specialty=specialty, tag=tag, mine=mine),
        params=params,
    )
    return Page.of([read(v) for v in rows], total, params)


@router.get("/teaching/videos/{video_id}", response_model=VideoRead)
async def get_video(video_id: Id, session: DbSession, principal: CurrentPrincipal) -> VideoRead:
    return read(await service.get(session=session, principal=principal, video_id=video_id))


@router.put("/teaching/videos/{video_id}/progress", response_model=WatchRead)
async def watch(
    video_id: Id,
    data: WatchUpdate,
    session: DbSession,
    principal: CurrentPrincipal,
    settings: AppSettings,
) -> WatchRead:
    """Where the player is now; watched time and completion follow from the reports."""
    video = await service.playable(session=session, principal=principal, video_id=video_id)
    row = await service.watch(
        session=session,
        principal=principal,
        video=video,
        position_s=data.position_s,
        played=data.played,
        fraction=settings.teaching.complete_fraction,
    )
    return WatchRead.model_validate(row)


@router.post("/teaching/videos/{video_id}/{action}", response_model=VideoRead)
async def step(
    video_id: Id,
    action: service.OwnerAction,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> VideoRead:
    """Withdraw a video from the library, or put a withdrawn one back."""
    video = await service.step(
        session=session,
        bus=request.app.state.bus,
        principal=principal,
        actor=actor,
        video_id=video_id,
        action=action,
    )
    return read(video)
