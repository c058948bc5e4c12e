"""Consortium tables."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from yiyun.core.db import Base, IdMixin, TimestampMixin, stored_enum
from yiyun.org.enums import (
    InstitutionKind,
    InstitutionLevel,
    Role,
    StaffTitle,
    TerminalKind,
    TerminalStatus,
)


class Region(IdMixin, TimestampMixin, Base):
    __tablename__ = "org_region"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))


class Institution(IdMixin, TimestampMixin, Base):
    __tablename__ = "org_institution"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    kind: Mapped[InstitutionKind] = mapped_column(stored_enum(InstitutionKind))
    level: Mapped[InstitutionLevel] = mapped_column(stored_enum(InstitutionLevel))
    region_id: Mapped[int] = mapped_column(ForeignKey("org_region.id"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_institution.id"))
    address: Mapped[str] = mapped_column(String(300), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    # Position on the schematic district map, 0..1 in each axis.
    map_x: Mapped[float | None]
    map_y: Mapped[float | None]
    # Where the site is (WGS 84 degrees): the district map and the space-time scan.
    lon: Mapped[float | None]
    lat: Mapped[float | None]
    active: Mapped[bool] = mapped_column(default=True)

    region: Mapped[Region] = relationship(lazy="raise")
    parent: Mapped[Institution | None] = relationship(remote_side="Institution.id", lazy="raise")


class Department(IdMixin, TimestampMixin, Base):
    __tablename__ = "org_department"
    __table_args__ = (UniqueConstraint("institution_id", "code"),)

    institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(default=True)


class User(IdMixin, TimestampMixin, Base):
    """A staff member (and login). Clinical fields are empty for non-clinical staff."""

    __tablename__ = "org_user"

    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("org_department.id"))
    title: Mapped[StaffTitle | None] = mapped_column(stored_enum(StaffTitle))
    licence_no: Mapped[str | None] = mapped_column(String(32))
    licence_valid_until: Mapped[date | None]
    specialties: Mapped[list[str]] = mapped_column(JSON, default=list)
    years_of_practice: Mapped[int | None]
    phone_enc: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))  # work address, for reminders
    locale: Mapped[str | None] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(default=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    password_changed_at: Mapped[datetime | None]
    totp_secret_enc: Mapped[str | None] = mapped_column(String(200))
    totp_enrolled_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None]
    disabled_at: Mapped[datetime | None]

    roles: Mapped[list[UserRole]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", back_populates="user"
    )
    institution: Mapped[Institution] = relationship(lazy="raise")

    @property
    def role_set(self) -> frozenset[Role]:
        return frozenset(r.role for r in self.roles)


class UserRole(Base):
    __tablename__ = "org_user_role"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("org_user.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[Role] = mapped_column(stored_enum(Role), primary_key=True)

    user: Mapped[User] = relationship(back_populates="roles", lazy="raise")


class Terminal(IdMixin, TimestampMixin, Base):
    """A video endpoint at a site: room system, PC or large screen."""

    __tablename__ = "org_terminal"

    institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"), index=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[TerminalKind] = mapped_column(stored_enum(TerminalKind))
    status: Mapped[TerminalStatus] = mapped_column(
        stored_enum(TerminalStatus), default=TerminalStatus.OFFLINE
    )
    last_seen_at: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(default=True)
