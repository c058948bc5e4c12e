"""meetings: what the chair holds for each person (mute, camera, recording exclusion)

Revision ID: 7c3d9e1f2a40
Revises: 8d4fa052e3c6
Create Date: 2026-12-07 11:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c3d9e1f2a40"
down_revision: str | None = "8d4fa052e3c6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "meetings_chair_hold",
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("identity", sa.String(length=24), nullable=False),
        sa.Column("audio_held", sa.Boolean(), nullable=False),
        sa.Column("video_held", sa.Boolean(), nullable=False),
        sa.Column("recording_excluded", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings_meeting.id"],
            name=op.f("fk_meetings_chair_hold_meeting_id_meetings_meeting"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings_chair_hold")),
        sa.UniqueConstraint(
            "meeting_id", "identity", name=op.f("uq_meetings_chair_hold_meeting_id_identity")
        ),
    )
    with op.batch_alter_table("meetings_chair_hold", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meetings_chair_hold_meeting_id"), ["meeting_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("meetings_chair_hold", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meetings_chair_hold_meeting_id"))
    op.drop_table("meetings_chair_hold")
