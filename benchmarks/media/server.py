"""The process an SFU under test runs in: `python -m benchmarks.media.server ENGINE`.

ENGINE is `embedded` (Yiyun's `EmbeddedEngine`, built by `yiyun.media.embedded.create`)
or `relay` (`benchmarks.media.relay.RelaySfu`). The benchmark starts it in its own
network namespace and pinned to its own CPU, so its CPU time (`/proc/<pid>/stat`) is
the server's alone. Signalling is JSON lines over stdin/stdout (no network):

    -> {"id": 1, "method": "publish", "args": ["room", "pub-0", "v=0..."]}
    <- {"id": 1, "result": "v=0..."}        or   {"id": 1, "error": "..."}

The first line it writes is `{"ready": PID}`. It exits when stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from typing import Any

from yiyun.media.engine import EngineEvent, RoomSpec
from yiyun.settings import MediaSettings

METHODS = {"create_room", "join", "publish", "subscribe", "complete_subscribe", "leave", "stats"}


def build(engine: str, loopback: bool) -> Any:
    if engine == "embedded":
        from yiyun.media.embedded import create

        return create(MediaSettings(engine="embedded", loopback_candidates=loopback))
    if engine == "relay":
        from benchmarks.media.relay import RelaySfu

        return RelaySfu(loopback_candidates=loopback)
    raise SystemExit(f"unknown engine {engine!r}")


def _write(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def _handle(engine: Any, request: dict[str, Any]) -> None:
    method, args = request.get("method"), list(request.get("args", []))
    try:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}")
        if method == "create_room":
            result: Any = await engine.create_room(RoomSpec(**args[0]))
        elif method == "join":
            result = await engine.join(args[0], args[1], display_name=args[1])
        elif method == "stats":
            result = engine.stats(args[0])
        else:
            result = await getattr(engine, method)(*args)
    except Exception as exc:
        _write({"id": request.get("id"), "error": f"{type(exc).__name__}: {exc}"})
    else:
        _write({"id": request.get("id"), "result": result})


async def serve(engine_name: str, loopback: bool) -> None:
    engine = build(engine_name, loopback)

    async def ignore(event: EngineEvent) -> None:
        return None

    await engine.start(ignore)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    _write({"ready": os.getpid()})
    tasks: set[asyncio.Task[None]] = set()
    try:
        while line := await reader.readline():
            task = asyncio.create_task(_handle(engine, json.loads(line)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        await engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("engine", choices=["embedded", "relay"])
    parser.add_argument("--loopback", action="store_true", help="offer 127.0.0.1 candidates")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(serve(args.engine, args.loopback))


if __name__ == "__main__":
    main()
