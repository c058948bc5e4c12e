"""teaching: the video-on-demand library (videos, watch progress, trigram search)

Revision ID: 9a7c1e5b3d20
Revises: 7c3d9e1f2a40
Create Date: 2026-12-07 14:10:47.735971
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9a7c1e5b3d20"
down_revision: str | None = "7c3d9e1f2a40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "teaching_video",
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("specialty", sa.String(length=64), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "uploaded",
                "transcoding",
                "ready",
                "failed",
                "withdrawn",
                name="videostate",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("source_key", sa.String(length=200), nullable=False),
        sa.Column("source_name", sa.String(length=200), nullable=False),
        sa.Column("source_bytes", sa.Integer(), nullable=False),
        sa.Column("duration_s", sa.Double(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("renditions", sa.JSON(), nullable=False),
        sa.Column("hls_prefix", sa.String(length=200), nullable=True),
        sa.Column("thumbnail_key", sa.String(length=200), nullable=True),
        sa.Column("progress", sa.Double(), nullable=False),
        sa.Column("progress_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["org_institution.id"],
            name=op.f("fk_teaching_video_institution_id_org_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"],
            ["org_user.id"],
            name=op.f("fk_teaching_video_uploaded_by_id_org_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teaching_video")),
    )
    with op.batch_alter_table("teaching_video", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_teaching_video_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_teaching_video_state"), ["state"], unique=False)

    op.create_table(
        "teaching_watch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("position_s", sa.Double(), nullable=False),
        sa.Column("watched", sa.JSON(), nullable=False),
        sa.Column("watched_s", sa.Double(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["org_user.id"], name=op.f("fk_teaching_watch_user_id_org_user")
        ),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["teaching_video.id"],
            name=op.f("fk_teaching_watch_video_id_teaching_video"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teaching_watch")),
        sa.UniqueConstraint("user_id", "video_id", name=op.f("uq_teaching_watch_user_id_video_id")),
    )
    with op.batch_alter_table("teaching_watch", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_teaching_watch_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_teaching_watch_video_id"), ["video_id"], unique=False)

    # Search: character trigrams (see yiyun.core.textsearch.FullText).
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE teaching_video_fts USING fts5("
            "search_text, content='teaching_video', content_rowid='id', tokenize='trigram')"
        )
        op.execute(
            "CREATE TRIGGER teaching_video_fts_ai AFTER INSERT ON teaching_video BEGIN "
            "INSERT INTO teaching_video_fts(rowid, search_text) VALUES (new.id, new.search_text);"
            " END"
        )
        op.execute(
            "CREATE TRIGGER teaching_video_fts_ad AFTER DELETE ON teaching_video BEGIN "
            "INSERT INTO teaching_video_fts(teaching_video_fts, rowid, search_text) "
            "VALUES ('delete', old.id, old.search_text); END"
        )
        op.execute(
            "CREATE TRIGGER teaching_video_fts_au AFTER UPDATE OF search_text ON teaching_video "
            "BEGIN INSERT INTO teaching_video_fts(teaching_video_fts, rowid, search_text) "
            "VALUES ('delete', old.id, old.search_text); "
            "INSERT INTO teaching_video_fts(rowid, search_text) VALUES (new.id, new.search_text);"
            " END"
        )
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_teaching_video_search_trgm ON teaching_video "
            "USING gin (search_text gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS teaching_video_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS teaching_video_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_teaching_video_search_trgm")

    with op.batch_alter_table("teaching_watch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_teaching_watch_video_id"))
        batch_op.drop_index(batch_op.f("ix_teaching_watch_user_id"))

    op.drop_table("teaching_watch")
    with op.batch_alter_table("teaching_video", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_teaching_video_state"))
        batch_op.drop_index(batch_op.f("ix_teaching_video_institution_id"))

    op.drop_table("teaching_video")
