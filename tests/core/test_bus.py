"""One contract for every event bus: the in-process default and Redis pub/sub."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from yiyun.core.bus import EventBus, InProcessBus, RedisBus, create_bus
from yiyun.core.errors import Upstream

UNREACHABLE = "redis://127.0.0.1:1/0"


@dataclass
class BusUnderTest:
    """A bus plus a way to ask how many subscribers a channel has (for Redis: the server)."""

    bus: EventBus
    kind: str
    prefix: str
    raw: aioredis.Redis | None = None

    def channel(self, name: str) -> str:
        # unique per test, so parallel runs on one Redis never see each other's messages
        return f"{self.prefix}{name}"

    async def subscribers(self, channel: str) -> int:
        if self.raw is None:
            assert isinstance(self.bus, InProcessBus)
            return len(self.bus._subscribers.get(channel, ()))
        counts = await self.raw.pubsub_numsub(f"yiyun:{channel}")
        return int(counts[0][1])

    async def wait_for_subscribers(self, channel: str, count: int) -> None:
        """Wait until the bus (for Redis: the server) has exactly `count` subscribers.

        Redis acknowledges SUBSCRIBE and UNSUBSCRIBE asynchronously.
        """
        for _ in range(500):
            if await self.subscribers(channel) == count:
                return
            await asyncio.sleep(0.01)
        pytest.fail(f"{channel} never reached {count} subscribers")


@pytest.fixture(params=["memory", "redis"])
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[BusUnderTest]:
    prefix = f"t{uuid.uuid4().hex[:12]}."
    if request.param == "memory":
        bus = InProcessBus()
        yield BusUnderTest(bus, "memory", prefix)
        await bus.close()
        return
    url = str(request.getfixturevalue("redis_url"))
    redis_bus = RedisBus(url)
    raw = aioredis.Redis.from_url(url, decode_responses=True)
    yield BusUnderTest(redis_bus, "redis", prefix, raw)
    await redis_bus.close()
    await raw.aclose()


async def test_it_delivers_a_published_message_to_a_subscriber(subject: BusUnderTest) -> None:
    channel = subject.channel("consult.1")
    async with subject.bus.subscribe(channel) as sub:
        await subject.wait_for_subscribers(channel, 1)
        await subject.bus.publish(channel, {"event": "accepted", "id": 1})
        assert await sub.get(timeout=5) == {"event": "accepted", "id": 1}


async def test_it_keeps_publish_order_on_one_channel(subject: BusUnderTest) -> None:
    channel = subject.channel("queue")
    async with subject.bus.subscribe(channel) as sub:
        await subject.wait_for_subscribers(channel, 1)
        for n in range(5):
            await subject.bus.publish(channel, {"n": n})
        got = [await sub.get(timeout=5) for _ in range(5)]
    assert got == [{"n": n} for n in range(5)]


async def test_it_delivers_from_several_channels_and_only_those(subject: BusUnderTest) -> None:
    a, b, other = (subject.channel(x) for x in ("a", "b", "other"))
    async with subject.bus.subscribe(a, b) as sub:
        await subject.wait_for_subscribers(a, 1)
        await subject.wait_for_subscribers(b, 1)
        await subject.bus.publish(other, {"from": "other"})
        await subject.bus.publish(a, {"from": "a"})
        await subject.bus.publish(b, {"from": "b"})
        first = await sub.get(timeout=5)
        second = await sub.get(timeout=5)
        assert [first, second] == [{"from": "a"}, {"from": "b"}]
        assert await sub.get(timeout=0.2) is None


async def test_two_subscribers_both_receive(subject: BusUnderTest) -> None:
    channel = subject.channel("room")
    async with subject.bus.subscribe(channel) as one, subject.bus.subscribe(channel) as two:
        await subject.wait_for_subscribers(channel, 2)
        await subject.bus.publish(channel, {"hello": "both"})
        assert await one.get(timeout=5) == {"hello": "both"}
        assert await two.get(timeout=5) == {"hello": "both"}


async def test_it_stops_delivering_after_unsubscribe(subject: BusUnderTest) -> None:
    channel = subject.channel("leave")
    async with subject.bus.subscribe(channel) as stays:
        async with subject.bus.subscribe(channel):
            await subject.wait_for_subscribers(channel, 2)
        # the bus (or the Redis server) no longer has the one that left
        await subject.wait_for_subscribers(channel, 1)
        await subject.bus.publish(channel, {"after": "unsubscribe"})
        assert await stays.get(timeout=5) == {"after": "unsubscribe"}
        assert await stays.get(timeout=0.2) is None
    await subject.wait_for_subscribers(channel, 0)


async def test_it_round_trips_messages_through_json(subject: BusUnderTest) -> None:
    channel = subject.channel("json")
    message = {
        "text": "会诊已接受",
        "n": 3,
        "x": 1.5,
        "ok": True,
        "none": None,
        "list": [1, "two", {"three": 3}],
        "tuple": (1, 2),
    }
    async with subject.bus.subscribe(channel) as sub:
        await subject.wait_for_subscribers(channel, 1)
        await subject.bus.publish(channel, message)
        message["text"] = "changed after publishing"  # the subscriber has its own copy
        got = await sub.get(timeout=5)
    assert got == {
        "text": "会诊已接受",
        "n": 3,
        "x": 1.5,
        "ok": True,
        "none": None,
        "list": [1, "two", {"three": 3}],
        "tuple": [1, 2],
    }


async def test_it_refuses_a_message_that_is_not_json(subject: BusUnderTest) -> None:
    with pytest.raises(TypeError):
        await subject.bus.publish(subject.channel("bad"), {"at": datetime.now(UTC)})


async def test_iterating_a_subscription_yields_messages(subject: BusUnderTest) -> None:
    channel = subject.channel("iter")
    got: list[dict[str, object]] = []
    async with subject.bus.subscribe(channel) as sub:
        await subject.wait_for_subscribers(channel, 1)
        await subject.bus.publish(channel, {"n": 1})
        await subject.bus.publish(channel, {"n": 2})
        async with asyncio.timeout(5):
            async for message in sub:
                got.append(message)
                if len(got) == 2:
                    break
    assert got == [{"n": 1}, {"n": 2}]


async def test_get_returns_none_when_nothing_arrives_in_time(subject: BusUnderTest) -> None:
    async with subject.bus.subscribe(subject.channel("quiet")) as sub:
        assert await sub.get(timeout=0.1) is None


async def test_ping_is_true_when_the_bus_is_up(subject: BusUnderTest) -> None:
    assert await subject.bus.ping() is True


async def test_redis_ping_is_false_when_redis_is_unreachable() -> None:
    bus = RedisBus(UNREACHABLE)
    try:
        assert await bus.ping() is False
    finally:
        await bus.close()


async def test_publishing_to_unreachable_redis_raises_upstream() -> None:
    bus = RedisBus(UNREACHABLE)
    try:
        with pytest.raises(Upstream) as caught:
            await bus.publish("anything", {"n": 1})
        assert caught.value.code == "bus.unavailable"
        assert caught.value.status == 502
    finally:
        await bus.close()


async def test_subscribing_to_unreachable_redis_raises_upstream() -> None:
    bus = RedisBus(UNREACHABLE)
    try:
        with pytest.raises(Upstream):
            async with bus.subscribe("anything"):
                pytest.fail("subscribed to a Redis that is not there")
    finally:
        await bus.close()


async def test_the_url_chooses_the_backend(redis_url: str) -> None:
    memory = create_bus("memory://")
    remote = create_bus(redis_url)
    try:
        assert isinstance(memory, InProcessBus)
        assert isinstance(remote, RedisBus)
        assert await remote.ping() is True
    finally:
        await memory.close()
        await remote.close()


async def test_the_in_process_bus_forgets_a_subscription_when_it_ends() -> None:
    bus = InProcessBus()
    async with bus.subscribe("ended") as ended:
        pass
    await bus.publish("ended", {"n": 1})
    assert await ended.get(timeout=0.1) is None
    await bus.close()
