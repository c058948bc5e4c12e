"""collab: real-time documents (append log + snapshot), polls and Q&A

Revision ID: 1ecceb24b787
Revises: 7c3d9e1f2a40
Create Date: 2026-12-07 14:08:25.420935
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1ecceb24b787"
down_revision: str | None = "7c3d9e1f2a40"
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

    op.create_table(
        "collab_poll",
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("question", sa.String(length=300), nullable=False),
        sa.Column("multiple", sa.Boolean(), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["org_user.id"], name=op.f("fk_collab_poll_created_by_org_user")
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings_meeting.id"],
            name=op.f("fk_collab_poll_meeting_id_meetings_meeting"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collab_poll")),
    )
    with op.batch_alter_table("collab_poll", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_collab_poll_meeting_id"), ["meeting_id"], unique=False)

    op.create_table(
        "collab_question",
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["org_user.id"], name=op.f("fk_collab_question_author_id_org_user")
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings_meeting.id"],
            name=op.f("fk_collab_question_meeting_id_meetings_meeting"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collab_question")),
    )
    with op.batch_alter_table("collab_question", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_collab_question_meeting_id"), ["meeting_id"], unique=False
        )

    op.create_table(
        "collab_poll_option",
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["poll_id"],
            ["collab_poll.id"],
            name=op.f("fk_collab_poll_option_poll_id_collab_poll"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collab_poll_option")),
    )
    with op.batch_alter_table("collab_poll_option", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_collab_poll_option_poll_id"), ["poll_id"], unique=False
        )

    op.create_table(
        "collab_question_vote",
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["collab_question.id"],
            name=op.f("fk_collab_question_vote_question_id_collab_question"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["org_user.id"], name=op.f("fk_collab_question_vote_user_id_org_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collab_question_vote")),
        sa.UniqueConstraint(
            "question_id", "user_id", name=op.f("uq_collab_question_vote_question_id_user_id")
        ),
    )
    with op.batch_alter_table("collab_question_vote", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_collab_question_vote_question_id"), ["question_id"], unique=False
        )

    op.create_table(
        "collab_poll_vote",
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("option_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["option_id"],
            ["collab_poll_option.id"],
            name=op.f("fk_collab_poll_vote_option_id_collab_poll_option"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["poll_id"],
            ["collab_poll.id"],
            name=op.f("fk_collab_poll_vote_poll_id_collab_poll"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["org_user.id"], name=op.f("fk_collab_poll_vote_user_id_org_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collab_poll_vote")),
        sa.UniqueConstraint(
            "poll_id",
            "user_id",
            "option_id",
            name=op.f("uq_collab_poll_vote_poll_id_user_id_option_id"),
        ),
    )
    with op.batch_alter_table("collab_poll_vote", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_collab_poll_vote_poll_id"), ["poll_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("collab_poll_vote", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collab_poll_vote_poll_id"))

    op.drop_table("collab_poll_vote")
    with op.batch_alter_table("collab_question_vote", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collab_question_vote_question_id"))

    op.drop_table("collab_question_vote")
    with op.batch_alter_table("collab_poll_option", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collab_poll_option_poll_id"))

    op.drop_table("collab_poll_option")
    with op.batch_alter_table("collab_question", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collab_question_meeting_id"))

    op.drop_table("collab_question")
    with op.batch_alter_table("collab_poll", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collab_poll_meeting_id"))

    op.drop_table("collab_poll")
    with op.batch_alter_table("collab_update", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collab_update_doc_id"))

    op.drop_table("collab_update")
    op.drop_table("collab_doc")
