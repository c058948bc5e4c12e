"""The transcoder: a background job on every app node that takes one uploaded video at
a time, encodes its HLS ladder with FFmpeg and publishes it.

A node claims a video by taking the workflow's `start` step; the video row carries an
optimistic-lock version, so when two nodes try the same upload, one flush wins and the
other moves on. While FFmpeg runs, the claim's progress is written every few seconds (a
sign of life): a transcode silent for `stale_minutes` (its node died) is failed and
retried. Files of a run go under a folder of their own (`hls/<attempt>/`) and the video
points at it only when every file is stored, so a failed run never shows half a ladder.
Plaintext working files live under the data folder and are removed after each run and at
start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from yiyun.audit.service import SYSTEM
from yiyun.core.bus import EventBus
from yiyun.core.clock import now
from yiyun.core.db import transaction
from yiyun.core.errors import InvalidInput, YiyunError
from yiyun.core.jobs import Periodic, node_name
from yiyun.core.storage import BlobStore
from yiyun.i18n.text import Text
from yiyun.notify import service as notify_service
from yiyun.teaching import transcode, workflow
from yiyun.teaching.config import TeachingSettings
from yiyun.teaching.models import Video, VideoState
from yiyun.teaching.service import folder

logger = logging.getLogger(__name__)
PROGRESS_EVERY_S = 2.0


@dataclass
class Context:
    factory: async_sessionmaker[AsyncSession]
    bus: EventBus
    store: BlobStore
    config: TeachingSettings
    work_dir: Path


class Transcoder:
    def __init__(
        self, ctx: Context, on_progress: Callable[[int, float], None] | None = None
    ) -> None:
        self.ctx = ctx
        self.on_progress = on_progress  # the command line's progress bar
        self.node = node_name()
        self.periodic = Periodic(
            "teaching-transcoder",
            self.tick,
            every_seconds=ctx.config.tick_seconds,
            enabled=ctx.config.jobs_enabled,
        )

    def start(self) -> None:
        # A run cut short by a stop or crash left plaintext working files: remove them.
        shutil.rmtree(self.ctx.work_dir, ignore_errors=True)
        self.periodic.start()

    async def stop(self) -> None:
        await self.periodic.stop()

    async def tick(self) -> int | None:
        """Fail dead transcodes, then take and transcode one video; its id, or None."""
        await self._fail_stale()
        video_id = await self.claim()
        if video_id is not None:
            await self.run(video_id)
        return video_id

    # --- claiming ---------------------------------------------------------------------

    async def claim(self) -> int | None:
        cfg, at = self.ctx.config, now()
        due = or_(
            Video.state == VideoState.UPLOADED,
            and_(
                Video.state == VideoState.FAILED,
                Video.attempts < cfg.max_attempts,
                Video.retry_at <= at,
            ),
        )
        try:
            async with transaction(self.ctx.factory) as session:
                video = await session.scalar(
                    select(Video).where(due).order_by(Video.created_at, Video.id).limit(1)
                )
                if video is None:
                    return None
                video.attempts += 1
                video.claimed_by = self.node
                video.progress, video.progress_at, video.error = 0.0, at, None
                await workflow.MACHINE.transition(
                    session=session,
                    bus=self.ctx.bus,
                    entity=video,
                    action="start",
                    actor=SYSTEM,
                    details={"attempt": video.attempts, "node": self.node},
                    event=workflow.fields(video),
                )
                return video.id
        except StaleDataError:  # another node claimed it first
            return None

    async def _fail_stale(self) -> None:
        cutoff = now() - timedelta(minutes=self.ctx.config.stale_minutes)
        async with transaction(self.ctx.factory) as session:
            ids = list(
                await session.scalars(
                    select(Video.id).where(
                        Video.state == VideoState.TRANSCODING, Video.progress_at < cutoff
                    )
                )
            )
        for video_id in ids:
            with contextlib.suppress(StaleDataError):
                await self._failed(video_id, "the transcoder stopped before it finished")

    # --- one run ----------------------------------------------------------------------

    async def run(self, video_id: int) -> None:
        work = self.ctx.work_dir / f"{video_id}-{time.monotonic_ns()}"
        try:
            await self._run(video_id, work)
        except (transcode.TranscodeError, YiyunError, OSError) as exc:
            logger.warning("video %s: transcode failed: %s", video_id, exc)
            # A file FFmpeg finds no video in will not do better next time.
            await self._failed(video_id, str(exc), final=isinstance(exc, InvalidInput))
        finally:
            shutil.rmtree(work, ignore_errors=True)

    async def _run(self, video_id: int, work: Path) -> None:
        missing = transcode.tools_missing()
        if missing:
            raise transcode.TranscodeError(f"{missing} on this server")
        async with self.ctx.factory() as session:
            video = await session.get(Video, video_id)
            if video is None:
                return
            source_key, attempt = video.source_key, video.attempts
        await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
        source = work / "source"
        await self._copy_out(source_key, source)
        probe = await transcode.probe(source)
        rungs = transcode.ladder(probe)
        out = work / "hls"
        last = 0.0

        async def progress(share: float) -> None:
            nonlocal last
            if time.monotonic() - last >= PROGRESS_EVERY_S:
                last = time.monotonic()
                await self._progress(video_id, share * 0.95)  # storing is the last 5 %

        await transcode.transcode(
            source, out, probe, rungs, segment_s=self.ctx.config.segment_seconds, progress=progress
        )
        await transcode.thumbnail(source, work / "thumb.jpg", probe)
        prefix = f"{folder(video_id)}/hls/{attempt}"
        files = await asyncio.to_thread(lambda: sorted(p for p in out.rglob("*") if p.is_file()))
        for path in files:
            await self.ctx.store.put_file(f"{prefix}/{path.relative_to(out).as_posix()}", path)
        thumb_key = f"{prefix}/thumb.jpg"
        await self.ctx.store.put_file(thumb_key, work / "thumb.jpg")
        await self._finished(video_id, prefix, thumb_key, probe, rungs)

    async def _copy_out(self, key: str, dest: Path) -> None:
        reader = await self.ctx.store.open(key)

        def copy() -> None:
            try:
                with dest.open("wb") as fh:
                    for index in range(-(-reader.size // reader.chunk_size)):
                        fh.write(reader.chunk(index))
            finally:
                reader.close()

        await asyncio.to_thread(copy)

    async def _progress(self, video_id: int, share: float) -> None:
        if self.on_progress is not None:
            self.on_progress(video_id, share)
        async with transaction(self.ctx.factory) as session:
            await session.execute(
                update(Video)
                .where(Video.id == video_id, Video.state == VideoState.TRANSCODING)
                .values(progress=round(share, 3), progress_at=now())
            )
        await self.ctx.bus.publish(
            workflow.CHANNEL,
            {"type": workflow.CHANNEL, "id": video_id, "action": "progress", "progress": share},
        )

    async def _finished(
        self,
        video_id: int,
        prefix: str,
        thumb_key: str,
        probe: transcode.Probe,
        rungs: list[transcode.Rung],
    ) -> None:
        async with transaction(self.ctx.factory) as session:
            video = await session.get(Video, video_id)
            if video is None:
                return
            video.hls_prefix, video.thumbnail_key = prefix, thumb_key
            video.duration_s, video.width, video.height = (
                probe.duration_s,
                probe.width,
                probe.height,
            )
            video.renditions = [{"name": r.name, "height": r.height} for r in rungs]
            video.progress, video.progress_at = 1.0, now()
            await workflow.MACHINE.transition(
                session=session,
                bus=self.ctx.bus,
                entity=video,
                action="finish",
                actor=SYSTEM,
                details={"renditions": [r.name for r in rungs]},
                event=workflow.fields(video),
            )
            await notify_service.notify(
                session=session,
                bus=self.ctx.bus,
                user_ids=[video.uploaded_by_id],
                kind="teaching.ready",
                title=Text("Your video is in the library"),
                body=Text("“{title}” can now be watched.", title=video.title),
                link=f"/teaching/videos/{video.id}",
            )

    async def _failed(self, video_id: int, reason: str, *, final: bool = False) -> None:
        async with transaction(self.ctx.factory) as session:
            video = await session.get(Video, video_id)
            if video is None or video.state != VideoState.TRANSCODING:
                return
            cfg = self.ctx.config
            if final or transcode.tools_missing():
                video.attempts = cfg.max_attempts  # no retry can succeed
            video.error = reason[:500]
            video.retry_at = now() + timedelta(minutes=cfg.retry_minutes * video.attempts)
            await workflow.MACHINE.transition(
                session=session,
                bus=self.ctx.bus,
                entity=video,
                action="fail",
                actor=SYSTEM,
                details={"attempt": video.attempts, "error": video.error},
                event=workflow.fields(video),
            )
            if video.attempts >= cfg.max_attempts:
                await notify_service.notify(
                    session=session,
                    bus=self.ctx.bus,
                    user_ids=[video.uploaded_by_id],
                    kind="teaching.failed",
                    title=Text("Your video could not be prepared"),
                    body=Text("“{title}” could not be transcoded.", title=video.title),
                    link=f"/teaching/videos/{video.id}",
                )
