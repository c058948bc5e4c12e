"""meetings: removals kept until the host allows back; when a guest was first admitted

Revision ID: 7c3e9a41d2b5
Revises: 8c2f6d1e0a32
Create Date: 2026-12-07 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c3e9a41d2b5"
down_revision: str | None = "8c2f6d1e0a32"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "meetings_removal",
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("identity", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("by", sa.String(length=24), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings_meeting.id"],
            name=op.f("fk_meetings_removal_meeting_id_meetings_meeting"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings_removal")),
        sa.UniqueConstraint(
            "meeting_id", "identity", name=op.f("uq_meetings_removal_meeting_id_identity")
        ),
    )
    with op.batch_alter_table("meetings_removal", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meetings_removal_meeting_id"), ["meeting_id"], unique=False
        )
    with op.batch_alter_table("meetings_guest", schema=None) as batch_op:
        batch_op.add_column(sa.Column("admitted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("meetings_guest", schema=None) as batch_op:
        batch_op.drop_column("admitted_at")
    with op.batch_alter_table("meetings_removal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meetings_removal_meeting_id"))
    op.drop_table("meetings_removal")
