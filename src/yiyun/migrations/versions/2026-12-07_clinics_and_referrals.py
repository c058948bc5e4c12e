"""clinics and referrals: clinic sessions, slots, visits, prescriptions; referrals

Revision ID: a35bfedb4aa7
Revises: b4e1c7a9d2f3
Create Date: 2026-12-07 14:06:48.590982
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a35bfedb4aa7"
down_revision: str | None = "b4e1c7a9d2f3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "clinic_session",
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("specialist_id", sa.Integer(), nullable=False),
        sa.Column("specialty", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("slot_minutes", sa.Integer(), nullable=False),
        sa.Column("walk_in_capacity", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.String(length=16),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["org_institution.id"],
            name=op.f("fk_clinic_session_institution_id_org_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["specialist_id"],
            ["org_user.id"],
            name=op.f("fk_clinic_session_specialist_id_org_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinic_session")),
    )
    with op.batch_alter_table("clinic_session", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_clinic_session_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_clinic_session_specialist_id"), ["specialist_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_clinic_session_starts_at"), ["starts_at"], unique=False
        )

    op.create_table(
        "clinic_slot",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["clinic_session.id"],
            name=op.f("fk_clinic_slot_session_id_clinic_session"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinic_slot")),
    )
    with op.batch_alter_table("clinic_slot", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_clinic_slot_session_id"), ["session_id"], unique=False)

    op.create_table(
        "referral_referral",
        sa.Column(
            "direction",
            sa.String(length=16),
            nullable=False,
        ),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("from_institution_id", sa.Integer(), nullable=False),
        sa.Column("to_institution_id", sa.Integer(), nullable=False),
        sa.Column("to_department_id", sa.Integer(), nullable=True),
        sa.Column("specialty", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("care_plan", sa.Text(), nullable=False),
        sa.Column("appointment_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "state",
            sa.String(length=16),
            nullable=False,
        ),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decision_reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["org_user.id"],
            name=op.f("fk_referral_referral_decided_by_id_org_user"),
        ),
        sa.ForeignKeyConstraint(
            ["from_institution_id"],
            ["org_institution.id"],
            name=op.f("fk_referral_referral_from_institution_id_org_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["referral_referral.id"],
            name=op.f("fk_referral_referral_parent_id_referral_referral"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["records_patient.id"],
            name=op.f("fk_referral_referral_patient_id_records_patient"),
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["org_user.id"],
            name=op.f("fk_referral_referral_requested_by_id_org_user"),
        ),
        sa.ForeignKeyConstraint(
            ["to_department_id"],
            ["org_department.id"],
            name=op.f("fk_referral_referral_to_department_id_org_department"),
        ),
        sa.ForeignKeyConstraint(
            ["to_institution_id"],
            ["org_institution.id"],
            name=op.f("fk_referral_referral_to_institution_id_org_institution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_referral")),
    )
    with op.batch_alter_table("referral_referral", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_referral_referral_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_referral_referral_from_institution_id"),
            ["from_institution_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_referral_referral_patient_id"), ["patient_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_referral_referral_to_institution_id"),
            ["to_institution_id"],
            unique=False,
        )

    op.create_table(
        "clinic_visit",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=True),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("specialist_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("booked_by_id", sa.Integer(), nullable=False),
        sa.Column("consent_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("walk_in", sa.Boolean(), nullable=False),
        sa.Column(
            "state",
            sa.String(length=16),
            nullable=False,
        ),
        sa.Column("booked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("called_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("meeting_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["booked_by_id"], ["org_user.id"], name=op.f("fk_clinic_visit_booked_by_id_org_user")
        ),
        sa.ForeignKeyConstraint(
            ["consent_id"],
            ["records_consent.id"],
            name=op.f("fk_clinic_visit_consent_id_records_consent"),
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["org_institution.id"],
            name=op.f("fk_clinic_visit_institution_id_org_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings_meeting.id"],
            name=op.f("fk_clinic_visit_meeting_id_meetings_meeting"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["records_patient.id"],
            name=op.f("fk_clinic_visit_patient_id_records_patient"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["clinic_session.id"],
            name=op.f("fk_clinic_visit_session_id_clinic_session"),
        ),
        sa.ForeignKeyConstraint(
            ["specialist_id"],
            ["org_user.id"],
            name=op.f("fk_clinic_visit_specialist_id_org_user"),
        ),
        sa.ForeignKeyConstraint(
            ["slot_id"], ["clinic_slot.id"], name=op.f("fk_clinic_visit_slot_id_clinic_slot")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinic_visit")),
    )
    with op.batch_alter_table("clinic_visit", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_clinic_visit_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_clinic_visit_patient_id"), ["patient_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_clinic_visit_session_id"), ["session_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_clinic_visit_specialist_id"), ["specialist_id"], unique=False
        )
        batch_op.create_index(
            "ix_clinic_visit_session_state", ["session_id", "state"], unique=False
        )

    op.create_table(
        "clinic_prescription",
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.String(length=16),
            nullable=False,
        ),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("advice", sa.String(length=2000), nullable=False),
        sa.Column("drafted_by_id", sa.Integer(), nullable=False),
        sa.Column("drafted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["drafted_by_id"],
            ["org_user.id"],
            name=op.f("fk_clinic_prescription_drafted_by_id_org_user"),
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["clinic_visit.id"],
            name=op.f("fk_clinic_prescription_visit_id_clinic_visit"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinic_prescription")),
    )
    with op.batch_alter_table("clinic_prescription", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_clinic_prescription_visit_id"), ["visit_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("clinic_prescription", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clinic_prescription_visit_id"))

    op.drop_table("clinic_prescription")
    with op.batch_alter_table("clinic_visit", schema=None) as batch_op:
        batch_op.drop_index("ix_clinic_visit_session_state")
        batch_op.drop_index(batch_op.f("ix_clinic_visit_specialist_id"))
        batch_op.drop_index(batch_op.f("ix_clinic_visit_session_id"))
        batch_op.drop_index(batch_op.f("ix_clinic_visit_patient_id"))
        batch_op.drop_index(batch_op.f("ix_clinic_visit_institution_id"))

    op.drop_table("clinic_visit")
    with op.batch_alter_table("referral_referral", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referral_referral_to_institution_id"))
        batch_op.drop_index(batch_op.f("ix_referral_referral_patient_id"))
        batch_op.drop_index(batch_op.f("ix_referral_referral_from_institution_id"))
        batch_op.drop_index(batch_op.f("ix_referral_referral_created_at"))

    op.drop_table("referral_referral")
    with op.batch_alter_table("clinic_slot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clinic_slot_session_id"))

    op.drop_table("clinic_slot")
    with op.batch_alter_table("clinic_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clinic_session_starts_at"))
        batch_op.drop_index(batch_op.f("ix_clinic_session_specialist_id"))
        batch_op.drop_index(batch_op.f("ix_clinic_session_institution_id"))

    op.drop_table("clinic_session")
