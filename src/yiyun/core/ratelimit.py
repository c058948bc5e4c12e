"""Rate limiting, in one place: shared window counters and local token buckets.

Two shapes, one module:

* `Limiter` counts events per key in fixed windows, blocks keys for a while and claims
  keys once. It is shared by every app node through Redis when the bus is Redis
  (`create_limiter(bus_url)`), in-process otherwise. Sign-in failures (per typed name,
  per client address, over all names), guest code submissions per address and one-use
  room tokens go through it. Keys carry no personal data: callers pass an HMAC of a
  name or address (`keyed`).
* `TokenBucket` smooths one connection's own message rate (a signalling socket, a chat
  sender) and `ClientBuckets` one bucket per address for cheap probes. Nothing there is
  worth sharing between nodes: the connection lives on one node.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from yiyun.core.errors import Upstream

MAX_LOCAL_KEYS = 100_000


def keyed(secret_key: str, purpose: str, value: str) -> str:
    """A key for `value` (a name, an address) that does not reveal it."""
    mac = hmac.new(secret_key.encode(), f"{purpose}:{value}".encode(), hashlib.sha256)
    return f"{purpose}:{mac.hexdigest()[:32]}"


@dataclass(frozen=True)
class Count:
    """How many events the key has seen in its current window, and when it ends."""

    count: int
    retry_after: float  # seconds until the window (or block) ends

    def over(self, limit: int) -> bool:
        return self.count > limit


class Limiter(Protocol):
    """Window counters, blocks and one-time claims, keyed by opaque strings."""

    async def hit(self, key: str, *, window: float) -> Count: ...

    async def peek(self, key: str) -> Count: ...

    async def block(self, key: str, *, seconds: float) -> None: ...

    async def blocked_for(self, key: str) -> float: ...

    async def clear(self, *keys: str) -> None: ...

    async def once(self, key: str, *, ttl: float) -> bool: ...

    async def close(self) -> None: ...


class MemoryLimiter:
    """One app process: dictionaries with expiry (the single-node default)."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, float]] = {}
        self._blocks: dict[str, float] = {}
        self._claims: dict[str, float] = {}

    @staticmethod
    def _now() -> float:
        return time.monotonic()

    def _prune(self, table: dict[str, float] | dict[str, tuple[int, float]]) -> None:
        if len(table) < MAX_LOCAL_KEYS:
            return
        stamp = self._now()
        for key in [k for k, v in table.items() if (v[1] if isinstance(v, tuple) else v) <= stamp]:
            del table[key]

    async def hit(self, key: str, *, window: float) -> Count:
        stamp = self._now()
        count, ends = self._counts.get(key, (0, 0.0))
        if ends <= stamp:
            self._prune(self._counts)
            count, ends = 0, stamp + window
        self._counts[key] = (count + 1, ends)
        return Count(count + 1, ends - stamp)

    async def peek(self, key: str) -> Count:
        stamp = self._now()
        count, ends = self._counts.get(key, (0, 0.0))
        return Count(count, ends - stamp) if ends > stamp else Count(0, 0.0)

    async def block(self, key: str, *, seconds: float) -> None:
        self._prune(self._blocks)
        self._blocks[key] = self._now() + seconds

    async def blocked_for(self, key: str) -> float:
        return max(0.0, self._blocks.get(key, 0.0) - self._now())

    async def clear(self, *keys: str) -> None:
        for key in keys:
            self._counts.pop(key, None)
            self._blocks.pop(key, None)

    async def once(self, key: str, *, ttl: float) -> bool:
        stamp = self._now()
        if self._claims.get(key, 0.0) > stamp:
            return False
        self._prune(self._claims)
        self._claims[key] = stamp + ttl
        return True

    async def close(self) -> None:
        return None


class RedisLimiter:
    """Every app node sees the same counters (`INCR` with expiry, `SET NX PX`)."""

    def __init__(self, url: str, prefix: str = "yiyun:rl:") -> None:
        self._redis = aioredis.Redis.from_url(url, decode_responses=True)
        self._prefix = prefix

    def _k(self, key: str) -> str:
        return self._prefix + key

    async def hit(self, key: str, *, window: float) -> Count:
        k = self._k("n:" + key)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(k, 0, px=max(1, int(window * 1000)), nx=True)
                pipe.incr(k)
                pipe.pttl(k)
                _, count, pttl = await pipe.execute()
        except RedisError as exc:
            raise Upstream("rate limiter unavailable", code="ratelimit.unavailable") from exc
        return Count(int(count), max(0, int(pttl)) / 1000)

    async def peek(self, key: str) -> Count:
        k = self._k("n:" + key)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.get(k)
                pipe.pttl(k)
                count, pttl = await pipe.execute()
        except RedisError as exc:
            raise Upstream("rate limiter unavailable", code="ratelimit.unavailable") from exc
        return Count(int(count or 0), max(0, int(pttl)) / 1000)

    async def block(self, key: str, *, seconds: float) -> None:
        try:
            await self._redis.set(self._k("b:" + key), 1, px=max(1, int(seconds * 1000)))
        except RedisError as exc:
            raise Upstream("rate limiter unavailable", code="ratelimit.unavailable") from exc

    async def blocked_for(self, key: str) -> float:
        try:
            pttl = int(await self._redis.pttl(self._k("b:" + key)))
        except RedisError as exc:
            raise Upstream("rate limiter unavailable", code="ratelimit.unavailable") from exc
        return max(0, pttl) / 1000

    async def clear(self, *keys: str) -> None:
        if not keys:
            return
        names = [self._k(p + k) for k in keys for p in ("n:", "b:")]
        try:
            await self._redis.delete(*names)
        except RedisError as exc:
            raise Upstream("rate limiter unavailable", code="ratelimit.unavailable") from exc

    async def once(self, key: str, *, ttl: float) -> bool:
        try:
            done = await self._redis.set(
                self._k("o:" + key), 1, px=max(1, int(ttl * 1000)), nx=True
            )
        except RedisError as exc:
            raise Upstream("rate limiter unavailable", code="ratelimit.unavailable") from exc
        return bool(done)

    async def close(self) -> None:
        await self._redis.aclose()


def create_limiter(bus_url: str) -> Limiter:
    """Redis when the app nodes share a Redis bus; this process otherwise."""
    if bus_url.startswith(("redis://", "rediss://")):
        return RedisLimiter(bus_url)
    return MemoryLimiter()


# --- local buckets ----------------------------------------------------------------------


class TokenBucket:
    """`burst` events at once, then `rate` per second (one connection's own pace)."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = burst, time.monotonic()

    def take(self) -> bool:
        stamp = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (stamp - self.stamp) * self.rate)
        self.stamp = stamp
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class ClientBuckets:
    """One token bucket per client address; full (idle) buckets are forgotten."""

    def __init__(self, rate: float, burst: float, max_clients: int = 10_000) -> None:
        self.rate, self.burst, self.max_clients = rate, burst, max_clients
        self.buckets: dict[str, TokenBucket] = {}

    def allow(self, client: str) -> bool:
        bucket = self.buckets.get(client)
        if bucket is None:
            if len(self.buckets) >= self.max_clients:
                self._forget_idle()
            bucket = self.buckets[client] = TokenBucket(self.rate, self.burst)
        return bucket.take()

    def _forget_idle(self) -> None:
        refilled = time.monotonic() - self.burst / self.rate
        self.buckets = {k: b for k, b in self.buckets.items() if b.stamp > refilled}
        if len(self.buckets) >= self.max_clients:  # a flood of addresses: start afresh
            self.buckets.clear()
