"""meetings polls and questions

Revision ID: 3b7d9e2a4c61
Revises: 5b7e2a91c4d0
Create Date: 2026-12-07 17:21:49.707720
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3b7d9e2a4c61"
down_revision: str | None = "5b7e2a91c4d0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "meetings_poll",
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("question", sa.String(length=300), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("multiple", sa.Boolean(), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column(
            "state",
            sa.Enum("open", "closed", name="pollstate", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["org_user.id"], name=op.f("fk_meetings_poll_created_by_org_user")
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings_meeting.id"],
            name=op.f("fk_meetings_poll_meeting_id_meetings_meeting"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings_poll")),
    )
    with op.batch_alter_table("meetings_poll", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meetings_poll_meeting_id"), ["meeting_id"], unique=False
        )

    op.create_table(
        "meetings_question",
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.String(length=1000), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "open", "answered", "hidden", name="questionstate", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["org_user.id"], name=op.f("fk_meetings_question_author_id_org_user")
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings_meeting.id"],
            name=op.f("fk_meetings_question_meeting_id_meetings_meeting"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings_question")),
    )
    with op.batch_alter_table("meetings_question", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meetings_question_meeting_id"), ["meeting_id"], unique=False
        )

    op.create_table(
        "meetings_poll_ballot",
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["poll_id"],
            ["meetings_poll.id"],
            name=op.f("fk_meetings_poll_ballot_poll_id_meetings_poll"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["org_user.id"], name=op.f("fk_meetings_poll_ballot_user_id_org_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings_poll_ballot")),
    )
    with op.batch_alter_table("meetings_poll_ballot", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meetings_poll_ballot_poll_id"), ["poll_id"], unique=False
        )

    op.create_table(
        "meetings_poll_voter",
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["poll_id"],
            ["meetings_poll.id"],
            name=op.f("fk_meetings_poll_voter_poll_id_meetings_poll"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["org_user.id"], name=op.f("fk_meetings_poll_voter_user_id_org_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings_poll_voter")),
        sa.UniqueConstraint(
            "poll_id", "user_id", name=op.f("uq_meetings_poll_voter_poll_id_user_id")
        ),
    )
    op.create_table(
        "meetings_question_vote",
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["meetings_question.id"],
            name=op.f("fk_meetings_question_vote_question_id_meetings_question"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["org_user.id"], name=op.f("fk_meetings_question_vote_user_id_org_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings_question_vote")),
        sa.UniqueConstraint(
            "question_id", "user_id", name=op.f("uq_meetings_question_vote_question_id_user_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("meetings_question_vote")
    op.drop_table("meetings_poll_voter")
    with op.batch_alter_table("meetings_poll_ballot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meetings_poll_ballot_poll_id"))

    op.drop_table("meetings_poll_ballot")
    with op.batch_alter_table("meetings_question", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meetings_question_meeting_id"))

    op.drop_table("meetings_question")
    with op.batch_alter_table("meetings_poll", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meetings_poll_meeting_id"))

    op.drop_table("meetings_poll")
