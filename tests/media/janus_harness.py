"""Janus for tests: on loopback (control plane) or in a network namespace (media).

Janus (libnice) never gathers loopback candidates and aioice skips 127.0.0.1, so
media through Janus needs a real interface. As root we make one that routes
nowhere: a network namespace joined to this one by a veth pair on a private /30
(10.213.7.0/30 → host end .1, namespace end .2; the next pair takes the next /30).
Janus runs inside the namespace bound to its end; clients (aiortc here, Chromium in
the browser tests) run in this namespace and reach it through the host end. Traffic
never leaves the two ends of the pair.

    with janus_in_namespace() as node:          # Janus up in ~0.1 s
        engine = JanusEngine([node.url])         # ws://10.213.7.2:8188
        settings = Settings(media=janus_media_settings(node), ...)  # a live app

Namespaces are named `yiyun-j<pid>-<n>`; the ones a killed test run left behind are
swept away at the next start. Everything is also removed at interpreter exit.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import ipaddress
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from yiyun.media.janus import JanusEngine, JanusOptions, JanusProcess
from yiyun.settings import MediaSettings

NS_PREFIX = "yiyun-j"
BASE_NET = ipaddress.IPv4Network("10.213.7.0/24")
LOCK_FILE = Path(tempfile.gettempdir()) / "yiyun-test-veth.lock"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def janus_missing() -> str | None:
    """Why Janus cannot run here (None when it can)."""
    if shutil.which("janus") is None:
        return "janus is not installed (scripts/install-system.sh)"
    return None


def namespaces_missing() -> str | None:
    """Why a network namespace with a veth pair cannot be made here (None when it can)."""
    if janus_missing():
        return janus_missing()
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 (`ip`) is not installed"
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def sweep_stale_namespaces() -> None:
    """Delete namespaces (and their veth pairs) left by test runs that no longer exist."""
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        if not name.startswith(NS_PREFIX):
            continue
        pid = name[len(NS_PREFIX) :].split("-")[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            _ip("netns", "delete", name, check=False)


@dataclass
class VethNamespace:
    """A namespace joined to this one by a veth pair on a private /30."""

    name: str
    host_if: str
    ns_if: str
    host_ip: str
    ns_ip: str

    @classmethod
    def create(cls) -> VethNamespace:
        # Test processes running side by side (pytest-xdist workers, other runs) pick
        # their /30 one at a time, or two could take the same addresses.
        with LOCK_FILE.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return cls._create()

    @classmethod
    def _create(cls) -> VethNamespace:
        sweep_stale_namespaces()
        used = _ip("-4", "-o", "addr", "show", check=False).stdout
        pid = os.getpid()
        for n, net in enumerate(BASE_NET.subnets(new_prefix=30)):
            host_ip, ns_ip = (str(a) for a in list(net.hosts())[:2])
            if f" {host_ip}/" in used:
                continue
            ns = cls(
                name=f"{NS_PREFIX}{pid}-{n}",
                host_if=f"yj{n}h{pid % 10**6}",
                ns_if=f"yj{n}n{pid % 10**6}",
                host_ip=host_ip,
                ns_ip=ns_ip,
            )
            ns._up()
            return ns
        raise RuntimeError("no free /30 left in 10.213.7.0/24")

    def _up(self) -> None:
        try:
            _ip("netns", "add", self.name)
            _ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            _ip("link", "set", self.ns_if, "netns", self.name)
            _ip("addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
            _ip("link", "set", self.host_if, "up")
            self.run("ip", "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if)
            self.run("ip", "link", "set", self.ns_if, "up")
            self.run("ip", "link", "set", "lo", "up")
        except subprocess.CalledProcessError as exc:
            self.destroy()
            raise RuntimeError(f"cannot build namespace {self.name}: {exc.stderr}") from exc

    @property
    def prefix(self) -> list[str]:
        """Prepend to a command to run it inside the namespace."""
        return ["ip", "netns", "exec", self.name]

    def run(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.prefix, *cmd], check=True, capture_output=True, text=True)

    def destroy(self) -> None:
        # Deleting the namespace destroys its veth end, which takes the peer with it.
        _ip("netns", "delete", self.name, check=False)
        _ip("link", "delete", self.host_if, check=False)


@dataclass
class JanusNode:
    """A running Janus and what a client needs to reach it."""

    process: JanusProcess
    namespace: VethNamespace | None = None

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def client_ip(self) -> str | None:
        """This namespace's address facing Janus (for clients that bind one address)."""
        return self.namespace.host_ip if self.namespace else None

    def stop(self) -> None:
        self.process.stop()
        if self.namespace is not None:
            self.namespace.destroy()


def start_janus_on_loopback(**options: object) -> JanusNode:
    """Janus with its API on 127.0.0.1 (control plane only: no media on loopback)."""
    opts = JanusOptions(ws_port=free_port(), **options)  # type: ignore[arg-type]
    return JanusNode(JanusProcess.start(opts))


def start_janus_in_namespace(**options: object) -> JanusNode:
    """A namespace + veth pair and Janus inside it, API and ICE on the namespace end."""
    ns = VethNamespace.create()
    try:
        opts = JanusOptions(
            api_ip=ns.ns_ip,
            ws_port=8188,
            ice_enforce_list=ns.ns_if,
            **options,  # type: ignore[arg-type]
        )
        process = JanusProcess.start(opts, prefix=ns.prefix)
    except BaseException:
        ns.destroy()
        raise
    return JanusNode(process, ns)


@contextlib.contextmanager
def janus_in_namespace(**options: object) -> Iterator[JanusNode]:
    """`start_janus_in_namespace()`, stopped and removed on exit even on failure."""
    node = start_janus_in_namespace(**options)
    try:
        yield node
    finally:
        node.stop()


def janus_media_settings(*nodes: JanusNode) -> MediaSettings:
    """Settings that make the app use these Janus nodes (e.g. for a live test server).

    Browser tests through Janus: start Janus with `janus_in_namespace()`, give the app
    `Settings(media=janus_media_settings(node), ...)`, and run the app and Chromium as
    usual in this namespace. Chromium gathers the veth's host address (10.213.7.1),
    Janus answers from 10.213.7.2, and media flows over the pair.
    """
    return MediaSettings(engine="janus", janus_urls=[node.url for node in nodes])


_shared: JanusNode | None = None


def shared_janus() -> JanusNode:
    """One namespaced Janus for the whole test session (stopped at interpreter exit)."""
    global _shared
    if _shared is None or _shared.process.proc.poll() is not None:
        _shared = start_janus_in_namespace()
        atexit.register(_shared.stop)
    return _shared


async def janus_contract_engine() -> JanusEngine:
    """The `ENGINES["janus"]` factory of the engine contract suite."""
    import pytest

    reason = namespaces_missing()
    if reason:
        pytest.skip(reason)
    return JanusEngine([shared_janus().url], feed_timeout=10.0)
