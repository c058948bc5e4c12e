"""The live HLS streams this app node runs, one per lecture at most (`live_hls`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from yiyun.core.errors import Conflict, YiyunError
from yiyun.media.rtp_out import RtpForwarding
from yiyun.teaching import live_hls

logger = logging.getLogger(__name__)


class LiveStreams:
    def __init__(self, engine: object, work_dir: Path, *, segment_seconds: float) -> None:
        self.engine = engine
        self.work_dir = work_dir
        self.segment_seconds = segment_seconds
        self.streams: dict[int, live_hls.LiveStream] = {}
        self._lock = asyncio.Lock()

    def get(self, meeting_id: int) -> live_hls.LiveStream | None:
        stream = self.streams.get(meeting_id)
        return stream if stream is not None and stream.running else None

    async def start(self, meeting_id: int, room_id: str, participant: str) -> live_hls.LiveStream:
        """Stream this participant of the meeting's room (restarts a stream of another)."""
        if not isinstance(self.engine, RtpForwarding):
            raise Conflict(
                "this media engine cannot stream to HLS", code="teaching.live_unsupported"
            )
        async with self._lock:
            old = self.streams.pop(meeting_id, None)
            if old is not None:
                await self._stop(old)
            stream = await live_hls.start(
                self.work_dir / str(meeting_id), segment_seconds=self.segment_seconds
            )
            try:
                stream.forward_id = await self.engine.start_forward(
                    room_id, participant, stream.target
                )
            except YiyunError:
                await live_hls.stop(stream)
                raise
            stream.room_id, stream.participant = room_id, participant
            self.streams[meeting_id] = stream
            return stream

    async def _stop(self, stream: live_hls.LiveStream) -> None:
        if stream.forward_id is not None and isinstance(self.engine, RtpForwarding):
            with contextlib.suppress(YiyunError):
                await self.engine.stop_forward(stream.room_id, stream.forward_id)
        await live_hls.stop(stream)

    async def stop(self, meeting_id: int) -> None:
        async with self._lock:
            stream = self.streams.pop(meeting_id, None)
            if stream is not None:
                await self._stop(stream)

    async def close(self) -> None:
        for meeting_id in list(self.streams):
            await self.stop(meeting_id)
