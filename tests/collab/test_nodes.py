"""Two app nodes behind one database and Redis keep a document in sync; compaction keeps
storage bounded without losing anything."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pycrdt import Map
from sqlalchemy import func, select

from tests.collab.support import prepare, running, settings_for, synced, until
from yiyun.collab import store
from yiyun.collab.models import CollabDoc, CollabUpdate

pytestmark = pytest.mark.slow


async def test_two_nodes_stay_in_sync_through_redis(tmp_path: Path, redis_url: str) -> None:
    setup = prepare(tmp_path)
    one = settings_for(setup.tmp, setup.db_url, bus_url=redis_url)
    with running(one) as first, running(one) as second:
        tokens = setup.world.tokens
        a_url = f"{first.ws}/whiteboard/{setup.meeting_code}"
        b_url = f"{second.ws}/whiteboard/{setup.meeting_code}"
        async with synced(a_url, tokens["alice"]) as a, synced(b_url, tokens["bob"]) as b:
            a.get("elements", type=Map)["from-a"] = {"node": 1}
            b_elements = b.get("elements", type=Map)
            await until(lambda: "from-a" in b_elements)
            b_elements["from-b"] = {"node": 2}
            a_elements = a.get("elements", type=Map)
            await until(lambda: "from-b" in a_elements)
        # each edit was stored once, by the node that received it
        async with first.app.state.sessions() as s:
            rows = await s.scalar(select(func.count()).select_from(CollabUpdate))
        assert rows == 3  # the schema written when the document was made, and two edits


async def test_compaction_bounds_storage_and_loses_nothing(tmp_path: Path) -> None:
    setup = prepare(tmp_path)
    settings = settings_for(setup.tmp, setup.db_url)
    url_path = f"whiteboard/{setup.meeting_code}"
    with running(settings) as node:
        node.app.state.collab.compact_every = 20
        url = f"{node.ws}/{url_path}"
        async with (
            synced(url, setup.world.tokens["alice"]) as doc,
            synced(url, setup.world.tokens["bob"]) as other,
        ):
            elements = doc.get("elements", type=Map)
            for i in range(400):  # a sticky note dragged about 400 times
                elements["note"] = {"type": "note", "x": float(i), "text": "x" * 200}
                if i % 50 == 0:
                    await asyncio.sleep(0.05)
            # bob has it, so it is stored (nothing is passed on before it is)
            seen = other.get("elements", type=Map)
            await until(lambda: seen.get("note", {}).get("x") == 399.0)
        factory = node.app.state.sessions
        async with factory() as s:
            doc_row = await s.scalar(select(CollabDoc))
            assert doc_row is not None
            log_rows = await s.scalar(select(func.count()).select_from(CollabUpdate))
        assert doc_row.compactions >= 1
        assert log_rows is not None and log_rows < 100
        # 400 × ~230 bytes were written; what stays is about one note's worth
        assert await store.stored_bytes(factory, doc_row.id) < 400 * 230 / 4
    with running(settings) as again:
        async with synced(f"{again.ws}/{url_path}", setup.world.tokens["bob"]) as doc:
            assert doc.get("elements", type=Map)["note"]["x"] == 399.0
