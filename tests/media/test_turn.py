"""TURN: coturn with time-limited credentials, handed to room members only, hardened.

Real coturn processes started by the tests (`yiyun.media.coturn`):

1. the credential maths against the documented format, and coturn's verdict: a good
   credential allocates, a bad password, a wrong secret, a stretched expiry or an
   expired credential get 401;
2. the join-token endpoint gives TURN credentials to meeting members only;
3. the running coturn refuses (403) to relay to loopback, private, link-local,
   multicast and unspecified addresses, even when `allow_peers` names loopback;
4. a client behind "UDP blocked" (network namespaces, nftables dropping all UDP)
   still connects to a peer through TURN over TCP, and video and a data channel
   flow through the relay; without TURN the same client cannot connect.

Run as a script (`python -m tests.media.test_turn`) this module is one aiortc peer of
test 4, driven over stdin/stdout by the test inside a namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aioice import stun
from aioice.turn import make_integrity_key
from pydantic import SecretStr

from yiyun.media import turn
from yiyun.media.coturn import (
    DEFAULT_DENIED_PEERS,
    CoturnOptions,
    CoturnProcess,
    config_lines,
    peer_range,
)
from yiyun.settings import MediaSettings, Settings

if TYPE_CHECKING:
    import httpx

    from tests.factories import World
    from tests.media.janus_harness import VethNamespace

pytestmark = pytest.mark.media

ROOT = Path(__file__).resolve().parents[2]
SECRET = "north-wind-secret"
REALM = "yiyun.test"


def _free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (coturn listens on both)."""
    for _ in range(50):
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


def _start(**overrides: Any) -> CoturnProcess:
    if shutil.which("turnserver") is None:
        pytest.skip("coturn is not installed (scripts/install-system.sh)")
    options: dict[str, Any] = {
        "secret": SECRET,
        "realm": REALM,
        "port": _free_port(),
        "min_port": 49160,
        "max_port": 49260,
    }
    options.update(overrides)
    return CoturnProcess.start(CoturnOptions(**options))


@pytest.fixture(scope="module")
def coturn() -> Iterator[CoturnProcess]:
    """coturn with the default (production) peer policy on 127.0.0.1."""
    server = _start()
    yield server
    server.stop()


# --- a minimal TURN client (RFC 8656) over UDP, built on aioice's STUN codec ---------


class TurnRefused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code


class TurnClient(asyncio.DatagramProtocol):
    """Allocate, CreatePermission, ChannelBind and Send with long-term credentials."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: dict[bytes, asyncio.Future[stun.Message]] = {}
        self.auth: dict[str, Any] = {}
        self.key = b""

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, server: tuple[str, int]) -> AsyncIterator[TurnClient]:
        loop = asyncio.get_running_loop()
        transport, client = await loop.create_datagram_endpoint(cls, remote_addr=server)
        try:
            yield client
        finally:
            transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        with contextlib.suppress(ValueError):
            message = stun.parse_message(data)
            future = self.pending.pop(message.transaction_id, None)
            if future is not None and not future.done():
                future.set_result(message)

    async def _transact(self, message: stun.Message) -> stun.Message:
        assert self.transport is not None
        future = asyncio.get_running_loop().create_future()
        self.pending[message.transaction_id] = future
        for _ in range(5):
            self.transport.sendto(bytes(message))
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(asyncio.shield(future), 0.5)
        raise TimeoutError(f"no answer to {message.message_method.name}")

    def _signed(self, method: stun.Method, attributes: dict[str, Any]) -> stun.Message:
        message = stun.Message(message_method=method, message_class=stun.Class.REQUEST)
        message.attributes.update(attributes)
        message.attributes.update(self.auth)
        message.add_message_integrity(self.key)
        message.add_fingerprint()
        return message

    async def request(self, method: stun.Method, **attributes: Any) -> stun.Message:
        """An authenticated request; raises TurnRefused on an error response."""
        response = await self._transact(self._signed(method, attributes))
        if response.message_class == stun.Class.ERROR:
            code, reason = response.attributes["ERROR-CODE"]
            if code == 438:  # stale nonce: take the new one and retry once
                self.auth["NONCE"] = response.attributes["NONCE"]
                response = await self._transact(self._signed(method, attributes))
        if response.message_class == stun.Class.ERROR:
            code, reason = response.attributes["ERROR-CODE"]
            raise TurnRefused(code, reason)
        return response

    async def allocate(self, username: str, password: str) -> tuple[str, int]:
        """The relayed address; TurnRefused(401) if coturn rejects the credential."""
        attributes = {"LIFETIME": 60, "REQUESTED-TRANSPORT": 0x11000000}
        first = stun.Message(message_method=stun.Method.ALLOCATE, message_class=stun.Class.REQUEST)
        first.attributes.update(attributes)
        challenge = await self._transact(first)
        assert challenge.attributes["ERROR-CODE"][0] == 401  # unauthenticated: the challenge
        realm = challenge.attributes["REALM"]
        self.auth = {"USERNAME": username, "REALM": realm, "NONCE": challenge.attributes["NONCE"]}
        self.key = make_integrity_key(username, realm, password)
        response = await self.request(stun.Method.ALLOCATE, **attributes)
        relayed: tuple[str, int] = response.attributes["XOR-RELAYED-ADDRESS"]
        return relayed

    async def create_permission(self, peer: str) -> None:
        await self.request(stun.Method.CREATE_PERMISSION, **{"XOR-PEER-ADDRESS": (peer, 9)})

    async def channel_bind(self, peer: tuple[str, int]) -> None:
        await self.request(
            stun.Method.CHANNEL_BIND, **{"CHANNEL-NUMBER": 0x4001, "XOR-PEER-ADDRESS": peer}
        )

    def send_indication(self, peer: tuple[str, int], data: bytes) -> None:
        assert self.transport is not None
        message = stun.Message(message_method=stun.Method.SEND, message_class=stun.Class.INDICATION)
        message.attributes["XOR-PEER-ADDRESS"] = peer
        message.attributes["DATA"] = data
        message.add_fingerprint()
        self.transport.sendto(bytes(message))


def _server(coturn: CoturnProcess) -> tuple[str, int]:
    return coturn.options.listening_ips[0], coturn.options.port


async def _allocate(coturn: CoturnProcess, username: str, password: str) -> tuple[str, int]:
    async with TurnClient.open(_server(coturn)) as client:
        return await client.allocate(username, password)


# --- 1. credentials ----------------------------------------------------------------


def test_credentials_follow_the_documented_format() -> None:
    creds = turn.credentials(SECRET, 42, 3600, now=1_700_000_000, urls=["turn:t.example:3478"])
    assert creds.username == "1700003600:42"
    # base64(HMAC-SHA1(secret, username)), computed independently with
    # `printf %s 1700003600:42 | openssl dgst -sha1 -hmac north-wind-secret -binary | base64`
    assert creds.password == "lX5Gk8AKmXn0FUqv/skP+33Jzio="
    assert creds.expires_at == 1_700_003_600 and creds.ttl == 3600
    assert creds.ice_server() == {
        "urls": ["turn:t.example:3478"],
        "username": "1700003600:42",
        "credential": "lX5Gk8AKmXn0FUqv/skP+33Jzio=",
    }
    with pytest.raises(ValueError):
        turn.credentials("", 42, 3600)
    with pytest.raises(ValueError):
        turn.credentials(SECRET, 42, 0)
    with pytest.raises(ValueError):
        turn.credentials(SECRET, "a:b", 60)
    with pytest.raises(ValueError):
        turn.credentials(SECRET, 42, 60, urls=["stun:t.example:3478"])


def test_ice_servers_merge_configured_servers_with_fresh_turn() -> None:
    stun_server: dict[str, str | list[str]] = {"urls": "stun:stun.example:3478"}
    media = MediaSettings(
        ice_servers=[stun_server],
        turn_urls=["turn:t.example:3478?transport=udp", "turn:t.example:3478?transport=tcp"],
        turn_secret=SECRET,
        turn_ttl_seconds=600,
    )
    servers = turn.ice_servers_for(media, 7, now=1_000)
    assert servers[0] == stun_server and servers[0] is not stun_server
    assert servers[1]["urls"] == media.turn_urls
    assert servers[1]["username"] == "1600:7"
    assert servers[1]["credential"] == turn.sign(SECRET, "1600:7")
    # No TURN configured, or no secret to sign with: the configured servers only.
    assert turn.ice_servers_for(MediaSettings(ice_servers=[stun_server]), 7) == [stun_server]
    no_secret = MediaSettings(turn_urls=["turn:t.example:3478"])
    assert turn.ice_servers_for(no_secret, 7) == []


async def test_coturn_accepts_good_credentials_and_refuses_bad_ones(
    coturn: CoturnProcess,
) -> None:
    good = turn.credentials(SECRET, 42, 600)
    relayed = await _allocate(coturn, good.username, good.password)
    assert relayed[0] == "127.0.0.1" and 49160 <= relayed[1] <= 49260

    wrong_password = turn.credentials(SECRET + "x", 42, 600).password
    expired = turn.credentials(SECRET, 42, 60, now=time.time() - 120)
    stretched_user = f"{good.expires_at + 86_400}:42"  # a later expiry, the same password
    for username, password in [
        (good.username, wrong_password),
        (expired.username, expired.password),
        (stretched_user, good.password),
        ("42", turn.sign(SECRET, "42")),  # no expiry at all
    ]:
        with pytest.raises(TurnRefused) as refused:
            await _allocate(coturn, username, password)
        assert refused.value.code == 401, (username, refused.value)


async def test_a_credential_stops_working_when_it_expires(coturn: CoturnProcess) -> None:
    """Expiry is checked when an allocation is made: a call in progress keeps its relay."""
    creds = turn.credentials(SECRET, 43, 1)
    async with TurnClient.open(_server(coturn)) as in_call:
        await in_call.allocate(creds.username, creds.password)
        await asyncio.sleep(max(0.0, creds.expires_at + 1.1 - time.time()))
        with pytest.raises(TurnRefused) as refused:
            await _allocate(coturn, creds.username, creds.password)
        assert refused.value.code == 401
        await in_call.request(stun.Method.REFRESH, LIFETIME=600)  # still accepted


# --- 2. only members get credentials --------------------------------------------------


@pytest.fixture
def settings(settings: Settings, coturn: CoturnProcess) -> Settings:
    media = settings.media.model_copy(
        update={
            "ice_servers": [{"urls": "stun:stun.example.org:3478"}],
            "turn_urls": [f"turn:127.0.0.1:{coturn.options.port}?transport=udp"],
            "turn_secret": SecretStr(SECRET),
            "turn_ttl_seconds": 900,
        }
    )
    return settings.model_copy(update={"media": media})


async def test_token_endpoint_gives_turn_credentials_to_members_only(
    client: httpx.AsyncClient, world: World, coturn: CoturnProcess
) -> None:
    res = await client.post(
        "/api/v1/meetings", headers=world.auth("bob"), json={"title": "会诊", "invitees": ["alice"]}
    )
    assert res.status_code == 201, res.text
    meeting = res.json()["id"]

    token = await client.post(f"/api/v1/meetings/{meeting}/token", headers=world.auth("alice"))
    assert token.status_code == 200, token.text
    servers = token.json()["ice_servers"]
    assert servers[0] == {"urls": "stun:stun.example.org:3478"}
    relay = servers[1]
    expiry, user = relay["username"].split(":")
    assert user == str(world.users["alice"].id)
    assert 0 < int(expiry) - time.time() <= 900
    assert relay["credential"] == turn.sign(SECRET, relay["username"])
    await _allocate(coturn, relay["username"], relay["credential"])  # coturn agrees

    outsider = await client.post(f"/api/v1/meetings/{meeting}/token", headers=world.auth("mallory"))
    assert outsider.status_code == 404
    assert "ice_servers" not in outsider.text and "credential" not in outsider.text

    ended = await client.post(f"/api/v1/meetings/{meeting}/end", headers=world.auth("bob"))
    assert ended.status_code == 200, ended.text
    late = await client.post(f"/api/v1/meetings/{meeting}/token", headers=world.auth("alice"))
    assert late.status_code >= 400 and "credential" not in late.text


# --- 3. no relaying into loopback or private networks -------------------------------

DENIED_SAMPLES = [
    "127.0.0.1",
    "127.8.9.10",
    "0.0.0.0",  # noqa: S104 - a peer address, nothing binds it
    "10.213.7.2",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",
    "224.0.0.251",
    "255.255.255.255",
]


def test_default_config_denies_the_dangerous_ranges(tmp_path: Path) -> None:
    import ipaddress

    networks = [ipaddress.ip_network(p) for p in DEFAULT_DENIED_PEERS]
    for sample in [*DENIED_SAMPLES, "::1", "fe80::1", "fd00::5", "ff02::1", "::ffff:10.0.0.1"]:
        address = ipaddress.ip_address(sample)
        assert any(address in net for net in networks), sample
    lines = config_lines(CoturnOptions(secret=SECRET), tmp_path)
    assert not any("allow-loopback-peers" in line or "allowed-peer-ip" in line for line in lines)
    for flag in ("use-auth-secret", "no-cli", "no-dtls", "no-tls", "no-tcp-relay", "fingerprint"):
        assert flag in lines
    assert "denied-peer-ip=172.16.0.0-172.31.255.255" in lines
    assert "denied-peer-ip=fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff" in lines
    assert peer_range("10.213.7.2/32") == "10.213.7.2"
    assert peer_range("10.213.7.0/30") == "10.213.7.0-10.213.7.3"
    # coturn 4.6 reads these as "every address": refused before they reach it.
    for spec in ("::/128", "::-::1", "0.0.0.0", "0.0.0.0/32"):  # noqa: S104
        with pytest.raises(ValueError):
            peer_range(spec)
        with pytest.raises(ValueError):
            CoturnOptions(secret=SECRET, extra_denied_peers=(spec,))
    with pytest.raises(ValueError):
        CoturnOptions(secret=SECRET, extra_lines=("allow-loopback-peers",))


def test_the_secret_stays_off_the_command_line(coturn: CoturnProcess) -> None:
    cmdline = Path(f"/proc/{coturn.proc.pid}/cmdline").read_bytes()
    assert SECRET.encode() not in cmdline
    assert stat.S_IMODE(coturn.config_path.stat().st_mode) == 0o600
    log = coturn.log_text()
    for line in config_lines(coturn.options, coturn.workdir):
        if line.startswith("denied-peer-ip="):  # coturn read and applied every range
            assert f"Black listing: {line.split('=', 1)[1]}" in log


async def test_coturn_refuses_to_relay_to_loopback_and_private_peers(
    coturn: CoturnProcess,
) -> None:
    creds = turn.credentials(SECRET, 44, 600)
    loop = asyncio.get_running_loop()
    received: list[bytes] = []

    class Sink(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            received.append(data)

    sink, _ = await loop.create_datagram_endpoint(Sink, local_addr=("127.0.0.1", 0))
    sink_port = sink.get_extra_info("sockname")[1]
    try:
        async with TurnClient.open(_server(coturn)) as client:
            await client.allocate(creds.username, creds.password)
            for peer in DENIED_SAMPLES:
                with pytest.raises(TurnRefused) as refused:
                    await client.create_permission(peer)
                assert refused.value.code == 403, (peer, refused.value)
            with pytest.raises(TurnRefused) as refused:
                await client.channel_bind(("127.0.0.1", sink_port))
            assert refused.value.code == 403
            # Without a permission a Send indication is dropped: nothing reaches loopback.
            client.send_indication(("127.0.0.1", sink_port), b"hello from the relay")
            await asyncio.sleep(0.5)
            assert received == []
            # The same allocation may reach a public address (documentation range;
            # a permission sends nothing): the refusals above are the peer policy.
            await client.create_permission("198.51.100.7")
    finally:
        sink.close()


async def test_allow_peers_opens_only_what_it_names_and_never_loopback() -> None:
    server = _start(allow_peers=("127.0.0.1", "10.213.99.6"))
    try:
        creds = turn.credentials(SECRET, 45, 600)
        async with TurnClient.open(_server(server)) as client:
            await client.allocate(creds.username, creds.password)
            await client.create_permission("10.213.99.6")  # allowed (tests only)
            for peer in ("127.0.0.1", "10.213.99.5", "192.168.0.1"):
                with pytest.raises(TurnRefused) as refused:
                    await client.create_permission(peer)
                assert refused.value.code == 403, peer
    finally:
        server.stop()


# --- 4. a client behind "UDP blocked" connects through TURN over TCP ----------------
#
#   nsA (client)  A.ns_ip ──veth── A.host_ip  [root: coturn listens here (TCP+UDP)]
#     │ 10.213.250.1                           [        relays from B.host_ip    ]
#     │ direct link (a LAN where UDP would work)                │
#     │ 10.213.250.2                                            │
#   nsB (peer)   B.ns_ip ──veth── B.host_ip ────────────────────┘
#
# nftables in nsA drops every UDP packet in and out (TCP stays open, as behind many
# corporate firewalls). No namespace has a default route; coturn's peer policy allows
# B.ns_ip only (the denied ranges keep everything else, including 10.213.250.2, out).

FIREWALL = """
table inet yiyun_fw {{
  chain output {{
    type filter hook output priority filter; policy accept;
    oifname "lo" accept
    ip daddr {turn_ip} tcp dport {port} accept
    meta l4proto udp counter drop
  }}
  chain input {{
    type filter hook input priority filter; policy accept;
    iifname "lo" accept
    meta l4proto udp counter drop
  }}
}}
"""
LAN = ("10.213.250.1", "10.213.250.2")


def _namespaces_missing() -> str | None:
    if shutil.which("turnserver") is None:
        return "coturn is not installed (scripts/install-system.sh)"
    if os.geteuid() != 0:
        return "network namespaces and nftables need root"
    for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            return (
                f"`{tool}` is not installed (Debian package {package}, scripts/install-system.sh)"
            )
    return None


def _udp_dropped(ns_prefix: list[str]) -> int:
    out = subprocess.run(
        [*ns_prefix, "nft", "list", "table", "inet", "yiyun_fw"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return sum(int(n) for n in re.findall(r"counter packets (\d+)", out))


def _candidates(sdp: str) -> list[tuple[str, str]]:
    """(address, type) of each candidate line of an SDP."""
    found = re.findall(r"a=candidate:\S+ \d+ udp \d+ (\S+) \d+ typ (\w+)", sdp, re.I)
    return [(address, kind) for address, kind in found]


class Peer:
    """One aiortc peer of `_peer_main()` in a namespace, spoken to in JSON lines."""

    def __init__(self, proc: asyncio.subprocess.Process, name: str) -> None:
        self.proc, self.name = proc, name

    @classmethod
    async def start(cls, prefix: list[str], name: str, errors: Path) -> Peer:
        with errors.with_suffix(f".{name}").open("ab") as err:
            proc = await asyncio.create_subprocess_exec(
                *prefix,
                sys.executable,
                "-m",
                "tests.media.test_turn",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                cwd=ROOT,
            )
        return cls(proc, name)

    async def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        await self.proc.stdin.drain()

    async def receive(self, within: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), within)
        if not line:
            raise AssertionError(f"peer {self.name} exited (code {self.proc.returncode})")
        message: dict[str, Any] = json.loads(line)
        return message

    async def finish(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 5)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


async def _call(
    ns_a: list[str], ns_b: list[str], config_a: dict[str, Any], within: float, errors: Path
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Offer from A, answer from B; returns A's offer SDP and both peers' results."""
    a = await Peer.start(ns_a, "A", errors)
    b: Peer | None = None
    try:
        await a.send({"role": "offer", "within": within, **config_a})
        offer = (await a.receive(30))["sdp"]
        b = await Peer.start(ns_b, "B", errors)
        await b.send(
            {"role": "answer", "within": within, "ice_servers": [], "policy": "all", "sdp": offer}
        )
        await a.send({"sdp": (await b.receive(30))["sdp"]})
        result_a = (await a.receive(within * 2 + 10))["result"]
        result_b = (await b.receive(within * 2 + 10))["result"]
        return offer, result_a, result_b
    finally:
        await asyncio.gather(*(p.finish() for p in (a, b) if p is not None))


@dataclass
class Topology:
    """The namespaces, the direct link and coturn of test 4 (see the drawing above)."""

    client: VethNamespace
    peer: VethNamespace
    server: CoturnProcess

    @classmethod
    def build(cls, made: list[Any]) -> Topology:
        """Build it; everything made is appended to `made` first, for the caller's cleanup."""
        from tests.media.janus_harness import VethNamespace

        client = VethNamespace.create()
        made.append(client)
        peer = VethNamespace.create()
        made.append(peer)
        lan = (f"yl{os.getpid() % 10**6}a", f"yl{os.getpid() % 10**6}b")
        link = f"ip link add {lan[0]} netns {client.name} type veth peer name {lan[1]}"
        subprocess.run(
            [*link.split(), "netns", peer.name],
            check=True,
            capture_output=True,
        )
        for ns, dev, address in ((client, lan[0], LAN[0]), (peer, lan[1], LAN[1])):
            ns.run("ip", "addr", "add", f"{address}/30", "dev", dev)
            ns.run("ip", "link", "set", dev, "up")
        server = _start(
            listening_ips=(client.host_ip,),
            relay_ips=(peer.host_ip,),
            allow_peers=(peer.ns_ip,),  # tests only: the peer's end of its veth pair
            verbose=True,  # session usage lines: what went through the relay
        )
        made.append(server)
        subprocess.run(
            [*client.prefix, "nft", "-f", "-"],
            input=FIREWALL.format(turn_ip=client.host_ip, port=server.options.port),
            check=True,
            capture_output=True,
            text=True,
        )
        return cls(client, peer, server)


def _cleanup(made: list[Any]) -> None:
    for thing in reversed(made):
        if isinstance(thing, CoturnProcess):
            thing.stop()
        else:
            thing.destroy()  # the namespace, its veth pairs and its nftables table


def _stderr(errors: Path) -> str:
    return "\n".join(
        path.read_text("utf-8", "replace")[-3000:] for path in sorted(errors.parent.glob("peers.*"))
    )


async def test_client_behind_udp_blocked_connects_through_turn(tmp_path: Path) -> None:
    reason = _namespaces_missing()
    if reason:
        pytest.skip(reason)
    made: list[Any] = []
    errors = tmp_path / "peers.stderr"
    try:
        net = Topology.build(made)
        client, peer = net.client.prefix, net.peer.prefix

        # Without TURN the client cannot reach the peer: every UDP packet is dropped,
        # although the direct link would carry them.
        offer, result_a, result_b = await _call(
            client, peer, {"ice_servers": [], "policy": "all"}, 6.0, errors
        )
        assert {kind for _, kind in _candidates(offer)} == {"host"}
        assert LAN[0] in {address for address, _ in _candidates(offer)}
        assert "connected_in" not in result_a and result_a["pongs"] == []
        assert result_b["frames"] == 0
        assert _udp_dropped(client) > 0

        # With the credentials the app hands a member: TURN over TCP, relay only.
        port = net.server.options.port
        media = MediaSettings(
            turn_urls=[f"turn:{net.client.host_ip}:{port}?transport=tcp"], turn_secret=SECRET
        )
        ice_servers = turn.ice_servers_for(media, 101)
        offer, result_a, result_b = await _call(
            client, peer, {"ice_servers": ice_servers, "policy": "relay"}, 20.0, errors
        )
        assert _candidates(offer), offer
        for address, kind in _candidates(offer):
            assert (address, kind) == (net.peer.host_ip, "relay")
        assert result_a.get("connected_in") is not None, (result_a, _stderr(errors))
        assert result_a["pongs"] == [f"pong {i}" for i in range(5)]
        assert result_b["pings"] == 5
        assert result_b["frames"] >= 10 and result_b["width"] == 640
        # coturn's own account (written when the allocation closes): the client's
        # credential, packets both ways between the relay and the peer, and the peer's
        # LAN address, which the client also tried through the relay, refused.
        user = re.escape(str(ice_servers[0]["username"]))
        usage = re.compile(
            rf"peer usage: realm=<{REALM}>, username=<{user}>, rp=(\d+), rb=\d+, sp=(\d+)"
        )
        for _ in range(40):
            found = usage.search(net.server.log_text())
            if found:
                break
            await asyncio.sleep(0.05)
        assert found, net.server.log_tail(40)
        assert int(found[1]) > 0 and int(found[2]) > 0
        assert f"peer IP {LAN[1]} denied" in net.server.log_text()
    finally:
        _cleanup(made)


async def _peer_main() -> None:
    """One peer of the namespace test (run with `python -m tests.media.test_turn`)."""
    from aiortc import (
        RTCBundlePolicy,
        RTCConfiguration,
        RTCIceServer,
        RTCPeerConnection,
        RTCSessionDescription,
    )
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack, VideoStreamTrack
    from aiortc.rtcconfiguration import RTCIceTransportPolicy

    loop = asyncio.get_running_loop()

    async def read() -> dict[str, Any]:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        return json.loads(line) if line.strip() else {}

    def emit(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    cfg = await read()
    pc = RTCPeerConnection(
        RTCConfiguration(
            iceServers=[RTCIceServer(**server) for server in cfg["ice_servers"]],
            iceTransportPolicy=RTCIceTransportPolicy(cfg["policy"]),
            bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
        )
    )
    within = float(cfg["within"])
    result: dict[str, Any] = {}
    if cfg["role"] == "offer":
        # The track first: aiortc 1.16 with max-bundle never starts ICE when the data
        # channel comes before the first transceiver.
        pc.addTrack(VideoStreamTrack())
        channel = pc.createDataChannel("chat")
        opened, answered = asyncio.Event(), asyncio.Event()
        pongs: list[str] = []
        channel.on("open", opened.set)

        @channel.on("message")
        def on_pong(message: str) -> None:
            pongs.append(message)
            if len(pongs) >= 5:
                answered.set()

        await pc.setLocalDescription(await pc.createOffer())
        emit({"sdp": pc.localDescription.sdp})
        answer = await read()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        began = loop.time()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(opened.wait(), within)
            result["connected_in"] = loop.time() - began
            for i in range(5):
                channel.send(f"ping {i}")
            await asyncio.wait_for(answered.wait(), within)
        result.update(pongs=pongs, ice=pc.iceConnectionState)
    else:
        pings: list[str] = []
        widths: list[int] = []
        done = asyncio.Event()
        pulls: list[asyncio.Task[None]] = []

        def check() -> None:
            if len(pings) >= 5 and len(widths) >= 10:
                done.set()

        @pc.on("datachannel")
        def on_channel(channel: Any) -> None:
            @channel.on("message")
            def on_ping(message: str) -> None:
                pings.append(message)
                channel.send(message.replace("ping", "pong"))
                check()

        async def pull(track: MediaStreamTrack) -> None:
            with contextlib.suppress(MediaStreamError):
                while True:
                    frame = await track.recv()
                    widths.append(int(frame.width))
                    check()

        pc.on("track", lambda track: pulls.append(asyncio.ensure_future(pull(track))))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=cfg["sdp"], type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        emit({"sdp": pc.localDescription.sdp})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), within)
        result.update(
            pings=len(pings),
            frames=len(widths),
            width=widths[-1] if widths else 0,
            ice=pc.iceConnectionState,
        )
        for task in pulls:
            task.cancel()
    emit({"result": result})
    await read()  # the test closes stdin once both peers have reported
    await pc.close()


if __name__ == "__main__":
    if os.environ.get("YIYUN_TEST_PEER_DEBUG"):  # aiortc/aioice logs in peers.stderr.*
        import logging

        logging.basicConfig(level=logging.DEBUG)
    asyncio.run(_peer_main())
