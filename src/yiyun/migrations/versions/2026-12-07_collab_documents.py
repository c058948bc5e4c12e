"""collab: real-time documents (append log + snapshot)

Revision ID: 1ecceb24b787
Revises: 9a7c1e5b3d20
Create Date: 2026-12-07 14:08:25.420935
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1ecceb24b787"
down_revision: str | None = "9a7c1e5b3d20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "collab_doc",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("snapshot", sa.LargeBinary(), nullable=False),
        sa.Column("snapshot_upto", sa.BigInteger(), nullable=False),
        sa.Column("compactions", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collab_doc")),
        sa.UniqueConstraint("kind", "key", name=op.f("uq_collab_doc_kind_key")),
    )
    op.create_table(
        "collab_update",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("doc_id", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["doc_id"],
            ["collab_doc.id"],
            name=op.f("fk_collab_update_doc_id_collab_doc"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["org_user.id"],
            name=op.f("fk_collab_update_user_id_org_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collab_update")),
        # ids never reused after compaction deletes the newest rows (snapshot_upto)
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("collab_update", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_collab_update_doc_id"), ["doc_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("collab_update", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collab_update_doc_id"))

    op.drop_table("collab_update")
    op.drop_table("collab_doc")
