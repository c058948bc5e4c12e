"""Meeting tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yiyun.core.db import Base, IdMixin, TimestampMixin


class Meeting(IdMixin, TimestampMixin, Base):
    __tablename__ = "meetings_meeting"

    code: Mapped[str] = mapped_column(String(16), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="instant")
    state: Mapped[str] = mapped_column(String(16), default="open")
    host_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"), index=True)
    ended_at: Mapped[datetime | None]

    @property
    def room_id(self) -> str:
        return f"meeting-{self.code}"


class MeetingMember(IdMixin, Base):
    """Who may join: the host and the staff they invited."""

    __tablename__ = "meetings_member"
    __table_args__ = (UniqueConstraint("meeting_id", "user_id"),)

    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings_meeting.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="participant")
    invited_at: Mapped[datetime]
