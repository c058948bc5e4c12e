"""org: a work e-mail address on staff accounts (meeting reminders)

Revision ID: 5b0c1d2e3f4a
Revises: 06fcec31e0df
Create Date: 2026-11-26 08:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b0c1d2e3f4a"
down_revision: str | None = "06fcec31e0df"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("org_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("org_user", schema=None) as batch_op:
        batch_op.drop_column("email")
