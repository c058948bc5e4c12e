"""A small asyncio client for the Janus API over its WebSocket transport.

One `JanusConnection` is one WebSocket (sub-protocol `janus-protocol`) to one Janus
node. Requests carry a fresh transaction id; the reader task resolves the waiting
future when the reply arrives. Plugin requests that Janus answers asynchronously are
acknowledged first (`ack`) and completed later by an `event` with the same
transaction: `JanusHandle.message` waits for that event. Everything else Janus pushes
(`event`, `webrtcup`, `hangup`, `slowlink`, `media`, `detached`, `timeout`) is routed
by handle id to the handle's `on_event` coroutine, in order, by one dispatcher task.

Errors are translated here, at the boundary: transport failures become
`EngineUnavailable`, Janus or plugin errors `JanusError` (with Janus's code and
reason), a reply that does not come in time `JanusTimeout`; always `from exc`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.typing import Subprotocol

from yiyun.media.engine import EngineUnavailable, MediaError

logger = logging.getLogger(__name__)

PROTOCOL = Subprotocol("janus-protocol")
Json = dict[str, Any]


class JanusError(MediaError):
    """Janus (core or plugin) refused a request; `janus_code` is its error code."""

    code = "media.janus_error"

    def __init__(self, message: str, *, janus_code: int | None = None) -> None:
        super().__init__(message, details={"janus_code": janus_code, "reason": message})
        self.janus_code = janus_code
        self.reason = message


class JanusTimeout(JanusError):
    code = "media.janus_timeout"


@dataclass(frozen=True)
class JanusEvent:
    """Something Janus pushed without being asked (or too late to be a reply)."""

    kind: str  # event | webrtcup | hangup | slowlink | media | detached | timeout | trickle
    handle_id: int | None
    data: Json  # plugindata.data for `event`, else the message itself
    jsep: Json | None = None


@dataclass(frozen=True)
class PluginReply:
    data: Json
    jsep: Json | None = None


EventHandler = Callable[[JanusEvent], Awaitable[None]]


class JanusConnection:
    """One WebSocket to one Janus node."""

    def __init__(self, ws: ClientConnection, url: str, *, timeout: float, api_secret: str | None):
        self.url = url
        self.timeout = timeout
        self._ws = ws
        self._api_secret = api_secret
        self._pending: dict[str, tuple[asyncio.Future[Json], bool]] = {}
        self._handlers: dict[int, EventHandler] = {}
        self._session_handlers: dict[int, EventHandler] = {}
        self._events: asyncio.Queue[tuple[EventHandler, JanusEvent]] = asyncio.Queue()
        self._ids = itertools.count(1)
        self._prefix = secrets.token_hex(4)
        self._close_callbacks: list[Callable[[], None]] = []
        self.closed = False
        self._reader = asyncio.create_task(self._read(), name=f"janus-read {url}")
        self._dispatcher = asyncio.create_task(self._dispatch(), name=f"janus-events {url}")

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        open_timeout: float = 5.0,
        request_timeout: float = 10.0,
        api_secret: str | None = None,
    ) -> JanusConnection:
        try:
            ws = await connect(
                url,
                subprotocols=[PROTOCOL],
                open_timeout=open_timeout,
                close_timeout=2.0,
                proxy=None,
                compression=None,
                max_size=4 * 1024 * 1024,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            raise EngineUnavailable(f"cannot reach Janus at {url}: {exc}") from exc
        return cls(ws, url, timeout=request_timeout, api_secret=api_secret)

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call `callback` once when the connection is lost or closed."""
        self._close_callbacks.append(callback)

    async def close(self, *, abort: bool = False) -> None:
        """Close the WebSocket; `abort` drops it at once (a node that stopped answering)."""
        if abort:
            self._ws.transport.abort()
        elif not self.closed:
            await self._ws.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        self._dispatcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._dispatcher

    async def request(
        self, message: Json, *, wait: float | None = None, ack_is_reply: bool = False
    ) -> Json:
        """Send `message` with a new transaction; return Janus's reply.

        Plugin messages are answered with `ack` and later an `event` (or at once with
        `success`); `ack_is_reply` ends the wait at the `ack` (keepalive, trickle).
        """
        if self.closed:
            raise EngineUnavailable(f"Janus connection to {self.url} is closed")
        transaction = f"{self._prefix}-{next(self._ids)}"
        payload = {**message, "transaction": transaction}
        if self._api_secret is not None:
            payload["apisecret"] = self._api_secret
        future: asyncio.Future[Json] = asyncio.get_running_loop().create_future()
        self._pending[transaction] = (future, ack_is_reply)
        wait = self.timeout if wait is None else wait
        try:
            await self._ws.send(json.dumps(payload))
            reply = await asyncio.wait_for(future, wait)
        except ConnectionClosed as exc:
            raise EngineUnavailable(f"Janus connection to {self.url} lost") from exc
        except TimeoutError as exc:
            raise JanusTimeout(
                f"Janus did not answer {message.get('janus')!r} within {wait:g} s"
            ) from exc
        finally:
            self._pending.pop(transaction, None)
        if reply.get("janus") == "error":
            error = reply.get("error") or {}
            raise JanusError(str(error.get("reason", "Janus error")), janus_code=error.get("code"))
        return reply

    async def info(self, *, wait: float | None = None) -> Json:
        return await self.request({"janus": "info"}, wait=wait)

    async def create_session(
        self, *, keepalive: float = 25.0, on_event: EventHandler | None = None
    ) -> JanusSession:
        reply = await self.request({"janus": "create"})
        session = JanusSession(self, int(reply["data"]["id"]), keepalive=keepalive)
        if on_event is not None:
            self._session_handlers[session.id] = on_event
        return session

    def _route(self, handle_id: int, handler: EventHandler | None) -> None:
        if handler is None:
            self._handlers.pop(handle_id, None)
        else:
            self._handlers[handle_id] = handler

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                try:
                    message = json.loads(raw)
                except ValueError:
                    logger.warning("janus %s sent a message that is not JSON", self.url)
                    continue
                if isinstance(message, dict):
                    self._received(message)
        except ConnectionClosed:
            pass
        finally:
            self._lost()

    def _received(self, message: Json) -> None:
        kind = str(message.get("janus", ""))
        pending = self._pending.get(str(message.get("transaction")))
        if pending is not None and not pending[0].done():
            future, ack_is_reply = pending
            if kind != "ack" or ack_is_reply:
                future.set_result(message)
                return
            return
        if kind in ("ack", "success", "error", "server_info"):
            return  # a reply nobody waits for any more (timed out)
        sender = message.get("sender")
        handle_id = int(sender) if isinstance(sender, int) else None
        handler = self._handlers.get(handle_id) if handle_id is not None else None
        if handler is None and kind == "timeout":
            handler = self._session_handlers.get(int(message.get("session_id", 0)))
        if handler is None:
            logger.debug("janus %s: unrouted %s event", self.url, kind)
            return
        plugindata = message.get("plugindata")
        data = plugindata.get("data", {}) if isinstance(plugindata, dict) else message
        self._events.put_nowait((handler, JanusEvent(kind, handle_id, data, message.get("jsep"))))

    async def _dispatch(self) -> None:
        while True:
            handler, event = await self._events.get()
            try:
                await handler(event)
            except Exception:
                # One bad event must not stop the routing of every later one.
                logger.exception("janus %s: handling a %s event failed", self.url, event.kind)

    def _lost(self) -> None:
        if self.closed:
            return
        self.closed = True
        for future, _ in list(self._pending.values()):
            if not future.done():
                future.set_exception(EngineUnavailable(f"Janus connection to {self.url} lost"))
        for callback in self._close_callbacks:
            callback()


class JanusSession:
    """A Janus session: handles live in it; a keepalive every `keepalive` seconds."""

    def __init__(self, conn: JanusConnection, session_id: int, *, keepalive: float) -> None:
        self.conn = conn
        self.id = session_id
        self._keepalive = asyncio.create_task(self._keep(keepalive), name=f"janus-ka {session_id}")

    async def _keep(self, interval: float) -> None:
        while not self.conn.closed:
            await asyncio.sleep(interval)
            try:
                await self.keepalive()
            except MediaError as exc:
                logger.warning("janus %s: keepalive failed: %s", self.conn.url, exc)

    async def keepalive(self) -> None:
        await self.conn.request({"janus": "keepalive", "session_id": self.id}, ack_is_reply=True)

    async def attach(self, plugin: str, *, on_event: EventHandler | None = None) -> JanusHandle:
        reply = await self.conn.request(
            {"janus": "attach", "session_id": self.id, "plugin": plugin}
        )
        handle = JanusHandle(self, int(reply["data"]["id"]))
        handle.on_event = on_event
        return handle

    async def destroy(self) -> None:
        self._keepalive.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._keepalive
        if not self.conn.closed:
            await self.conn.request({"janus": "destroy", "session_id": self.id})


class JanusHandle:
    """A plugin handle; `on_event` receives the events Janus pushes for it."""

    def __init__(self, session: JanusSession, handle_id: int) -> None:
        self.session = session
        self.id = handle_id

    @property
    def on_event(self) -> EventHandler | None:
        return self.session.conn._handlers.get(self.id)

    @on_event.setter
    def on_event(self, handler: EventHandler | None) -> None:
        self.session.conn._route(self.id, handler)

    def _envelope(self, kind: str) -> Json:
        return {"janus": kind, "session_id": self.session.id, "handle_id": self.id}

    async def message(
        self, body: Json, jsep: Json | None = None, *, wait: float | None = None
    ) -> PluginReply:
        """Send a plugin request; returns its (sync or async) reply.

        A plugin-level error (`error_code` in the reply) raises `JanusError`.
        """
        payload = {**self._envelope("message"), "body": body}
        if jsep is not None:
            payload["jsep"] = jsep
        reply = await self.session.conn.request(payload, wait=wait)
        plugindata = reply.get("plugindata")
        data: Json = plugindata.get("data", {}) if isinstance(plugindata, dict) else {}
        if "error_code" in data:
            raise JanusError(str(data.get("error", "plugin error")), janus_code=data["error_code"])
        return PluginReply(data, reply.get("jsep"))

    async def trickle(self, candidate: Json | None) -> None:
        payload = {**self._envelope("trickle"), "candidate": candidate or {"completed": True}}
        await self.session.conn.request(payload, ack_is_reply=True)

    async def hangup(self) -> None:
        await self.session.conn.request(self._envelope("hangup"))

    async def detach(self) -> None:
        """Detach the handle (idempotent; a handle Janus no longer knows is fine)."""
        self.on_event = None
        if self.session.conn.closed:
            return
        try:
            await self.session.conn.request(self._envelope("detach"))
        except JanusError as exc:
            if exc.janus_code not in (NO_SUCH_HANDLE, NO_SUCH_SESSION):
                raise


# Janus core error codes used by callers (janus/apierror.h).
NO_SUCH_SESSION = 458
NO_SUCH_HANDLE = 459
