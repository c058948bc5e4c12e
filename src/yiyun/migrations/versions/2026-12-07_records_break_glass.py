"""records: break-glass grants (emergency access to one patient, reasoned and time-limited)

Revision ID: 8c2f6d1e0a32
Revises: 7a1e5c0d9b21
Create Date: 2026-12-07 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8c2f6d1e0a32"
down_revision: str | None = "7a1e5c0d9b21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "records_break_glass",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["records_patient.id"],
            name=op.f("fk_records_break_glass_patient_id_records_patient"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["org_user.id"], name=op.f("fk_records_break_glass_user_id_org_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_records_break_glass")),
    )
    with op.batch_alter_table("records_break_glass", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_records_break_glass_patient_id"), ["patient_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_records_break_glass_user_id"), ["user_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("records_break_glass", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_records_break_glass_user_id"))
        batch_op.drop_index(batch_op.f("ix_records_break_glass_patient_id"))

    op.drop_table("records_break_glass")
