"""Start each engine under test in its own process, network namespace and CPU.

* `embedded` and `relay`: `python -m benchmarks.media.server ENGINE`, driven over
  stdin/stdout (`RemoteEngine`).
* `janus`: Janus from Yiyun's config templates (`JanusProcess`), driven by Yiyun's
  `JanusEngine` from the benchmark process over the Janus WebSocket API.

With `net="netns"` (root) every server runs inside a network namespace joined to the
benchmark's by a veth pair on a private /30 (`tests.media.janus_harness.VethNamespace`,
the same harness as the Janus media tests): all three engines see the same network
path, libnice gets the non-loopback interface it needs, and nothing routes anywhere
else. With `net="loopback"` (no root; embedded and relay only) the servers offer
127.0.0.1 candidates instead. Servers are pinned to `server_cpus` with `taskset`
from their first instruction, so every thread they start inherits the pin.

Everything started here is registered for `cleanup()`, which the benchmark runs in
`finally` and at interpreter exit: processes are killed, namespaces deleted.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.media.janus_harness import VethNamespace, namespaces_missing

from yiyun.media.engine import EngineEvent, RoomSpec
from yiyun.media.janus import JanusEngine, JanusOptions, JanusProcess

ROOT = Path(__file__).resolve().parents[2]
_cleanups: list[Callable[[], None]] = []


def cleanup() -> None:
    """Stop every process and delete every namespace this run started (idempotent)."""
    while _cleanups:
        with contextlib.suppress(Exception):
            _cleanups.pop()()


atexit.register(cleanup)


def netns_unavailable() -> str | None:
    """Why namespaces cannot be used (None when they can)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 (`ip`) is not installed"
    return None


def janus_unavailable() -> str | None:
    return namespaces_missing()


def pin_prefix(cpus: set[int] | None) -> list[str]:
    if not cpus or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", ",".join(str(c) for c in sorted(cpus))]


class RemoteEngine:
    """An engine in a `benchmarks.media.server` process, as coroutine methods."""

    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc, self.log = proc, log
        self.pid = proc.pid
        self._next = 0
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(
        cls, engine: str, *, prefix: list[str], loopback: bool, workdir: Path
    ) -> RemoteEngine:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "src")]))
        log = workdir / f"{engine}-server.log"
        argv = [*prefix, sys.executable, "-m", "benchmarks.media.server", engine]
        if loopback:
            argv.append("--loopback")
        with log.open("wb") as err:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                cwd=ROOT,
                env=env,
                limit=1 << 24,
                start_new_session=True,
            )
        _cleanups.append(lambda: _kill(proc.pid))
        remote = cls(proc, log)
        try:
            async with asyncio.timeout(30):
                remote.pid = await remote._ready
        except BaseException:
            await remote.close()
            raise RuntimeError(f"{engine} server did not start: {remote.log_tail()}") from None
        return remote

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            message = json.loads(line)
            if "ready" in message:
                if not self._ready.done():
                    self._ready.set_result(int(message["ready"]))
                continue
            future = self._waiting.pop(message["id"], None)
            if future is None or future.done():
                continue
            if "error" in message:
                future.set_exception(RuntimeError(message["error"]))
            else:
                future.set_result(message.get("result"))
        error = RuntimeError(f"the server process ended: {self.log_tail()}")
        for future in [self._ready, *self._waiting.values()]:
            if not future.done():
                future.set_exception(error)

    def log_tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text("utf-8", "replace").splitlines()[-lines:])
        return ""

    async def call(self, method: str, *args: Any, within: float = 30.0) -> Any:
        assert self.proc.stdin is not None
        self._next += 1
        future = asyncio.get_running_loop().create_future()
        self._waiting[self._next] = future
        request = {"id": self._next, "method": method, "args": list(args)}
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        await self.proc.stdin.drain()
        async with asyncio.timeout(within):
            return await future

    async def create_room(self, spec: RoomSpec) -> None:
        await self.call("create_room", asdict(spec))

    async def join(self, room_id: str, participant_id: str, *, display_name: str) -> None:
        await self.call("join", room_id, participant_id)

    async def publish(self, room_id: str, participant_id: str, offer_sdp: str) -> str:
        return str(await self.call("publish", room_id, participant_id, offer_sdp))

    async def subscribe(self, room_id: str, participant_id: str) -> str:
        return str(await self.call("subscribe", room_id, participant_id))

    async def complete_subscribe(self, room_id: str, participant_id: str, answer_sdp: str) -> None:
        await self.call("complete_subscribe", room_id, participant_id, answer_sdp)

    async def leave(self, room_id: str, participant_id: str) -> None:
        await self.call("leave", room_id, participant_id)

    async def stats(self, room_id: str) -> dict[str, int]:
        return dict(await self.call("stats", room_id))

    async def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            async with asyncio.timeout(10):
                await self.proc.wait()
        except TimeoutError:
            _kill(self.proc.pid)
            await self.proc.wait()
        self._reader.cancel()


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


class JanusUnderTest:
    """Yiyun's `JanusEngine` over a Janus process (its CPU is Janus's process)."""

    def __init__(self, engine: JanusEngine, process: JanusProcess) -> None:
        self.engine, self.process = engine, process
        self.pid = process.proc.pid

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    async def stats(self, room_id: str) -> dict[str, int]:
        return {}

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(10):
                await self.engine.close()
        await asyncio.to_thread(self.process.stop)


@dataclass
class Running:
    """An engine under test: what drives it, which process is the server, how to reach it."""

    name: str
    engine: Any  # create_room/join/publish/subscribe/complete_subscribe/leave/stats
    pid: int
    loopback: bool
    net: str
    namespace: VethNamespace | None = None

    async def close(self) -> None:
        try:
            await self.engine.close()
        finally:
            if self.namespace is not None:
                self.namespace.destroy()


async def start(name: str, *, net: str, server_cpus: set[int] | None, nice: int = 0) -> Running:
    """Start engine `name` ("embedded", "janus", "relay") in its own process.

    `nice` (the server's niceness, when not 0) and the CPU pin are applied by
    `nice`/`taskset` prefixes, so every thread of the server has them from the start.
    """
    workdir = Path(tempfile.mkdtemp(prefix=f"yiyun-bench-{name}-"))
    _cleanups.append(lambda: shutil.rmtree(workdir, ignore_errors=True))
    # `nice -n` adds to the niceness the server inherits from this process
    step = nice - os.getpriority(os.PRIO_PROCESS, 0) if nice else 0
    pin = (["nice", "-n", str(step)] if step else []) + pin_prefix(server_cpus)
    namespace = None
    if net == "netns":
        namespace = VethNamespace.create()
        _cleanups.append(namespace.destroy)
    try:
        if name == "janus":
            if namespace is None:
                raise RuntimeError("Janus media needs a network namespace (libnice skips lo)")
            options = JanusOptions(
                api_ip=namespace.ns_ip, ws_port=8188, ice_enforce_list=namespace.ns_if
            )
            process = await asyncio.to_thread(
                JanusProcess.start, options, prefix=[*namespace.prefix, *pin], workdir=workdir
            )
            _cleanups.append(process.kill)
            engine = JanusEngine([process.url], feed_timeout=10.0)

            async def ignore(event: EngineEvent) -> None:
                return None

            await engine.start(ignore)
            janus = JanusUnderTest(engine, process)
            return Running(name, janus, janus.pid, False, net, namespace)
        prefix = [*(namespace.prefix if namespace else []), *pin]
        remote = await RemoteEngine.start(
            name, prefix=prefix, loopback=namespace is None, workdir=workdir
        )
        return Running(name, remote, remote.pid, namespace is None, net, namespace)
    except BaseException:
        if namespace is not None:
            namespace.destroy()
        raise
