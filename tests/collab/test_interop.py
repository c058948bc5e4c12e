"""Interop: the real JavaScript Yjs client (yjs + y-websocket, as the browser uses them)
against our server, edits crossing both ways with a pycrdt client."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from pycrdt import Map

from tests.collab.support import prepare, running, settings_for, synced, until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("yjs_client.mjs")


async def test_a_node_yjs_client_and_a_pycrdt_client_see_each_other(tmp_path: Path) -> None:
    node_bin = shutil.which("node")
    if node_bin is None:
        pytest.fail("node is missing: run scripts/install-system.sh")
    setup = prepare(tmp_path)
    with running(settings_for(setup.tmp, setup.db_url)) as server:
        base = f"{server.ws}/whiteboard"
        proc = await asyncio.create_subprocess_exec(
            node_bin,
            str(SCRIPT),
            str(ROOT / "frontend"),
            base,
            setup.meeting_code,
            setup.world.tokens["bob"],
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        url = f"{base}/{setup.meeting_code}"
        async with synced(url, setup.world.tokens["alice"]) as doc:
            elements = doc.get("elements", type=Map)
            await until(lambda: "node" in elements)
            assert elements["node"] == {"type": "text", "text": "来自 Node", "n": 7.0}
            elements["python"] = {"type": "pen", "points": [0.5, 1.5]}
            out, err = await asyncio.wait_for(proc.communicate(), 15)
        assert proc.returncode == 0, err.decode()
        seen = json.loads(out)
        assert seen["meta"]["schema"] == 1
        assert seen["elements"]["python"] == {"type": "pen", "points": [0.5, 1.5]}
        # what Node wrote was stored: a fresh client after the fact still sees it
        async with synced(url, setup.world.tokens["nina"]) as later:
            assert later.get("elements", type=Map)["node"]["n"] == 7.0
