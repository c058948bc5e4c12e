"""learning: lecture attendance, quizzes, courses and CME credit, the literature shelf,
de-identification reviews of clinical recordings

Revision ID: 54fcf3d2a3d5
Revises: 7d3b9e2a4c61
Create Date: 2026-12-07 17:23:33.514956
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "54fcf3d2a3d5"
down_revision: str | None = "7d3b9e2a4c61"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "learning_course",
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("credit_hours", sa.Float(), nullable=False),
        sa.Column("min_minutes", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["org_user.id"],
            name=op.f("fk_learning_course_created_by_id_org_user"),
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["org_institution.id"],
            name=op.f("fk_learning_course_institution_id_org_institution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_course")),
    )
    with op.batch_alter_table("learning_course", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_learning_course_institution_id"), ["institution_id"], unique=False
        )

    op.create_table(
        "learning_quiz",
        sa.Column(
            "subject_kind",
            sa.Enum("lecture", "video", name="subjectkind", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("pass_percent", sa.Integer(), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["org_user.id"], name=op.f("fk_learning_quiz_created_by_id_org_user")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["org_institution.id"],
            name=op.f("fk_learning_quiz_institution_id_org_institution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_quiz")),
        sa.UniqueConstraint(
            "subject_kind", "subject_id", name=op.f("uq_learning_quiz_subject_kind_subject_id")
        ),
    )
    with op.batch_alter_table("learning_quiz", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_learning_quiz_institution_id"), ["institution_id"], unique=False
        )

    op.create_table(
        "learning_course_item",
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("lecture", "video", name="subjectkind", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("ref_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["learning_course.id"],
            name=op.f("fk_learning_course_item_course_id_learning_course"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_course_item")),
        sa.UniqueConstraint(
            "course_id",
            "kind",
            "ref_id",
            name=op.f("uq_learning_course_item_course_id_kind_ref_id"),
        ),
    )
    with op.batch_alter_table("learning_course_item", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_learning_course_item_course_id"), ["course_id"], unique=False
        )

    op.create_table(
        "learning_enrolment",
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("credit_hours", sa.Float(), nullable=False),
        sa.Column("credit_year", sa.Integer(), nullable=True),
        sa.Column("certificate_no", sa.String(length=32), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["learning_course.id"],
            name=op.f("fk_learning_enrolment_course_id_learning_course"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["org_institution.id"],
            name=op.f("fk_learning_enrolment_institution_id_org_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["org_user.id"], name=op.f("fk_learning_enrolment_user_id_org_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_enrolment")),
        sa.UniqueConstraint("certificate_no", name=op.f("uq_learning_enrolment_certificate_no")),
        sa.UniqueConstraint(
            "course_id", "user_id", name=op.f("uq_learning_enrolment_course_id_user_id")
        ),
    )
    with op.batch_alter_table("learning_enrolment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_learning_enrolment_course_id"), ["course_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_learning_enrolment_credit_year"), ["credit_year"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_learning_enrolment_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_learning_enrolment_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "learning_quiz_attempt",
        sa.Column("quiz_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("score_percent", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["quiz_id"],
            ["learning_quiz.id"],
            name=op.f("fk_learning_quiz_attempt_quiz_id_learning_quiz"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["org_user.id"], name=op.f("fk_learning_quiz_attempt_user_id_org_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_quiz_attempt")),
    )
    with op.batch_alter_table("learning_quiz_attempt", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_learning_quiz_attempt_quiz_id"), ["quiz_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_learning_quiz_attempt_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "learning_document",
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=True),
        sa.Column("meeting_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["learning_course.id"],
            name=op.f("fk_learning_document_course_id_learning_course"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["org_institution.id"],
            name=op.f("fk_learning_document_institution_id_org_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings_meeting.id"],
            name=op.f("fk_learning_document_meeting_id_meetings_meeting"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"],
            ["org_user.id"],
            name=op.f("fk_learning_document_uploaded_by_id_org_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_document")),
    )
    with op.batch_alter_table("learning_document", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_learning_document_course_id"), ["course_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_learning_document_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_learning_document_meeting_id"), ["meeting_id"], unique=False
        )

    op.create_table(
        "meetings_attendance",
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("identity", sa.String(length=24), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("terminal_id", sa.Integer(), nullable=True),
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("connection", sa.String(length=64), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["org_institution.id"],
            name=op.f("fk_meetings_attendance_institution_id_org_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings_meeting.id"],
            name=op.f("fk_meetings_attendance_meeting_id_meetings_meeting"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["org_terminal.id"],
            name=op.f("fk_meetings_attendance_terminal_id_org_terminal"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["org_user.id"], name=op.f("fk_meetings_attendance_user_id_org_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings_attendance")),
    )
    with op.batch_alter_table("meetings_attendance", schema=None) as batch_op:
        batch_op.create_index(
            "ix_meetings_attendance_meeting_identity", ["meeting_id", "identity"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_meetings_attendance_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "learning_deid_review",
        sa.Column("recording_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("submitted_by_id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "submitted",
                "approved",
                "rejected",
                name="reviewstate",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("video_id", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["org_institution.id"],
            name=op.f("fk_learning_deid_review_institution_id_org_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["meetings_recording.id"],
            name=op.f("fk_learning_deid_review_recording_id_meetings_recording"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["org_user.id"],
            name=op.f("fk_learning_deid_review_reviewer_id_org_user"),
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"],
            ["org_user.id"],
            name=op.f("fk_learning_deid_review_submitted_by_id_org_user"),
        ),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["teaching_video.id"],
            name=op.f("fk_learning_deid_review_video_id_teaching_video"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_deid_review")),
    )
    with op.batch_alter_table("learning_deid_review", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_learning_deid_review_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_learning_deid_review_recording_id"), ["recording_id"], unique=False
        )

    # The literature shelf's search: character trigrams (yiyun.core.textsearch.FullText).
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE learning_document_fts USING fts5("
            "search_text, content='learning_document', content_rowid='id', tokenize='trigram')"
        )
        op.execute(
            "CREATE TRIGGER learning_document_fts_ai AFTER INSERT ON learning_document BEGIN "
            "INSERT INTO learning_document_fts(rowid, search_text) "
            "VALUES (new.id, new.search_text); END"
        )
        op.execute(
            "CREATE TRIGGER learning_document_fts_ad AFTER DELETE ON learning_document BEGIN "
            "INSERT INTO learning_document_fts(learning_document_fts, rowid, search_text) "
            "VALUES ('delete', old.id, old.search_text); END"
        )
        op.execute(
            "CREATE TRIGGER learning_document_fts_au AFTER UPDATE OF search_text "
            "ON learning_document BEGIN "
            "INSERT INTO learning_document_fts(learning_document_fts, rowid, search_text) "
            "VALUES ('delete', old.id, old.search_text); "
            "INSERT INTO learning_document_fts(rowid, search_text) "
            "VALUES (new.id, new.search_text); END"
        )
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_learning_document_search_trgm ON learning_document "
            "USING gin (search_text gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS learning_document_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS learning_document_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_learning_document_search_trgm")
    with op.batch_alter_table("learning_deid_review", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_learning_deid_review_recording_id"))
        batch_op.drop_index(batch_op.f("ix_learning_deid_review_institution_id"))

    op.drop_table("learning_deid_review")
    with op.batch_alter_table("meetings_attendance", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meetings_attendance_user_id"))
        batch_op.drop_index("ix_meetings_attendance_meeting_identity")

    op.drop_table("meetings_attendance")
    with op.batch_alter_table("learning_document", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_learning_document_meeting_id"))
        batch_op.drop_index(batch_op.f("ix_learning_document_institution_id"))
        batch_op.drop_index(batch_op.f("ix_learning_document_course_id"))

    op.drop_table("learning_document")
    with op.batch_alter_table("learning_quiz_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_learning_quiz_attempt_user_id"))
        batch_op.drop_index(batch_op.f("ix_learning_quiz_attempt_quiz_id"))

    op.drop_table("learning_quiz_attempt")
    with op.batch_alter_table("learning_enrolment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_learning_enrolment_user_id"))
        batch_op.drop_index(batch_op.f("ix_learning_enrolment_institution_id"))
        batch_op.drop_index(batch_op.f("ix_learning_enrolment_credit_year"))
        batch_op.drop_index(batch_op.f("ix_learning_enrolment_course_id"))

    op.drop_table("learning_enrolment")
    with op.batch_alter_table("learning_course_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_learning_course_item_course_id"))

    op.drop_table("learning_course_item")
    with op.batch_alter_table("learning_quiz", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_learning_quiz_institution_id"))

    op.drop_table("learning_quiz")
    with op.batch_alter_table("learning_course", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_learning_course_institution_id"))

    op.drop_table("learning_course")
