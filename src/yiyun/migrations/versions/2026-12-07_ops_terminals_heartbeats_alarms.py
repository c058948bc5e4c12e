"""ops: terminal device credentials, heartbeats (latest per terminal), nodes and alarms

Revision ID: b4e1c7a9d2f3
Revises: 5e1a7c93b2d4
Create Date: 2026-12-07 14:06:26.334238
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b4e1c7a9d2f3"
down_revision: str | None = "5e1a7c93b2d4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ops_node",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("app", "janus", "turn", name="nodekind", native_enum=False, length=8),
            nullable=False,
        ),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("up", sa.Boolean(), nullable=False),
        sa.Column("disk_used_pct", sa.Double(), nullable=True),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_ops_node")),
    )
    op.create_table(
        "ops_terminal_health",
        sa.Column("terminal_id", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column(
            "camera",
            sa.Enum("ok", "fault", "absent", name="component", native_enum=False, length=8),
            nullable=False,
        ),
        sa.Column(
            "microphone",
            sa.Enum("ok", "fault", "absent", name="component", native_enum=False, length=8),
            nullable=False,
        ),
        sa.Column(
            "screen",
            sa.Enum("ok", "fault", "absent", name="component", native_enum=False, length=8),
            nullable=False,
        ),
        sa.Column("rtt_ms", sa.Double(), nullable=False),
        sa.Column("loss_pct", sa.Double(), nullable=False),
        sa.Column("bandwidth_kbps", sa.Double(), nullable=False),
        sa.Column("heartbeats", sa.BigInteger(), nullable=False),
        sa.Column("node", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["org_terminal.id"],
            name=op.f("fk_ops_terminal_health_terminal_id_org_terminal"),
        ),
        sa.PrimaryKeyConstraint("terminal_id", name=op.f("pk_ops_terminal_health")),
    )
    op.create_table(
        "ops_alarm",
        sa.Column(
            "kind",
            sa.Enum(
                "terminal_offline",
                "call_mos_low",
                "media_node_down",
                "turn_down",
                "app_not_ready",
                "disk_full",
                "job_late",
                name="alarmkind",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("open_key", sa.String(length=230), nullable=True),
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "raised", "acknowledged", "cleared", name="alarmstate", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Integer(), nullable=True),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"], ["org_user.id"], name=op.f("fk_ops_alarm_acknowledged_by_org_user")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["org_institution.id"],
            name=op.f("fk_ops_alarm_institution_id_org_institution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_alarm")),
        sa.UniqueConstraint("open_key", name=op.f("uq_ops_alarm_open_key")),
    )
    with op.batch_alter_table("ops_alarm", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ops_alarm_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index("ix_ops_alarm_state_raised", ["state", "raised_at"], unique=False)

    op.create_table(
        "ops_device_credential",
        sa.Column("terminal_id", sa.Integer(), nullable=False),
        sa.Column("enrol_code_hash", sa.String(length=64), nullable=True),
        sa.Column("enrol_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=True),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("issued_by", sa.Integer(), nullable=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["issued_by"], ["org_user.id"], name=op.f("fk_ops_device_credential_issued_by_org_user")
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["org_terminal.id"],
            name=op.f("fk_ops_device_credential_terminal_id_org_terminal"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_device_credential")),
    )
    with op.batch_alter_table("ops_device_credential", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ops_device_credential_terminal_id"), ["terminal_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ops_device_credential", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ops_device_credential_terminal_id"))

    op.drop_table("ops_device_credential")
    with op.batch_alter_table("ops_alarm", schema=None) as batch_op:
        batch_op.drop_index("ix_ops_alarm_state_raised")
        batch_op.drop_index(batch_op.f("ix_ops_alarm_institution_id"))

    op.drop_table("ops_alarm")
    op.drop_table("ops_terminal_health")
    op.drop_table("ops_node")
