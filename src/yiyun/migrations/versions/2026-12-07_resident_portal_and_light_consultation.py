"""resident portal and light consultation: residents, SMS codes, sessions, inquiries

Revision ID: 182024df7fb0
Revises: b7e4a2c91d05
Create Date: 2026-12-07 14:09:54.779659
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "182024df7fb0"
down_revision: str | None = "b7e4a2c91d05"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "resident_sms_code",
        sa.Column("phone_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resident_sms_code")),
    )
    with op.batch_alter_table("resident_sms_code", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resident_sms_code_phone_hash"), ["phone_hash"], unique=False
        )

    op.create_table(
        "resident_account",
        sa.Column("phone_hash", sa.String(length=64), nullable=False),
        sa.Column("phone_enc", sa.String(length=200), nullable=False),
        sa.Column("phone_masked", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("id_number_hash", sa.String(length=64), nullable=False),
        sa.Column("id_number_enc", sa.String(length=200), nullable=False),
        sa.Column("id_number_masked", sa.String(length=18), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("locale", sa.String(length=8), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["org_institution.id"],
            name=op.f("fk_resident_account_institution_id_org_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["records_patient.id"],
            name=op.f("fk_resident_account_patient_id_records_patient"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resident_account")),
        sa.UniqueConstraint("id_number_hash", name=op.f("uq_resident_account_id_number_hash")),
        sa.UniqueConstraint("phone_hash", name=op.f("uq_resident_account_phone_hash")),
    )
    with op.batch_alter_table("resident_account", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resident_account_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_resident_account_patient_id"), ["patient_id"], unique=False
        )

    op.create_table(
        "inquiry_inquiry",
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column(
            "state",
            sa.String(length=16),
            nullable=False,
        ),
        sa.Column("claimed_by_id", sa.Integer(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reply_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.String(length=500), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=True),
        sa.Column("guest_link_enc", sa.String(length=200), nullable=True),
        sa.Column("guest_code_enc", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["claimed_by_id"],
            ["org_user.id"],
            name=op.f("fk_inquiry_inquiry_claimed_by_id_org_user"),
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["org_department.id"],
            name=op.f("fk_inquiry_inquiry_department_id_org_department"),
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["org_institution.id"],
            name=op.f("fk_inquiry_inquiry_institution_id_org_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings_meeting.id"],
            name=op.f("fk_inquiry_inquiry_meeting_id_meetings_meeting"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["records_patient.id"],
            name=op.f("fk_inquiry_inquiry_patient_id_records_patient"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["resident_account.id"],
            name=op.f("fk_inquiry_inquiry_resident_id_resident_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inquiry_inquiry")),
    )
    with op.batch_alter_table("inquiry_inquiry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inquiry_inquiry_claimed_by_id"), ["claimed_by_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_inquiry_inquiry_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_inquiry_inquiry_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_inquiry_inquiry_patient_id"), ["patient_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_inquiry_inquiry_resident_id"), ["resident_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_inquiry_inquiry_state"), ["state"], unique=False)

    op.create_table(
        "resident_session",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["resident_account.id"],
            name=op.f("fk_resident_session_resident_id_resident_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resident_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_resident_session_token_hash")),
    )
    with op.batch_alter_table("resident_session", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resident_session_resident_id"), ["resident_id"], unique=False
        )

    op.create_table(
        "inquiry_message",
        sa.Column("inquiry_id", sa.Integer(), nullable=False),
        sa.Column("from_resident", sa.Boolean(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["org_user.id"], name=op.f("fk_inquiry_message_author_id_org_user")
        ),
        sa.ForeignKeyConstraint(
            ["inquiry_id"],
            ["inquiry_inquiry.id"],
            name=op.f("fk_inquiry_message_inquiry_id_inquiry_inquiry"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inquiry_message")),
    )
    with op.batch_alter_table("inquiry_message", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inquiry_message_inquiry_id"), ["inquiry_id"], unique=False
        )

    op.create_table(
        "inquiry_file",
        sa.Column("inquiry_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("blob_key", sa.String(length=200), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["inquiry_id"],
            ["inquiry_inquiry.id"],
            name=op.f("fk_inquiry_file_inquiry_id_inquiry_inquiry"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["inquiry_message.id"],
            name=op.f("fk_inquiry_file_message_id_inquiry_message"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inquiry_file")),
    )
    with op.batch_alter_table("inquiry_file", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inquiry_file_inquiry_id"), ["inquiry_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_inquiry_file_message_id"), ["message_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("inquiry_file", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inquiry_file_message_id"))
        batch_op.drop_index(batch_op.f("ix_inquiry_file_inquiry_id"))

    op.drop_table("inquiry_file")
    with op.batch_alter_table("inquiry_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inquiry_message_inquiry_id"))

    op.drop_table("inquiry_message")
    with op.batch_alter_table("resident_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resident_session_resident_id"))

    op.drop_table("resident_session")
    with op.batch_alter_table("inquiry_inquiry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inquiry_inquiry_state"))
        batch_op.drop_index(batch_op.f("ix_inquiry_inquiry_resident_id"))
        batch_op.drop_index(batch_op.f("ix_inquiry_inquiry_patient_id"))
        batch_op.drop_index(batch_op.f("ix_inquiry_inquiry_institution_id"))
        batch_op.drop_index(batch_op.f("ix_inquiry_inquiry_department_id"))
        batch_op.drop_index(batch_op.f("ix_inquiry_inquiry_claimed_by_id"))

    op.drop_table("inquiry_inquiry")
    with op.batch_alter_table("resident_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resident_account_patient_id"))
        batch_op.drop_index(batch_op.f("ix_resident_account_institution_id"))

    op.drop_table("resident_account")
    with op.batch_alter_table("resident_sms_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resident_sms_code_phone_hash"))

    op.drop_table("resident_sms_code")
