"""consult: experts' availability windows; the invited department of a request

Revision ID: d4b7e2a91c06
Revises: 54fcf3d2a3d5
Create Date: 2026-12-07 17:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d4b7e2a91c06"
down_revision: str | None = "54fcf3d2a3d5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consult_availability",
        sa.Column("expert_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["expert_id"], ["org_user.id"], name=op.f("fk_consult_availability_expert_id_org_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consult_availability")),
    )
    with op.batch_alter_table("consult_availability", schema=None) as batch_op:
        batch_op.create_index(
            "ix_consult_availability_expert_time", ["expert_id", "starts_at"], unique=False
        )
    with op.batch_alter_table("consult_consult", schema=None) as batch_op:
        batch_op.add_column(sa.Column("department_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_consult_consult_department_id_org_department"),
            "org_department",
            ["department_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("consult_consult", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_consult_consult_department_id_org_department"), type_="foreignkey"
        )
        batch_op.drop_column("department_id")
    with op.batch_alter_table("consult_availability", schema=None) as batch_op:
        batch_op.drop_index("ix_consult_availability_expert_time")
    op.drop_table("consult_availability")
