"""audit: the institutions an entry is about (a patient's), besides the actor's

Revision ID: 7a1e5c0d9b21
Revises: 7c3e9a1b2d40
Create Date: 2026-12-07 11:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7a1e5c0d9b21"
down_revision: str | None = "7c3e9a1b2d40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject_institutions", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_column("subject_institutions")
