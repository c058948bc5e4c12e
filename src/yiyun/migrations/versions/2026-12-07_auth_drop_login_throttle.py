"""auth: sign-in failure counts move to the shared rate limiter (core.ratelimit)

Revision ID: 8d4fa052e3c6
Revises: 7c3e9a41d2b5
Create Date: 2026-12-07 09:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8d4fa052e3c6"
down_revision: str | None = "7c3e9a41d2b5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("auth_login_throttle")


def downgrade() -> None:
    op.create_table(
        "auth_login_throttle",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_auth_login_throttle")),
    )
