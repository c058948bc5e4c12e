"""surveillance: counts, signals, alerts

Revision ID: e2fbfa426fdc
Revises: f49cedbfb41c
Create Date: 2026-11-26 04:51:35.062871
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e2fbfa426fdc"
down_revision: str | None = "f49cedbfb41c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "surveillance_job",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_surveillance_job")),
    )
    op.create_table(
        "surveillance_syndrome",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("icd10_prefixes", sa.JSON(), nullable=False),
        sa.Column("keywords_zh", sa.JSON(), nullable=False),
        sa.Column("keywords_en", sa.JSON(), nullable=False),
        sa.Column("requires", sa.JSON(), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveillance_syndrome")),
        sa.UniqueConstraint("code", name=op.f("uq_surveillance_syndrome_code")),
    )
    op.create_table(
        "surveillance_daily_count",
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("syndrome", sa.String(length=32), nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column(
            "source",
            sa.Enum(
                "api", "csv", "fhir", "derived", name="countsource", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["org_institution.id"],
            name=op.f("fk_surveillance_daily_count_institution_id_org_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["syndrome"],
            ["surveillance_syndrome.code"],
            name=op.f("fk_surveillance_daily_count_syndrome_surveillance_syndrome"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveillance_daily_count")),
        sa.UniqueConstraint(
            "institution_id",
            "syndrome",
            "on",
            name=op.f("uq_surveillance_daily_count_institution_id_syndrome_on"),
        ),
    )
    with op.batch_alter_table("surveillance_daily_count", schema=None) as batch_op:
        batch_op.create_index(
            "ix_surveillance_daily_count_syndrome_on", ["syndrome", "on"], unique=False
        )

    op.create_table(
        "surveillance_alert",
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("syndrome", sa.String(length=32), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "new",
                "acknowledged",
                "investigating",
                "confirmed",
                "dismissed",
                "closed",
                name="alertstate",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "outcome",
            sa.Enum(
                "new",
                "acknowledged",
                "investigating",
                "confirmed",
                "dismissed",
                "closed",
                name="alertstate",
                native_enum=False,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column(
            "severity",
            sa.Enum(
                "low", "medium", "high", "critical", name="severity", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("observed", sa.Integer(), nullable=False),
        sa.Column("expected", sa.Double(), nullable=False),
        sa.Column("signal_count", sa.Integer(), nullable=False),
        sa.Column("assigned_to_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalations", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assigned_to_id"],
            ["org_user.id"],
            name=op.f("fk_surveillance_alert_assigned_to_id_org_user"),
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["org_institution.id"],
            name=op.f("fk_surveillance_alert_institution_id_org_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["syndrome"],
            ["surveillance_syndrome.code"],
            name=op.f("fk_surveillance_alert_syndrome_surveillance_syndrome"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveillance_alert")),
    )
    with op.batch_alter_table("surveillance_alert", schema=None) as batch_op:
        batch_op.create_index(
            "ix_surveillance_alert_scope", ["institution_id", "syndrome", "state"], unique=False
        )
        batch_op.create_index(
            "ix_surveillance_alert_state_created", ["state", "created_at"], unique=False
        )

    op.create_table(
        "surveillance_alert_event",
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["org_user.id"],
            name=op.f("fk_surveillance_alert_event_actor_id_org_user"),
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["surveillance_alert.id"],
            name=op.f("fk_surveillance_alert_event_alert_id_surveillance_alert"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveillance_alert_event")),
    )
    with op.batch_alter_table("surveillance_alert_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_surveillance_alert_event_alert_id"), ["alert_id"], unique=False
        )

    op.create_table(
        "surveillance_signal",
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("syndrome", sa.String(length=32), nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("observed", sa.Integer(), nullable=False),
        sa.Column("expected", sa.Double(), nullable=False),
        sa.Column("threshold", sa.Double(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["surveillance_alert.id"],
            name=op.f("fk_surveillance_signal_alert_id_surveillance_alert"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["org_institution.id"],
            name=op.f("fk_surveillance_signal_institution_id_org_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["syndrome"],
            ["surveillance_syndrome.code"],
            name=op.f("fk_surveillance_signal_syndrome_surveillance_syndrome"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveillance_signal")),
        sa.UniqueConstraint(
            "institution_id",
            "syndrome",
            "on",
            "method",
            name=op.f("uq_surveillance_signal_institution_id_syndrome_on_method"),
        ),
    )
    with op.batch_alter_table("surveillance_signal", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_surveillance_signal_alert_id"), ["alert_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("surveillance_signal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_surveillance_signal_alert_id"))

    op.drop_table("surveillance_signal")
    with op.batch_alter_table("surveillance_alert_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_surveillance_alert_event_alert_id"))

    op.drop_table("surveillance_alert_event")
    with op.batch_alter_table("surveillance_alert", schema=None) as batch_op:
        batch_op.drop_index("ix_surveillance_alert_state_created")
        batch_op.drop_index("ix_surveillance_alert_scope")

    op.drop_table("surveillance_alert")
    with op.batch_alter_table("surveillance_daily_count", schema=None) as batch_op:
        batch_op.drop_index("ix_surveillance_daily_count_syndrome_on")

    op.drop_table("surveillance_daily_count")
    op.drop_table("surveillance_syndrome")
    op.drop_table("surveillance_job")
