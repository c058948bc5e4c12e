"""Event bus: one interface, an in-process default and Redis pub/sub across nodes.

Messages are JSON-serialisable dicts published to named channels. The database is the
source of truth; the bus only fans events out (to pages, sockets and other app nodes).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from yiyun.core.errors import Upstream

logger = logging.getLogger(__name__)

Message = dict[str, Any]


class Subscription(Protocol):
    """An open subscription; iterate for messages, or `get()` one with a timeout."""

    def __aiter__(self) -> AsyncIterator[Message]: ...

    async def get(self, timeout: float) -> Message | None: ...  # noqa: ASYNC109


class EventBus(Protocol):
    """Publish/subscribe contract shared by every bus backend."""

    async def publish(self, channel: str, message: Message) -> None: ...

    def subscribe(self, *channels: str) -> AbstractAsyncContextManager[Subscription]: ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


class _QueueSubscription:
    def __init__(self, queue: asyncio.Queue[Message]) -> None:
        self._queue = queue

    async def get(self, timeout: float) -> Message | None:  # noqa: ASYNC109 - bounded wait API
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    async def __aiter__(self) -> AsyncIterator[Message]:
        while True:
            yield await self._queue.get()


class InProcessBus:
    """Delivers to subscribers in this process only (the embedded default)."""

    def __init__(self, max_queue: int = 1000) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[Message]]] = defaultdict(set)
        self._max_queue = max_queue

    async def publish(self, channel: str, message: Message) -> None:
        payload = json.loads(json.dumps(message))  # same serialisation contract as Redis
        for queue in list(self._subscribers.get(channel, ())):
            if queue.full():
                logger.warning("bus subscriber on %s is full; dropping oldest", channel)
                queue.get_nowait()
            queue.put_nowait(payload)

    @asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[Subscription]:
        queue: asyncio.Queue[Message] = asyncio.Queue(self._max_queue)
        for channel in channels:
            self._subscribers[channel].add(queue)
        try:
            yield _QueueSubscription(queue)
        finally:
            for channel in channels:
                self._subscribers[channel].discard(queue)
                if not self._subscribers[channel]:
                    del self._subscribers[channel]

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._subscribers.clear()


class _RedisSubscription:
    def __init__(self, pubsub: aioredis.client.PubSub) -> None:
        self._pubsub = pubsub

    async def get(self, timeout: float) -> Message | None:  # noqa: ASYNC109 - bounded wait API
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            raw = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=remaining)
            if raw is not None and raw.get("type") == "message":
                data: Message = json.loads(raw["data"])
                return data

    async def __aiter__(self) -> AsyncIterator[Message]:
        while True:
            message = await self.get(timeout=3600.0)
            if message is not None:
                yield message


class RedisBus:
    """Redis pub/sub: every app node sees every event."""

    def __init__(self, url: str, prefix: str = "yiyun:") -> None:
        self._redis = aioredis.Redis.from_url(url, decode_responses=True)
        self._prefix = prefix

    async def publish(self, channel: str, message: Message) -> None:
        try:
            await self._redis.publish(self._prefix + channel, json.dumps(message))
        except RedisError as exc:
            raise Upstream("event bus unavailable", code="bus.unavailable") from exc

    @asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[Subscription]:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(*(self._prefix + c for c in channels))
        except RedisError as exc:
            await pubsub.aclose()
            raise Upstream("event bus unavailable", code="bus.unavailable") from exc
        try:
            yield _RedisSubscription(pubsub)
        finally:
            await pubsub.unsubscribe()
            await pubsub.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._redis.aclose()


def create_bus(url: str) -> EventBus:
    """Choose the bus backend from its URL (`memory://` or `redis://…`)."""
    if url.startswith("memory://"):
        return InProcessBus()
    return RedisBus(url)
