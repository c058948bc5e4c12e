"""The library's rules: who uploads and sees what, search, and watch progress."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth.policy import Action, own, require
from yiyun.auth.policy import scope as policy_scope
from yiyun.auth.principal import Principal
from yiyun.core.bus import EventBus
from yiyun.core.clock import now
from yiyun.core.errors import InvalidInput, NotFound
from yiyun.core.pagination import PageParams, paginate
from yiyun.core.storage import BlobStore
from yiyun.core.textsearch import FullText
from yiyun.records.files import clean_filename
from yiyun.teaching import workflow
from yiyun.teaching.models import Video, VideoState, WatchProgress
from yiyun.teaching.schemas import VideoMeta

SEARCH = FullText(Video.search_text, Video.id, "teaching_video_fts")
# Containers FFmpeg reads that people upload lectures in (the bytes decide, see `sniff`).
VIDEO_TYPES = {
    "video/mp4": frozenset({".mp4", ".m4v", ".mov"}),
    "video/quicktime": frozenset({".mov", ".mp4"}),
    "video/webm": frozenset({".webm"}),
    "video/x-matroska": frozenset({".mkv", ".webm"}),
}
BUCKET_S = 5  # watched time is counted in 5-second buckets


def folder(video_id: int) -> str:
    return f"teaching/videos/{video_id}"


def sniff_video(filename: str, head: bytes) -> str:
    """The upload's clean name, if its bytes are a video container its name agrees with."""
    import filetype

    name = clean_filename(filename)
    kind = filetype.guess(head)
    mime = str(kind.mime) if kind is not None else None
    if mime not in VIDEO_TYPES:
        raise InvalidInput(
            "this type of file is not accepted",
            code="teaching.not_a_video",
            details={"detected": mime, "allowed": sorted(VIDEO_TYPES)},
        )
    if PurePosixPath(name).suffix.lower() not in VIDEO_TYPES[mime]:
        raise InvalidInput(
            "the file's content does not match its name",
            code="upload.disguised",
            details={"detected": mime, "extension": PurePosixPath(name).suffix.lower()},
        )
    return name


def _tags(tags: list[str]) -> list[str]:
    out: list[str] = []
    for tag in tags:
        for part in re.split(r"[,，、;；]+", tag):
            part = part.strip()[:32]
            if part and part not in out:
                out.append(part)
    return out[:20]


def _search_text(video: Video) -> str:
    return "\n".join([video.title, video.description, video.specialty, " ".join(video.tags)])


async def create(
    *,
    session: AsyncSession,
    store: BlobStore,
    bus: EventBus,
    principal: Principal,
    actor: Actor,
    meta: VideoMeta,
    filename: str,
    source: Path,
    size: int,
) -> Video:
    """Store an uploaded file (already size-checked and sniffed) as a new video waiting
    for the transcoder. `source` is moved into the store (sealed)."""
    require_publish(principal)
    video = Video(
        institution_id=principal.institution_id,
        uploaded_by_id=principal.user_id,
        title=meta.title,
        description=meta.description,
        specialty=meta.specialty,
        tags=_tags(meta.tags),
        state=VideoState.UPLOADED,
        source_key="",
        source_name=filename,
        source_bytes=size,
        renditions=[],
    )
    video.search_text = _search_text(video)
    session.add(video)
    await session.flush()
    video.source_key = f"{folder(video.id)}/source{PurePosixPath(filename).suffix.lower()}"
    await store.put_file(video.source_key, source)
    await audit.record(
        session=session,
        actor=actor,
        action="teaching.video.upload",
        entity_type="teaching_video",
        entity_id=video.id,
        details={"bytes": size},
    )
    workflow.MACHINE.announce(
        session=session,
        bus=bus,
        entity_id=video.id,
        action="upload",
        before=None,
        after=video.state,
        at=video.created_at or now(),
        extra=workflow.fields(video),
    )
    return video


OwnerAction = Literal["withdraw", "republish"]


def require_publish(principal: Principal) -> None:
    require(principal, Action.PUBLISH_TEACHING, own(principal))


def visible(principal: Principal) -> Select[Any]:
    """Videos a staff member may see: every ready video, and their own institution's
    uploads in any state if they may publish there (to follow a transcode)."""
    require(principal, Action.VIEW_TEACHING)
    query = select(Video)
    conditions = [Video.state == VideoState.READY, Video.uploaded_by_id == principal.user_id]
    managed = policy_scope(principal, Action.MANAGE_TEACHING)
    if managed.everywhere:
        return query
    conditions.append(managed.where(Video.institution_id))
    return query.where(or_(*conditions))


@dataclass(frozen=True)
class Filters:
    q: str = ""
    specialty: str = ""
    tag: str = ""
    mine: bool = False


async def search(
    *,
    session: AsyncSession,
    principal: Principal,
    filters: Filters,
    params: PageParams,
) -> tuple[list[Video], int]:
    """One page of the catalogue: every search term must occur (title, description,
    specialty, tags); newest first, titles that hold the whole query before the rest."""
    query = visible(principal)
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    q = filters.q.strip()[:200]
    if q:
        query = query.where(SEARCH.matches(q, dialect))
    if filters.specialty:
        query = query.where(Video.specialty == filters.specialty)
    if filters.tag:
        query = query.where(Video.search_text.contains(filters.tag, autoescape=True))
    if filters.mine:
        query = query.where(Video.uploaded_by_id == principal.user_id)
    in_title = Video.title.icontains(q, autoescape=True) if q else None
    order = [in_title.desc()] if in_title is not None else []
    query = query.order_by(*order, Video.created_at.desc(), Video.id.desc())
    return await paginate(session, query, params)


async def specialties(session: AsyncSession) -> list[str]:
    rows = await session.scalars(
        select(Video.specialty)
        .where(Video.state == VideoState.READY, Video.specialty != "")
        .group_by(Video.specialty)
        .order_by(func.count().desc())
    )
    return list(rows)


async def get(*, session: AsyncSession, principal: Principal, video_id: int) -> Video:
    """A video the caller may see; 404 otherwise (a hidden upload is not confirmed)."""
    video: Video | None = await session.scalar(visible(principal).where(Video.id == video_id))
    if video is None:
        raise NotFound("no such video", code="teaching.no_video")
    return video


async def playable(*, session: AsyncSession, principal: Principal, video_id: int) -> Video:
    video = await get(session=session, principal=principal, video_id=video_id)
    if video.state != VideoState.READY or video.hls_prefix is None:
        raise NotFound("the video is not ready to play", code="teaching.not_ready")
    return video


async def step(
    *,
    session: AsyncSession,
    bus: EventBus,
    principal: Principal,
    actor: Actor,
    video_id: int,
    action: OwnerAction,
) -> Video:
    """Withdraw a video from the catalogue or put it back (the owner or an administrator)."""
    video = await get(session=session, principal=principal, video_id=video_id)
    if action == "republish" and video.hls_prefix is None:
        raise InvalidInput(
            "the video was never transcoded; upload it again", code="teaching.never_transcoded"
        )
    await workflow.MACHINE.transition(
        session=session,
        bus=bus,
        entity=video,
        action=action,
        actor=actor,
        principal=principal,
        event=workflow.fields(video),
    )
    return video


async def watch(
    *,
    session: AsyncSession,
    principal: Principal,
    video: Video,
    position_s: float,
    played: list[tuple[float, float]],
    fraction: float,
) -> WatchProgress:
    """Record where the viewer is and what they played. The video is cut into 5-second
    buckets; a bucket counts as watched once a played span covers its middle, and the
    video is completed when `fraction` of its buckets are (seeking ahead is not watching)."""
    duration = video.duration_s or 0.0
    row = await session.scalar(
        select(WatchProgress).where(
            WatchProgress.user_id == principal.user_id, WatchProgress.video_id == video.id
        )
    )
    at = now()
    if row is None:
        row = WatchProgress(
            user_id=principal.user_id, video_id=video.id, watched=[], watched_s=0.0, updated_at=at
        )
        session.add(row)
    total = max(1, -(-int(duration * 1000) // (BUCKET_S * 1000)))
    buckets = set(row.watched or [])
    for start, end in played:
        for index in range(int(start // BUCKET_S), min(total, int(end // BUCKET_S) + 1)):
            middle = (index * BUCKET_S + min((index + 1) * BUCKET_S, duration)) / 2
            if start <= middle <= end:
                buckets.add(index)
    row.watched = sorted(buckets)
    row.watched_s = min(duration, sum(min(BUCKET_S, duration - i * BUCKET_S) for i in buckets))
    row.position_s = min(position_s, duration)
    row.updated_at = at
    if row.completed_at is None and len(buckets) >= fraction * total:
        row.completed_at = at
    await session.flush()
    return row


async def progress_of(
    session: AsyncSession, user_id: int, video_ids: list[int]
) -> dict[int, WatchProgress]:
    if not video_ids:
        return {}
    rows = await session.scalars(
        select(WatchProgress).where(
            WatchProgress.user_id == user_id, WatchProgress.video_id.in_(video_ids)
        )
    )
    return {r.video_id: r for r in rows}


def completed_share(row: WatchProgress | None, video: Video) -> float:
    if row is None or not video.duration_s:
        return 0.0
    return min(1.0, row.watched_s / video.duration_s)
