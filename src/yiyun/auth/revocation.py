"""Session revocations and user changes, announced only once their transaction commits.

Services call `revoke()` (logout, account disabled) or `changed()` (roles, profile)
inside their transaction. After commit, the app node bound to the session factory
(`yiyun.auth.live.LiveSessions`) applies the change at once and publishes it on the
bus for every other node; a rolled-back transaction announces nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

CHANNEL = "auth.sessions"
NODE = "yiyun_live_sessions"
_PENDING = "yiyun_revocations_pending"


class Node(Protocol):
    def committed(self, message: dict[str, Any]) -> None: ...


@dataclass
class _Change:
    session_ids: set[int] = field(default_factory=set)
    user_ids: set[int] = field(default_factory=set)
    changed_user_ids: set[int] = field(default_factory=set)

    def message(self) -> dict[str, Any]:
        return {
            "revoked_sessions": sorted(self.session_ids),
            "revoked_users": sorted(self.user_ids),
            "changed_users": sorted(self.changed_user_ids),
        }


def _pending(session: AsyncSession) -> _Change:
    info = session.sync_session.info
    change: _Change = info.setdefault(_PENDING, _Change())
    return change


def revoke(
    session: AsyncSession, *, session_ids: Iterable[int] = (), user_ids: Iterable[int] = ()
) -> None:
    """After this transaction commits, end these sessions (or every session of these users)
    on every node: cached callers dropped, sockets closed."""
    change = _pending(session)
    change.session_ids.update(session_ids)
    change.user_ids.update(user_ids)


def changed(session: AsyncSession, *, user_ids: Iterable[int]) -> None:
    """After this transaction commits, drop these users' cached callers (roles or profile
    changed); their sockets stay open."""
    _pending(session).changed_user_ids.update(user_ids)


def _after_commit(session: Session) -> None:
    change: _Change | None = session.info.pop(_PENDING, None)
    if change is None:
        return
    node: Node | None = session.info.get(NODE)
    if node is not None:
        node.committed(change.message())


def _after_soft_rollback(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:  # the whole transaction, not a SAVEPOINT
        session.info.pop(_PENDING, None)


def install_hooks() -> None:
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_soft_rollback)


install_hooks()
