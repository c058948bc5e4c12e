"""live lectures: webinar meetings, slide decks and their track, presence, lectures

Revision ID: 5e8b2c4a9d61
Revises: d4b7e2a91c06
Create Date: 2026-12-07 17:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e8b2c4a9d61"
down_revision: str | None = "d4b7e2a91c06"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DECK_STATES = ("uploaded", "rendering", "ready", "failed")


def upgrade() -> None:
    with op.batch_alter_table("meetings_meeting") as batch:
        batch.add_column(
            sa.Column("mode", sa.String(length=16), nullable=False, server_default="meeting")
        )
    op.create_table(
        "meetings_slide_deck",
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("storage_prefix", sa.String(length=200), nullable=False),
        sa.Column(
            "state",
            sa.Enum(*DECK_STATES, name="deckstate", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings_meeting.id"],
            name=op.f("fk_meetings_slide_deck_meeting_id_meetings_meeting"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"],
            ["org_user.id"],
            name=op.f("fk_meetings_slide_deck_uploaded_by_id_org_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings_slide_deck")),
    )
    op.create_index(
        op.f("ix_meetings_slide_deck_meeting_id"), "meetings_slide_deck", ["meeting_id"]
    )
    op.create_table(
        "meetings_slide_change",
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("deck_id", sa.Integer(), nullable=False),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("by", sa.String(length=24), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings_meeting.id"],
            name=op.f("fk_meetings_slide_change_meeting_id_meetings_meeting"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["deck_id"],
            ["meetings_slide_deck.id"],
            name=op.f("fk_meetings_slide_change_deck_id_meetings_slide_deck"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings_slide_change")),
    )
    op.create_index(
        "ix_meetings_slide_change_meeting_at", "meetings_slide_change", ["meeting_id", "at"]
    )
    op.create_table(
        "meetings_presence",
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("identity", sa.String(length=24), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("guest_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("via", sa.String(length=8), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings_meeting.id"],
            name=op.f("fk_meetings_presence_meeting_id_meetings_meeting"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["org_user.id"], name=op.f("fk_meetings_presence_user_id_org_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings_presence")),
    )
    op.create_index(
        "ix_meetings_presence_meeting_identity", "meetings_presence", ["meeting_id", "identity"]
    )
    op.create_index(op.f("ix_meetings_presence_user_id"), "meetings_presence", ["user_id"])
    op.create_table(
        "teaching_lecture",
        sa.Column("meeting_id", sa.Integer(), nullable=True),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("organiser_id", sa.Integer(), nullable=False),
        sa.Column("open_to_staff", sa.Boolean(), nullable=False),
        sa.Column("webrtc_audience_limit", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings_meeting.id"],
            name=op.f("fk_teaching_lecture_meeting_id_meetings_meeting"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["org_institution.id"],
            name=op.f("fk_teaching_lecture_institution_id_org_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["organiser_id"],
            ["org_user.id"],
            name=op.f("fk_teaching_lecture_organiser_id_org_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teaching_lecture")),
        sa.UniqueConstraint("meeting_id", name=op.f("uq_teaching_lecture_meeting_id")),
    )
    op.create_index(
        op.f("ix_teaching_lecture_institution_id"), "teaching_lecture", ["institution_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_teaching_lecture_institution_id"), table_name="teaching_lecture")
    op.drop_table("teaching_lecture")
    op.drop_index(op.f("ix_meetings_presence_user_id"), table_name="meetings_presence")
    op.drop_index("ix_meetings_presence_meeting_identity", table_name="meetings_presence")
    op.drop_table("meetings_presence")
    op.drop_index("ix_meetings_slide_change_meeting_at", table_name="meetings_slide_change")
    op.drop_table("meetings_slide_change")
    op.drop_index(op.f("ix_meetings_slide_deck_meeting_id"), table_name="meetings_slide_deck")
    op.drop_table("meetings_slide_deck")
    with op.batch_alter_table("meetings_meeting") as batch:
        batch.drop_column("mode")
