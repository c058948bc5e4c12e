"""stats: daily rollups, imports, space-time clusters; sites carry longitude/latitude

Revision ID: 5e1a7c93b2d4
Revises: 1ecceb24b787
Create Date: 2026-12-07 14:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e1a7c93b2d4"
down_revision: str | None = "1ecceb24b787"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stats_rollup",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("measure", sa.String(length=48), nullable=False),
        sa.Column("institution_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("department_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("service_type", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day",
            "measure",
            "institution_id",
            "department_id",
            "service_type",
            name=op.f("pk_stats_rollup"),
        ),
    )
    op.create_index("ix_stats_rollup_measure_day", "stats_rollup", ["measure", "day"])
    op.create_table(
        "stats_import",
        sa.Column("measure", sa.String(length=48), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stats_import")),
    )
    op.create_index(op.f("ix_stats_import_measure"), "stats_import", ["measure"])
    op.create_table(
        "stats_cluster",
        sa.Column("syndrome", sa.String(length=32), nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("end", sa.Date(), nullable=False),
        sa.Column("centre_id", sa.Integer(), nullable=False),
        sa.Column("site_ids", sa.JSON(), nullable=False),
        sa.Column("radius_km", sa.Double(), nullable=False),
        sa.Column("observed", sa.Integer(), nullable=False),
        sa.Column("expected", sa.Double(), nullable=False),
        sa.Column("llr", sa.Double(), nullable=False),
        sa.Column("p_value", sa.Double(), nullable=False),
        sa.Column("replicates", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stats_cluster")),
    )
    op.create_index("ix_stats_cluster_on", "stats_cluster", ["on"])
    with op.batch_alter_table("org_institution", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lon", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("lat", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("org_institution", schema=None) as batch_op:
        batch_op.drop_column("lat")
        batch_op.drop_column("lon")
    op.drop_index("ix_stats_cluster_on", table_name="stats_cluster")
    op.drop_table("stats_cluster")
    op.drop_index(op.f("ix_stats_import_measure"), table_name="stats_import")
    op.drop_table("stats_import")
    op.drop_index("ix_stats_rollup_measure_day", table_name="stats_rollup")
    op.drop_table("stats_rollup")
