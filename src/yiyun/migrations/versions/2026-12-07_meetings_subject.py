"""meetings: what a meeting is for (subject type and id, e.g. an emergency incident)

Revision ID: 7c3e9a1b2d40
Revises: 5b0c1d2e3f4a
Create Date: 2026-12-07 11:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c3e9a1b2d40"
down_revision: str | None = "5b0c1d2e3f4a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("meetings_meeting", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject_type", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("subject_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            "ix_meetings_meeting_subject", ["subject_type", "subject_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("meetings_meeting", schema=None) as batch_op:
        batch_op.drop_index("ix_meetings_meeting_subject")
        batch_op.drop_column("subject_id")
        batch_op.drop_column("subject_type")
