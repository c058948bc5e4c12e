"""Live sessions on one app node: a short-lived principal cache and the open sockets.

Resolving a token to its caller costs three queries (session row, user, roles) on
every request; `LiveSessions.resolve()` keeps the answer for a few seconds. Both the
cached callers and the sockets opened under a session are dropped the moment the
session is revoked (logout, account disabled) or the user changes (roles, profile):

* a service calls `revoke(session, ...)` or `changed(session, ...)`; nothing happens
  until the transaction commits (a rolled-back logout revokes nothing);
* after commit the node that made the change applies it at once and publishes it on
  the bus (`CHANNEL`); every other node applies it when it arrives;
* applying a revocation evicts the cache and closes every tracked socket of that
  session or user; a socket's `Ticket.revoked` turns true first, so a message that
  races the close is refused.

The cache lifetime bounds staleness should a bus message be lost (Redis restarted):
a cached caller lives `ttl` seconds at most, then is read again from the database.
A lookup that started before an eviction is not cached (a generation counter), so a
revocation cannot be undone by a slow concurrent read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.auth import revocation
from yiyun.auth import service as auth_service
from yiyun.auth.principal import Principal
from yiyun.core.bus import EventBus
from yiyun.core.clock import as_utc, now

logger = logging.getLogger(__name__)

CHANNEL = revocation.CHANNEL
DEFAULT_TTL_SECONDS = 10.0
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class LiveSession:
    """What a request needs of its session: never the ORM rows."""

    id: int
    user_id: int
    kind: str
    csrf_token: str
    expires_at: datetime
    principal: Principal


@dataclass(eq=False)
class Ticket:
    """One open socket, registered under its session and user."""

    session_id: int | None
    user_id: int | None
    close: Callable[[], Awaitable[None]]
    revoked: bool = False


class LiveSessions:
    """One per app node (`app.state.live`)."""

    def __init__(self, bus: EventBus, *, ttl: float = DEFAULT_TTL_SECONDS) -> None:
        self._bus = bus
        self._ttl = ttl
        self._cache: dict[str, tuple[float, LiveSession]] = {}
        self._generation = 0
        self._inflight: dict[str, asyncio.Future[LiveSession]] = {}
        self._tickets: set[Ticket] = set()
        self._listener: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._background: set[asyncio.Task[Any]] = set()

    # --- the principal cache -------------------------------------------------------

    async def resolve(self, session: AsyncSession, token: str) -> LiveSession:
        """The live, fully signed-in session of a cookie or bearer token."""
        key = auth_service.token_hash(token)
        hit = self._cache.get(key)
        if hit is not None:
            stamp, live = hit
            if time.monotonic() - stamp < self._ttl and as_utc(live.expires_at) > now():
                return live
            self._cache.pop(key, None)
        generation = self._generation
        pending = self._inflight.get(key)
        if pending is not None:
            # One lookup per token at a time: callers arriving while it runs (a burst
            # when the entry expires) share its answer instead of each reading the
            # session and stamping `last_used_at` in a write transaction of its own.
            await asyncio.wait({pending})
            ok = not pending.cancelled() and pending.exception() is None
            if ok and generation == self._generation:
                return pending.result()
            return await self._lookup(session, token, key, generation)  # its own answer
        future: asyncio.Future[LiveSession] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            live = await self._lookup(session, token, key, generation)
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a failure with no waiter is not "never retrieved"
            raise
        except BaseException:
            future.cancel()
            raise
        else:
            future.set_result(live)
            return live
        finally:
            if self._inflight.get(key) is future:
                del self._inflight[key]

    async def _lookup(
        self, session: AsyncSession, token: str, key: str, generation: int
    ) -> LiveSession:
        row, user = await auth_service.authenticate(session=session, token=token)
        live = LiveSession(
            id=row.id,
            user_id=user.id,
            kind=row.kind,
            csrf_token=row.csrf_token,
            expires_at=row.expires_at,
            principal=auth_service.principal_of(user, row.id),
        )
        if self._ttl > 0 and generation == self._generation:
            if len(self._cache) >= MAX_ENTRIES:
                self._cache.clear()
            self._cache[key] = (time.monotonic(), live)
        return live

    # --- sockets -------------------------------------------------------------------

    def add(
        self,
        *,
        session_id: int | None,
        user_id: int | None,
        close: Callable[[], Awaitable[None]],
    ) -> Ticket:
        """Register an open socket; `discard()` it when the socket ends."""
        ticket = Ticket(session_id=session_id, user_id=user_id or None, close=close)
        self._tickets.add(ticket)
        return ticket

    def discard(self, ticket: Ticket) -> None:
        self._tickets.discard(ticket)

    @contextlib.contextmanager
    def track(
        self,
        *,
        session_id: int | None,
        user_id: int | None,
        close: Callable[[], Awaitable[None]],
    ) -> Iterator[Ticket]:
        """Register an open socket for as long as the block runs."""
        ticket = self.add(session_id=session_id, user_id=user_id, close=close)
        try:
            yield ticket
        finally:
            self.discard(ticket)

    async def still_signed_in(
        self, factory: async_sessionmaker[AsyncSession], *, session_id: int | None, user_id: int
    ) -> bool:
        """Whether a socket opened on a credential issued earlier (a room token) may still
        act: the user is active and, when known, the session it came from is live."""
        async with factory() as session:
            return await auth_service.still_signed_in(
                session=session, session_id=session_id, user_id=user_id
            )

    # --- applying changes ----------------------------------------------------------

    def apply(self, message: dict[str, Any]) -> int:
        """Apply one change (local or from the bus); return the number of sockets closed."""
        sessions = {int(x) for x in message.get("revoked_sessions", ())}
        users = {int(x) for x in message.get("revoked_users", ())}
        changed_users = {int(x) for x in message.get("changed_users", ())}
        if not (sessions or users or changed_users):
            return 0
        self._generation += 1
        every_user = users | changed_users
        for key, (_, live) in list(self._cache.items()):
            if live.id in sessions or live.user_id in every_user:
                self._cache.pop(key, None)
        closed = 0
        for ticket in list(self._tickets):
            if ticket.revoked:
                continue
            if (ticket.session_id is not None and ticket.session_id in sessions) or (
                ticket.user_id is not None and ticket.user_id in users
            ):
                ticket.revoked = True
                self._tickets.discard(ticket)
                self._spawn(ticket.close())
                closed += 1
        return closed

    def committed(self, message: dict[str, Any]) -> None:
        """A local transaction committed this change: apply it now, then tell the others."""
        self.apply(message)
        self._spawn(self._bus.publish(CHANNEL, message))

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("session revocation step failed: %s", type(task.exception()).__name__)

    # --- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        self._listener = asyncio.create_task(self._listen())
        await asyncio.wait_for(self._ready.wait(), 10.0)

    async def _listen(self) -> None:
        while True:
            try:
                async with self._bus.subscribe(CHANNEL) as sub:
                    self._ready.set()
                    async for message in sub:
                        self.apply(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the bus went away: drop the cache, resubscribe
                logger.warning("session revocations: bus lost (%s)", type(exc).__name__)
                self._generation += 1
                self._cache.clear()
                self._ready.set()
                await asyncio.sleep(1.0)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        for task in list(self._background):
            task.cancel()
        self._cache.clear()

    def session_info(self) -> dict[str, Any]:
        """`info` for a session factory: its sessions' committed changes reach this node."""
        return {revocation.NODE: self}
