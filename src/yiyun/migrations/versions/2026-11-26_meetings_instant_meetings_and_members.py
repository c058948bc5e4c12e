"""meetings: instant meetings and members

Revision ID: 3ede4b236f68
Revises: e68c3a6a43f7
Create Date: 2026-11-26 04:07:56.469942
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3ede4b236f68"
down_revision: str | None = "e68c3a6a43f7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "meetings_meeting",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"], ["org_user.id"], name=op.f("fk_meetings_meeting_host_id_org_user")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["org_institution.id"],
            name=op.f("fk_meetings_meeting_institution_id_org_institution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings_meeting")),
        sa.UniqueConstraint("code", name=op.f("uq_meetings_meeting_code")),
    )
    with op.batch_alter_table("meetings_meeting", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meetings_meeting_institution_id"), ["institution_id"], unique=False
        )

    op.create_table(
        "meetings_member",
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("invited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings_meeting.id"],
            name=op.f("fk_meetings_member_meeting_id_meetings_meeting"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["org_user.id"], name=op.f("fk_meetings_member_user_id_org_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings_member")),
        sa.UniqueConstraint(
            "meeting_id", "user_id", name=op.f("uq_meetings_member_meeting_id_user_id")
        ),
    )
    with op.batch_alter_table("meetings_member", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meetings_member_meeting_id"), ["meeting_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_meetings_member_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("meetings_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meetings_member_user_id"))
        batch_op.drop_index(batch_op.f("ix_meetings_member_meeting_id"))

    op.drop_table("meetings_member")
    with op.batch_alter_table("meetings_meeting", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meetings_meeting_institution_id"))

    op.drop_table("meetings_meeting")
