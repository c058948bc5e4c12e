"""Teaching tables: videos of the on-demand library and each viewer's progress."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yiyun.core.db import Base, IdMixin, TimestampMixin, stored_enum


class VideoState(StrEnum):
    UPLOADED = "uploaded"  # waiting for the transcoder
    TRANSCODING = "transcoding"
    READY = "ready"  # in the catalogue
    FAILED = "failed"  # the last transcode failed (retried up to a limit)
    WITHDRAWN = "withdrawn"  # taken out of the catalogue by its owner or an admin


class Video(IdMixin, TimestampMixin, Base):
    """A video of the library. The source and every HLS file live in the blob store
    (encrypted at rest) under `teaching/videos/<id>/`; `hls_prefix` is set only when a
    transcode has stored all its files, so a failed run never shows half a ladder."""

    __tablename__ = "teaching_video"

    institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"), index=True)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    specialty: Mapped[str] = mapped_column(String(64), default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Title, description, specialty and tags in one column: what search looks in.
    search_text: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[VideoState] = mapped_column(
        stored_enum(VideoState), default=VideoState.UPLOADED, index=True
    )
    source_key: Mapped[str] = mapped_column(String(200))
    source_name: Mapped[str] = mapped_column(String(200))
    source_bytes: Mapped[int] = mapped_column(Integer, default=0)
    duration_s: Mapped[float | None]
    width: Mapped[int | None]
    height: Mapped[int | None]
    renditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    hls_prefix: Mapped[str | None] = mapped_column(String(200))
    thumbnail_key: Mapped[str | None] = mapped_column(String(200))
    progress: Mapped[float] = mapped_column(default=0.0)  # 0..1 while transcoding
    progress_at: Mapped[datetime | None]  # the transcoder's last sign of life
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    retry_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(500))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    # Optimistic lock: two nodes claiming the same upload, exactly one flush wins.
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class WatchProgress(Base):
    """Where a viewer stopped, how much they watched, and when they completed a video."""

    __tablename__ = "teaching_watch"
    __table_args__ = (UniqueConstraint("user_id", "video_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"), index=True)
    video_id: Mapped[int] = mapped_column(
        ForeignKey("teaching_video.id", ondelete="CASCADE"), index=True
    )
    position_s: Mapped[float] = mapped_column(default=0.0)
    # Seconds of the video seen at least once (the set of watched 5-second buckets).
    watched: Mapped[list[int]] = mapped_column(JSON, default=list)
    watched_s: Mapped[float] = mapped_column(default=0.0)
    completed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class Lecture(IdMixin, TimestampMixin, Base):
    """A live lecture: a meeting in webinar mode (`meeting_id`, linked back by the
    meeting's subject `teaching.lecture`). Its life (scheduled, open, ended) is the
    meeting's; here is what only a lecture has: who may watch and how."""

    __tablename__ = "teaching_lecture"

    # Set in the transaction that creates the lecture (the meeting needs the lecture's id).
    meeting_id: Mapped[int | None] = mapped_column(
        ForeignKey("meetings_meeting.id", ondelete="CASCADE"), unique=True
    )
    institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"), index=True)
    organiser_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))
    # Any active staff of the consortium may watch (joining makes them audience).
    open_to_staff: Mapped[bool] = mapped_column(default=True)
    # How many audience members receive over WebRTC; the others watch the HLS stream.
    webrtc_audience_limit: Mapped[int] = mapped_column(Integer, default=200)
