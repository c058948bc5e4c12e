"""partners: registered partner systems, their keys, webhooks, deliveries, used assertions

Revision ID: 5b7e2a91c4d0
Revises: c0a5e1d7f2b3
Create Date: 2026-12-07 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b7e2a91c4d0"
down_revision: str | None = "c0a5e1d7f2b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "partner_partner",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("contact_name", sa.String(length=100), nullable=False),
        sa.Column("contact_email", sa.String(length=200), nullable=False),
        sa.Column("contact_phone", sa.String(length=20), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("jwks_url", sa.String(length=500), nullable=True),
        sa.Column(
            "status",
            sa.Enum("active", "suspended", name="partnerstatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("tokens_valid_after", TZ, nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["org_user.id"],
            name=op.f("fk_partner_partner_created_by_id_org_user"),
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["org_institution.id"],
            name=op.f("fk_partner_partner_institution_id_org_institution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_partner")),
        sa.UniqueConstraint("client_id", name=op.f("uq_partner_partner_client_id")),
    )
    with op.batch_alter_table("partner_partner", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_partner_partner_institution_id"), ["institution_id"], unique=False
        )
    op.create_table(
        "partner_key",
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("kid", sa.String(length=128), nullable=False),
        sa.Column("alg", sa.String(length=8), nullable=False),
        sa.Column("jwk", sa.JSON(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ, nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partner_partner.id"],
            name=op.f("fk_partner_key_partner_id_partner_partner"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_key")),
        sa.UniqueConstraint("partner_id", "kid", name=op.f("uq_partner_key_partner_id_kid")),
    )
    with op.batch_alter_table("partner_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_partner_key_partner_id"), ["partner_id"], unique=False)
    op.create_table(
        "partner_webhook",
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret_enc", sa.String(length=300), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partner_partner.id"],
            name=op.f("fk_partner_webhook_partner_id_partner_partner"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_webhook")),
    )
    with op.batch_alter_table("partner_webhook", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_partner_webhook_partner_id"), ["partner_id"], unique=False
        )
    op.create_table(
        "partner_delivery",
        sa.Column("webhook_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("event_type", sa.String(length=48), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending", "delivered", "failed", name="deliverystate", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("next_at", TZ, nullable=True),
        sa.Column("claimed_until", TZ, nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("delivered_at", TZ, nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["partner_webhook.id"],
            name=op.f("fk_partner_delivery_webhook_id_partner_webhook"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_delivery")),
    )
    with op.batch_alter_table("partner_delivery", schema=None) as batch_op:
        batch_op.create_index("ix_partner_delivery_due", ["status", "next_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_partner_delivery_webhook_id"), ["webhook_id"], unique=False
        )
    op.create_table(
        "partner_assertion",
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("jti", sa.String(length=128), nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partner_partner.id"],
            name=op.f("fk_partner_assertion_partner_id_partner_partner"),
        ),
        sa.PrimaryKeyConstraint("partner_id", "jti", name=op.f("pk_partner_assertion")),
    )
    with op.batch_alter_table("partner_assertion", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_partner_assertion_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("partner_assertion")
    op.drop_table("partner_delivery")
    op.drop_table("partner_webhook")
    op.drop_table("partner_key")
    op.drop_table("partner_partner")
