"""foundation: consortium, identity, records, audit

Revision ID: e68c3a6a43f7
Revises:
Create Date: 2026-11-26 03:43:05.467877
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e68c3a6a43f7"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=True),
        sa.Column("entity_id", sa.String(length=64), nullable=True),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_event_seq")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index("ix_audit_event_at", ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_event_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_audit_event_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "auth_login_throttle",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_auth_login_throttle")),
    )
    op.create_table(
        "org_region",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_region")),
        sa.UniqueConstraint("code", name=op.f("uq_org_region_code")),
    )
    op.create_table(
        "org_institution",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "lead_hospital",
                "hospital",
                "community_health_centre",
                "health_authority",
                name="institutionkind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "level",
            sa.Enum(
                "tertiary_a",
                "tertiary_b",
                "secondary_a",
                "secondary_b",
                "primary",
                "ungraded",
                name="institutionlevel",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("map_x", sa.Double(), nullable=True),
        sa.Column("map_y", sa.Double(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["org_institution.id"],
            name=op.f("fk_org_institution_parent_id_org_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["region_id"], ["org_region.id"], name=op.f("fk_org_institution_region_id_org_region")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_institution")),
        sa.UniqueConstraint("code", name=op.f("uq_org_institution_code")),
    )
    op.create_table(
        "org_department",
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["org_institution.id"],
            name=op.f("fk_org_department_institution_id_org_institution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_department")),
        sa.UniqueConstraint(
            "institution_id", "code", name=op.f("uq_org_department_institution_id_code")
        ),
    )
    with op.batch_alter_table("org_department", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_org_department_institution_id"), ["institution_id"], unique=False
        )

    op.create_table(
        "org_terminal",
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "room_system",
                "pc",
                "large_screen",
                name="terminalkind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "online", "offline", "fault", name="terminalstatus", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["org_institution.id"],
            name=op.f("fk_org_terminal_institution_id_org_institution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_terminal")),
        sa.UniqueConstraint("code", name=op.f("uq_org_terminal_code")),
    )
    with op.batch_alter_table("org_terminal", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_org_terminal_institution_id"), ["institution_id"], unique=False
        )

    op.create_table(
        "org_user",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column(
            "title",
            sa.Enum(
                "chief_physician",
                "associate_chief_physician",
                "attending_physician",
                "resident_physician",
                "nurse_in_charge",
                "nurse",
                "engineer",
                "administrator",
                name="stafftitle",
                native_enum=False,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("licence_no", sa.String(length=32), nullable=True),
        sa.Column("licence_valid_until", sa.Date(), nullable=True),
        sa.Column("specialties", sa.JSON(), nullable=False),
        sa.Column("years_of_practice", sa.Integer(), nullable=True),
        sa.Column("phone_enc", sa.String(length=200), nullable=True),
        sa.Column("locale", sa.String(length=8), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("totp_secret_enc", sa.String(length=200), nullable=True),
        sa.Column("totp_enrolled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["org_department.id"],
            name=op.f("fk_org_user_department_id_org_department"),
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["org_institution.id"],
            name=op.f("fk_org_user_institution_id_org_institution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_user")),
        sa.UniqueConstraint("username", name=op.f("uq_org_user_username")),
    )
    with op.batch_alter_table("org_user", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_org_user_institution_id"), ["institution_id"], unique=False
        )

    op.create_table(
        "auth_recovery_code",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=200), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["org_user.id"],
            name=op.f("fk_auth_recovery_code_user_id_org_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_recovery_code")),
    )
    with op.batch_alter_table("auth_recovery_code", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_auth_recovery_code_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "auth_session",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("mfa_passed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["org_user.id"],
            name=op.f("fk_auth_session_user_id_org_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_auth_session_token_hash")),
    )
    with op.batch_alter_table("auth_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_session_user_id"), ["user_id"], unique=False)

    op.create_table(
        "org_user_role",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "consortium_admin",
                "institution_admin",
                "community_doctor",
                "specialist",
                "nurse",
                "dispatcher",
                "authority",
                "ops_engineer",
                name="role",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["org_user.id"],
            name=op.f("fk_org_user_role_user_id_org_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "role", name=op.f("pk_org_user_role")),
    )
    op.create_table(
        "records_patient",
        sa.Column("mpi", sa.String(length=20), nullable=False),
        sa.Column("id_number_hash", sa.String(length=64), nullable=True),
        sa.Column("id_number_enc", sa.String(length=200), nullable=True),
        sa.Column("id_number_masked", sa.String(length=18), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "sex",
            sa.Enum("male", "female", "unknown", name="sex", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("birth_on", sa.Date(), nullable=False),
        sa.Column("phone_enc", sa.String(length=200), nullable=True),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("home_institution_id", sa.Integer(), nullable=False),
        sa.Column("guardian_id", sa.Integer(), nullable=True),
        sa.Column(
            "guardian_relation",
            sa.Enum(
                "parent",
                "legal_guardian",
                "other",
                name="guardianrelation",
                native_enum=False,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["org_user.id"],
            name=op.f("fk_records_patient_created_by_id_org_user"),
        ),
        sa.ForeignKeyConstraint(
            ["guardian_id"],
            ["records_patient.id"],
            name=op.f("fk_records_patient_guardian_id_records_patient"),
        ),
        sa.ForeignKeyConstraint(
            ["home_institution_id"],
            ["org_institution.id"],
            name=op.f("fk_records_patient_home_institution_id_org_institution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_records_patient")),
        sa.UniqueConstraint("id_number_hash", name=op.f("uq_records_patient_id_number_hash")),
        sa.UniqueConstraint("mpi", name=op.f("uq_records_patient_mpi")),
    )
    with op.batch_alter_table("records_patient", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_records_patient_home_institution_id"),
            ["home_institution_id"],
            unique=False,
        )

    op.create_table(
        "records_consent",
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column(
            "purpose",
            sa.Enum(
                "telemedicine",
                "recording",
                "sharing",
                name="consentpurpose",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("target_institution_id", sa.Integer(), nullable=True),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("granted_by_id", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by_id", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["granted_by_id"],
            ["org_user.id"],
            name=op.f("fk_records_consent_granted_by_id_org_user"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["records_patient.id"],
            name=op.f("fk_records_consent_patient_id_records_patient"),
        ),
        sa.ForeignKeyConstraint(
            ["target_institution_id"],
            ["org_institution.id"],
            name=op.f("fk_records_consent_target_institution_id_org_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["withdrawn_by_id"],
            ["org_user.id"],
            name=op.f("fk_records_consent_withdrawn_by_id_org_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_records_consent")),
    )
    with op.batch_alter_table("records_consent", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_records_consent_patient_id"), ["patient_id"], unique=False
        )

    op.create_table(
        "records_document",
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "summary",
                "lab_result",
                "attachment",
                name="documentkind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("blob_key", sa.String(length=200), nullable=True),
        sa.Column("filename", sa.String(length=200), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["org_user.id"],
            name=op.f("fk_records_document_created_by_id_org_user"),
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["org_institution.id"],
            name=op.f("fk_records_document_institution_id_org_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["records_patient.id"],
            name=op.f("fk_records_document_patient_id_records_patient"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_records_document")),
    )
    with op.batch_alter_table("records_document", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_records_document_patient_id"), ["patient_id"], unique=False
        )

    op.create_table(
        "records_patient_record_no",
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("record_no", sa.String(length=32), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["org_institution.id"],
            name=op.f("fk_records_patient_record_no_institution_id_org_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["records_patient.id"],
            name=op.f("fk_records_patient_record_no_patient_id_records_patient"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_records_patient_record_no")),
        sa.UniqueConstraint(
            "institution_id",
            "record_no",
            name=op.f("uq_records_patient_record_no_institution_id_record_no"),
        ),
        sa.UniqueConstraint(
            "patient_id",
            "institution_id",
            name=op.f("uq_records_patient_record_no_patient_id_institution_id"),
        ),
    )
    with op.batch_alter_table("records_patient_record_no", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_records_patient_record_no_institution_id"),
            ["institution_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_records_patient_record_no_patient_id"), ["patient_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("records_patient_record_no", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_records_patient_record_no_patient_id"))
        batch_op.drop_index(batch_op.f("ix_records_patient_record_no_institution_id"))

    op.drop_table("records_patient_record_no")
    with op.batch_alter_table("records_document", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_records_document_patient_id"))

    op.drop_table("records_document")
    with op.batch_alter_table("records_consent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_records_consent_patient_id"))

    op.drop_table("records_consent")
    with op.batch_alter_table("records_patient", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_records_patient_home_institution_id"))

    op.drop_table("records_patient")
    op.drop_table("org_user_role")
    with op.batch_alter_table("auth_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_session_user_id"))

    op.drop_table("auth_session")
    with op.batch_alter_table("auth_recovery_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_recovery_code_user_id"))

    op.drop_table("auth_recovery_code")
    with op.batch_alter_table("org_user", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_org_user_institution_id"))

    op.drop_table("org_user")
    with op.batch_alter_table("org_terminal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_org_terminal_institution_id"))

    op.drop_table("org_terminal")
    with op.batch_alter_table("org_department", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_org_department_institution_id"))

    op.drop_table("org_department")
    op.drop_table("org_institution")
    op.drop_table("org_region")
    op.drop_table("auth_login_throttle")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_event_patient_id"))
        batch_op.drop_index(batch_op.f("ix_audit_event_institution_id"))
        batch_op.drop_index("ix_audit_event_at")

    op.drop_table("audit_event")
