"""Notification table: the in-app inbox, the database being the source of truth."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from yiyun.core.db import Base, IdMixin


class Notification(IdMixin, Base):
    __tablename__ = "notify_notification"

    user_id: Mapped[int] = mapped_column(ForeignKey("org_user.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))  # e.g. "meeting.ring", "alert.new"
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(1000), default="")
    link: Mapped[str | None] = mapped_column(String(300))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    urgent: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_notify_notification_user_unread", "user_id", "read_at"),)
