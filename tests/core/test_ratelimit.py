"""The one rate-limit module: the same contract in-process and over Redis (shared by app
nodes), and the local token bucket."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from yiyun.core.ratelimit import (
    Limiter,
    MemoryLimiter,
    RedisLimiter,
    TokenBucket,
    create_limiter,
    keyed,
)


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[Limiter]:
    if request.param == "memory":
        yield MemoryLimiter()
        return
    url = str(request.getfixturevalue("redis_url"))
    shared = RedisLimiter(url, prefix=f"t{uuid.uuid4().hex[:12]}:")
    yield shared
    await shared.close()


async def test_it_counts_within_a_window_and_starts_afresh_after(limiter: Limiter) -> None:
    counts = [(await limiter.hit("k", window=0.3)).count for _ in range(3)]
    assert counts == [1, 2, 3]
    assert (await limiter.peek("k")).count == 3 and (await limiter.peek("k")).over(2)
    assert 0 < (await limiter.peek("k")).retry_after <= 0.3
    await asyncio.sleep(0.35)
    assert (await limiter.peek("k")).count == 0
    assert (await limiter.hit("k", window=0.3)).count == 1
    assert (await limiter.peek("other")).count == 0


async def test_a_block_lasts_its_time_and_clear_lifts_it(limiter: Limiter) -> None:
    assert await limiter.blocked_for("b") == 0
    await limiter.block("b", seconds=0.3)
    assert 0 < await limiter.blocked_for("b") <= 0.3
    await asyncio.sleep(0.35)
    assert await limiter.blocked_for("b") == 0
    await limiter.block("b", seconds=60)
    await limiter.hit("b", window=60)
    await limiter.clear("b")
    assert await limiter.blocked_for("b") == 0 and (await limiter.peek("b")).count == 0


async def test_a_key_is_claimed_once_until_it_expires(limiter: Limiter) -> None:
    assert await limiter.once("jti-1", ttl=0.3) is True
    assert await limiter.once("jti-1", ttl=0.3) is False
    assert await limiter.once("jti-2", ttl=0.3) is True
    await asyncio.sleep(0.35)
    assert await limiter.once("jti-1", ttl=0.3) is True


async def test_two_app_nodes_share_counts_through_redis(redis_url: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:12]}:"
    one, two = RedisLimiter(redis_url, prefix=prefix), RedisLimiter(redis_url, prefix=prefix)
    try:
        await one.hit("login-ip:x", window=60)
        assert (await two.hit("login-ip:x", window=60)).count == 2
        await one.block("login-name:y", seconds=60)
        assert await two.blocked_for("login-name:y") > 0
        assert await one.once("room-token:z", ttl=60) and not await two.once("room-token:z", ttl=60)
    finally:
        await one.close()
        await two.close()


def test_the_bus_url_chooses_the_backend(redis_url: str) -> None:
    assert isinstance(create_limiter("memory://"), MemoryLimiter)
    assert isinstance(create_limiter(redis_url), RedisLimiter)


def test_keys_do_not_reveal_names_or_addresses() -> None:
    key = keyed("secret", "login-ip", "203.0.113.9")
    assert key.startswith("login-ip:") and "203.0.113.9" not in key
    assert key != keyed("other-secret", "login-ip", "203.0.113.9")


def test_a_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=1.0, burst=3)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
