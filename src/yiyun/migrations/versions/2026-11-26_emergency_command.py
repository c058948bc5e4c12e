"""emergency: incidents, log, tasks, resource reports

Revision ID: f49cedbfb41c
Revises: 61d7f7369e2d
Create Date: 2026-11-26 04:45:16.175923
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f49cedbfb41c"
down_revision: str | None = "61d7f7369e2d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "emergency_resource_report",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_by_id", sa.Integer(), nullable=False),
        sa.Column("beds_total", sa.Integer(), nullable=False),
        sa.Column("beds_free", sa.Integer(), nullable=False),
        sa.Column("fever_clinic_capacity", sa.Integer(), nullable=False),
        sa.Column("fever_clinic_waiting", sa.Integer(), nullable=False),
        sa.Column("supplies", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reported_by_id"],
            ["org_user.id"],
            name=op.f("fk_emergency_resource_report_reported_by_id_org_user"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["org_institution.id"],
            name=op.f("fk_emergency_resource_report_site_id_org_institution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emergency_resource_report")),
    )
    with op.batch_alter_table("emergency_resource_report", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_emergency_resource_report_site_id"), ["site_id"], unique=False
        )

    op.create_table(
        "emergency_incident",
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("meeting_id", sa.Integer(), nullable=True),
        sa.Column("site_ids", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["org_user.id"],
            name=op.f("fk_emergency_incident_created_by_id_org_user"),
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings_meeting.id"],
            name=op.f("fk_emergency_incident_meeting_id_meetings_meeting"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emergency_incident")),
    )
    with op.batch_alter_table("emergency_incident", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_emergency_incident_alert_id"), ["alert_id"], unique=False
        )

    op.create_table(
        "emergency_log_entry",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["org_user.id"], name=op.f("fk_emergency_log_entry_author_id_org_user")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["emergency_incident.id"],
            name=op.f("fk_emergency_log_entry_incident_id_emergency_incident"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emergency_log_entry")),
    )
    with op.batch_alter_table("emergency_log_entry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_emergency_log_entry_incident_id"), ["incident_id"], unique=False
        )

    op.create_table(
        "emergency_task",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by_id", sa.Integer(), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["acknowledged_by_id"],
            ["org_user.id"],
            name=op.f("fk_emergency_task_acknowledged_by_id_org_user"),
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["emergency_incident.id"],
            name=op.f("fk_emergency_task_incident_id_emergency_incident"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["org_institution.id"],
            name=op.f("fk_emergency_task_site_id_org_institution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emergency_task")),
    )
    with op.batch_alter_table("emergency_task", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_emergency_task_incident_id"), ["incident_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_emergency_task_site_id"), ["site_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("emergency_task", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_emergency_task_site_id"))
        batch_op.drop_index(batch_op.f("ix_emergency_task_incident_id"))

    op.drop_table("emergency_task")
    with op.batch_alter_table("emergency_log_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_emergency_log_entry_incident_id"))

    op.drop_table("emergency_log_entry")
    with op.batch_alter_table("emergency_incident", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_emergency_incident_alert_id"))

    op.drop_table("emergency_incident")
    with op.batch_alter_table("emergency_resource_report", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_emergency_resource_report_site_id"))

    op.drop_table("emergency_resource_report")
