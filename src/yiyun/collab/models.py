"""Tables of real-time documents: one row per document, an append log of its updates.

`collab_doc.snapshot` holds the merged state up to `snapshot_upto` (the highest log id
folded into it); the log keeps only what came after. Compaction folds the log into the
snapshot, so storage stays bounded by the document's size, not by its editing history.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yiyun.core.clock import now
from yiyun.core.db import Base, IdMixin, TimestampMixin


class CollabDoc(IdMixin, TimestampMixin, Base):
    __tablename__ = "collab_doc"
    __table_args__ = (UniqueConstraint("kind", "key"),)

    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(64))
    schema_version: Mapped[int] = mapped_column(Integer, default=1)
    snapshot: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    snapshot_upto: Mapped[int] = mapped_column(BigInteger, default=0)
    compactions: Mapped[int] = mapped_column(Integer, default=0)


class CollabUpdate(Base):
    """One Yjs update as received, stored before anyone else sees it."""

    __tablename__ = "collab_update"
    # Ids only grow (never reused after compaction deletes the newest rows): the
    # snapshot's `snapshot_upto` is compared with them.
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    doc_id: Mapped[int] = mapped_column(ForeignKey("collab_doc.id", ondelete="CASCADE"), index=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("org_user.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(default=now)
