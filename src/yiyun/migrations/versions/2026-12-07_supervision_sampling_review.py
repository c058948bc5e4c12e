"""supervision: sampling review (samples of closed cases and their review verdicts)

Revision ID: 7d3b9e2a4c61
Revises: 3b7d9e2a4c61
Create Date: 2026-12-07 18:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7d3b9e2a4c61"
down_revision: str | None = "3b7d9e2a4c61"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "supervision_sample",
        sa.Column(
            "kind",
            sa.Enum("consult", "visit", name="casekind", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("drawn_by_id", sa.Integer(), nullable=False),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["drawn_by_id"],
            ["org_user.id"],
            name=op.f("fk_supervision_sample_drawn_by_id_org_user"),
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["org_institution.id"],
            name=op.f("fk_supervision_sample_institution_id_org_institution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_sample")),
    )
    op.create_index(
        op.f("ix_supervision_sample_institution_id"), "supervision_sample", ["institution_id"]
    )
    op.create_table(
        "supervision_review",
        sa.Column("sample_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("case_closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "verdict",
            sa.Enum("compliant", "minor", "major", name="verdict", native_enum=False, length=32),
            nullable=True,
        ),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("comment", sa.String(length=1000), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["org_user.id"],
            name=op.f("fk_supervision_review_reviewer_id_org_user"),
        ),
        sa.ForeignKeyConstraint(
            ["sample_id"],
            ["supervision_sample.id"],
            name=op.f("fk_supervision_review_sample_id_supervision_sample"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_review")),
        sa.UniqueConstraint(
            "sample_id", "case_id", name=op.f("uq_supervision_review_sample_id_case_id")
        ),
    )
    op.create_index(op.f("ix_supervision_review_sample_id"), "supervision_review", ["sample_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_supervision_review_sample_id"), table_name="supervision_review")
    op.drop_table("supervision_review")
    op.drop_index(op.f("ix_supervision_sample_institution_id"), table_name="supervision_sample")
    op.drop_table("supervision_sample")
