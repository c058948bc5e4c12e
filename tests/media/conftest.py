"""The engine contract fixture: each test taking `engine` runs against every engine.

Engines are listed in `ENGINES`; each real engine adds its factory there (embedded,
janus). The Janus runs carry the `janus` marker (and are skipped where Janus or
network namespaces are missing, see `janus_harness`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.media.embedded_harness import embedded_contract_engine
from tests.media.janus_harness import janus_contract_engine
from yiyun.media import EngineEvent, MediaEngine
from yiyun.media.fake import InMemoryEngine


async def _fake() -> MediaEngine:
    return InMemoryEngine()


ENGINES: dict[str, Callable[[], Awaitable[MediaEngine]]] = {
    "embedded": embedded_contract_engine,
    "fake": _fake,
    "janus": janus_contract_engine,
}


@pytest.fixture(
    params=[
        pytest.param(name, marks=[pytest.mark.janus] if name == "janus" else [])
        for name in sorted(ENGINES)
    ]
)
async def engine(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[MediaEngine, list[EngineEvent]]]:
    events: list[EngineEvent] = []

    async def listen(event: EngineEvent) -> None:
        events.append(event)

    eng = await ENGINES[request.param]()
    await eng.start(listen)
    yield eng, events
    await eng.close()
