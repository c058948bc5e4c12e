"""Run coturn (the TURN relay) from Yiyun's own settings, hardened by default.

`render_config()` writes a `turnserver.conf` (mode 0600: it holds the shared secret,
which therefore never appears on a command line) and `CoturnProcess.start()` runs
`turnserver -c FILE` (optionally under a prefix such as `ip netns exec NS`), waits
until it answers a STUN Binding request and `stop()` ends it. Tests and local
development use the process; production renders the file once and runs coturn under
systemd (docs/media.md, "TURN").

What every rendered config does:

* time-limited credentials only: `use-auth-secret` + `static-auth-secret` (the app
  signs them, `yiyun.media.turn`); `realm`; `fingerprint`; stale nonces;
* no CLI, no DTLS, no TLS unless a certificate is given, no TCP relays (browsers
  relay UDP; TCP relays would let a client open TCP connections anywhere), no
  multicast peers, no software version in replies;
* `denied-peer-ip` for loopback, 0.0.0.0/8, private (10/8, 172.16/12, 192.168/16,
  fc00::/7), carrier-grade NAT, link-local (169.254/16, cloud metadata, fe80::/10),
  multicast, reserved ranges and the IPv6 forms of IPv4 (mapped, NAT64): the
  CVE-2020-26262 hardening (coturn refuses 0.0.0.0 and :: by itself).

`allow_peers` writes `allowed-peer-ip`, which coturn checks *before* the denied
ranges: it exists for tests that relay between veth pairs on private /30s and must
never be set in production. coturn refuses loopback peers whatever it says
(`allow-loopback-peers` is never written).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from yiyun.core import process

# Peers coturn must never relay to (CIDR). See the module docstring.
DEFAULT_DENIED_PEERS: tuple[str, ...] = (
    "0.0.0.0/8",  # "this network" (coturn refuses 0.0.0.0 and :: on its own)
    "10.0.0.0/8",  # private
    "100.64.0.0/10",  # carrier-grade NAT (shared address space)
    "127.0.0.0/8",  # loopback
    "169.254.0.0/16",  # link-local, cloud metadata (169.254.169.254)
    "172.16.0.0/12",  # private
    "192.0.0.0/24",  # IETF protocol assignments
    "192.168.0.0/16",  # private
    "198.18.0.0/15",  # benchmarking
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, limited broadcast
    "::1/128",  # loopback
    "::ffff:0:0/96",  # IPv4-mapped: would reach the IPv4 ranges above
    "64:ff9b::/96",  # NAT64: the same, through a translator
    "100::/64",  # discard
    "fc00::/7",  # unique local (private)
    "fe80::/10",  # link-local
    "ff00::/8",  # multicast
)

STUN_MAGIC = 0x2112A442


class CoturnUnavailable(RuntimeError):
    """coturn is not installed or did not start."""


@dataclass(frozen=True)
class CoturnOptions:
    """Everything Yiyun sets in coturn's config."""

    secret: str
    realm: str = "yiyun"
    listening_ips: tuple[str, ...] = ("127.0.0.1",)
    port: int = 3478
    relay_ips: tuple[str, ...] = ()  # default: the listening addresses
    external_ip: str | None = None  # "public" or "public/private" behind 1:1 NAT
    min_port: int = 49152
    max_port: int = 65535
    denied_peers: tuple[str, ...] = DEFAULT_DENIED_PEERS
    # Add the deployment's own public addresses (app nodes, databases) here.
    extra_denied_peers: tuple[str, ...] = ()
    # TESTS ONLY: peers allowed despite the denied ranges (never in production).
    allow_peers: tuple[str, ...] = ()
    tls_cert: Path | None = None  # with tls_key: TURN over TLS (`turns:`) on tls_port
    tls_key: Path | None = None
    tls_port: int = 5349
    max_allocate_lifetime: int = 3600
    user_quota: int = 12  # allocations per credential at once
    total_quota: int = 0  # 0: unlimited
    max_bps: int = 0  # per session, bytes/s; 0: unlimited
    verbose: bool = False
    extra_lines: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.secret:
            raise ValueError("coturn needs a shared secret")
        if not self.listening_ips:
            raise ValueError("coturn needs at least one listening address")
        if not 0 < self.min_port <= self.max_port <= 65535:
            raise ValueError("relay port range must satisfy 0 < min_port <= max_port <= 65535")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("TLS needs both tls_cert and tls_key")
        for spec in (*self.denied_peers, *self.extra_denied_peers, *self.allow_peers):
            peer_range(spec)  # fail here, not in coturn
        for line in self.extra_lines:
            if "allow-loopback-peers" in line or "\n" in line:
                raise ValueError(f"refused config line: {line!r}")

    @property
    def urls(self) -> list[str]:
        """TURN URLs for `YIYUN_MEDIA__TURN_URLS` (the first listening address)."""
        host = self.external_ip.split("/")[0] if self.external_ip else self.listening_ips[0]
        if ":" in host:
            host = f"[{host}]"
        urls = [
            f"turn:{host}:{self.port}?transport=udp",
            f"turn:{host}:{self.port}?transport=tcp",
        ]
        if self.tls_cert is not None:
            urls.append(f"turns:{host}:{self.tls_port}?transport=tcp")
        return urls


def peer_range(spec: str) -> str:
    """coturn's `ip[-ip]` form of a CIDR block, an address or an existing range.

    coturn 4.6 reads a range that starts at `::`, or the single address 0.0.0.0, as
    *every* address (measured: such a `denied-peer-ip` refuses 8.8.8.8), so those are
    refused here; coturn never relays to an unspecified address anyway.
    """
    if "-" in spec:
        first, last = (ipaddress.ip_address(part.strip()) for part in spec.split("-", 1))
        if first.version != last.version or int(first) > int(last):
            raise ValueError(f"bad address range: {spec!r}")
    else:
        network = ipaddress.ip_network(spec, strict=True)
        first, last = network.network_address, network.broadcast_address
    if first.is_unspecified and (first.version == 6 or first == last):
        raise ValueError(f"{spec!r}: coturn would read this range as every address")
    return str(first) if first == last else f"{first}-{last}"


def config_lines(options: CoturnOptions, run_dir: Path) -> list[str]:
    """The lines of `turnserver.conf`; pid file, log and coturn's database go in `run_dir`."""
    lines = [
        "# Rendered by yiyun.media.coturn; do not edit by hand.",
        f"listening-port={options.port}",
        *(f"listening-ip={ip}" for ip in options.listening_ips),
        *(f"relay-ip={ip}" for ip in (options.relay_ips or options.listening_ips)),
        f"min-port={options.min_port}",
        f"max-port={options.max_port}",
        "use-auth-secret",
        f"static-auth-secret={options.secret}",
        f"realm={options.realm}",
        "fingerprint",
        "stale-nonce=600",
        f"max-allocate-lifetime={options.max_allocate_lifetime}",
        f"user-quota={options.user_quota}",
        f"total-quota={options.total_quota}",
        f"max-bps={options.max_bps}",
        "no-cli",
        "no-dtls",
        "no-tcp-relay",
        "no-multicast-peers",
        "no-software-attribute",
        f"pidfile={run_dir / 'turnserver.pid'}",
        f"log-file={run_dir / 'turnserver.log'}",
        f"userdb={run_dir / 'turndb'}",  # unused with use-auth-secret; keeps /var/lib alone
        "simple-log",
        "no-stdout-log",
    ]
    if options.external_ip:
        lines.append(f"external-ip={options.external_ip}")
    if options.tls_cert is not None and options.tls_key is not None:
        lines += [
            f"tls-listening-port={options.tls_port}",
            f"cert={options.tls_cert}",
            f"pkey={options.tls_key}",
            "no-tlsv1",
            "no-tlsv1_1",
        ]
    else:
        lines.append("no-tls")
    if options.verbose:
        lines.append("verbose")
    lines += [f"denied-peer-ip={peer_range(p)}" for p in options.denied_peers]
    lines += [f"denied-peer-ip={peer_range(p)}" for p in options.extra_denied_peers]
    if options.allow_peers:
        lines.append("# TESTS ONLY: relaying to these peers is allowed despite the denials.")
        lines += [f"allowed-peer-ip={peer_range(p)}" for p in options.allow_peers]
    lines += list(options.extra_lines)
    return lines


def render_config(directory: Path, options: CoturnOptions, *, run_dir: Path | None = None) -> Path:
    """Write `directory/turnserver.conf` (mode 0600: it holds the secret); returns its path.

    `run_dir` (default: `directory`) receives coturn's pid file, log and database.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "turnserver.conf"
    text = "\n".join(config_lines(options, run_dir or directory)) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    path.chmod(0o600)  # also when the file was already there
    return path


def stun_answers(host: str, port: int, *, timeout: float = 0.5) -> bool:
    """True when a STUN Binding request to host:port (UDP) gets a success response."""
    transaction = secrets.token_bytes(12)
    request = struct.pack("!HHI", 0x0001, 0, STUN_MAGIC) + transaction
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(request, (host, port))
            data = sock.recv(2048)
        except OSError:
            return False
    return len(data) >= 20 and data[:2] == b"\x01\x01" and data[8:20] == transaction


def _probe_host(options: CoturnOptions) -> str:
    """Where to send the readiness probe: a wildcard listener is probed on loopback."""
    host = ipaddress.ip_address(options.listening_ips[0])
    if host.is_unspecified:
        return "::1" if host.version == 6 else "127.0.0.1"
    return str(host)


class CoturnProcess:
    """A running coturn started from a rendered config in its own directory."""

    def __init__(
        self, proc: subprocess.Popen[bytes], options: CoturnOptions, workdir: Path, owned: bool
    ) -> None:
        self.proc = proc
        self.options = options
        self.workdir = workdir
        self.started_in = 0.0
        self._owned = owned

    @property
    def log_path(self) -> Path:
        return self.workdir / "turnserver.log"

    @property
    def config_path(self) -> Path:
        return self.workdir / "turnserver.conf"

    @property
    def urls(self) -> list[str]:
        return self.options.urls

    @classmethod
    def start(
        cls,
        options: CoturnOptions,
        *,
        binary: str = "turnserver",
        prefix: Sequence[str] = (),
        workdir: Path | None = None,
        startup_timeout: float = 10.0,
        probe: bool = True,
    ) -> CoturnProcess:
        """Render the config, run coturn and wait until it answers STUN.

        Pass `probe=False` when this namespace cannot reach the listening address
        (coturn inside a namespace); the caller then checks readiness itself.
        """
        exe = shutil.which(binary)
        if exe is None:
            raise CoturnUnavailable(f"{binary!r} not found (install the Debian package `coturn`)")
        owned = workdir is None
        directory = Path(tempfile.mkdtemp(prefix="yiyun-coturn-")) if workdir is None else workdir
        config = render_config(directory, options)
        began = time.monotonic()
        with (directory / "stdout.log").open("ab") as out:
            proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [*prefix, exe, "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        turn = cls(proc, options, directory, owned)
        deadline = began + startup_timeout
        host = _probe_host(options)
        while probe and not stun_answers(host, options.port, timeout=0.2):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = turn.log_tail()
                turn.stop()
                raise CoturnUnavailable(f"coturn did not start: {tail}")
        turn.started_in = time.monotonic() - began
        return turn

    def log_text(self) -> str:
        try:
            return self.log_path.read_text("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 20) -> str:
        return process.log_tail(self.log_path, lines)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop cleanly (SIGTERM, then SIGKILL after `timeout`); remove an owned workdir."""
        process.stop(self.proc, timeout=timeout, workdir=self.workdir if self._owned else None)

    def __enter__(self) -> CoturnProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _split(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(v for value in values for v in value.split(",") if v)


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m yiyun.media.coturn`: a local coturn for development, until Ctrl-C/SIGTERM.

    The secret comes from `YIYUN_MEDIA__TURN_SECRET` (or a new random one is made and
    printed). `--render DIR` only writes DIR/turnserver.conf (for production) and exits.
    """
    from yiyun.settings import Settings  # the CLI alone reads the environment

    parser = argparse.ArgumentParser(description="Run coturn from Yiyun's settings.")
    parser.add_argument("--listen", action="append", default=[], help="listening address(es)")
    parser.add_argument("--port", type=int, default=3478)
    parser.add_argument("--relay-ip", action="append", default=[], help="relay address(es)")
    parser.add_argument("--external-ip", default=None, help="public[/private] behind 1:1 NAT")
    parser.add_argument("--min-port", type=int, default=49152)
    parser.add_argument("--max-port", type=int, default=65535)
    parser.add_argument("--realm", default="yiyun")
    parser.add_argument("--deny", action="append", default=[], help="extra denied CIDRs")
    parser.add_argument("--tls-cert", type=Path, default=None)
    parser.add_argument("--tls-key", type=Path, default=None)
    parser.add_argument("--tls-port", type=int, default=5349)
    parser.add_argument("--workdir", type=Path, default=None, help="keep config and log here")
    parser.add_argument("--render", type=Path, default=None, help="write the config and exit")
    parser.add_argument("--run-dir", type=Path, default=None, help="with --render: log, pid")
    args = parser.parse_args(argv)
    configured = Settings().media.turn_secret
    secret = configured.get_secret_value() if configured else secrets.token_urlsafe(32)
    options = CoturnOptions(
        secret=secret,
        realm=args.realm,
        listening_ips=_split(args.listen) or ("127.0.0.1",),
        port=args.port,
        relay_ips=_split(args.relay_ip),
        external_ip=args.external_ip,
        min_port=args.min_port,
        max_port=args.max_port,
        extra_denied_peers=_split(args.deny),
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_port=args.tls_port,
    )
    urls = ", ".join(f'"{url}"' for url in options.urls)
    app_settings = [f"YIYUN_MEDIA__TURN_URLS='[{urls}]'"]
    if configured is None:  # the app must be given the secret coturn was given
        app_settings.append(f"YIYUN_MEDIA__TURN_SECRET='{secret}'")
    if args.render is not None:
        print(render_config(args.render, options, run_dir=args.run_dir))
        print("\n".join(app_settings))
        return
    turn = CoturnProcess.start(options, workdir=args.workdir)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop coturn on SIGTERM too
    print(f"coturn up in {turn.started_in * 1000:.0f} ms; log: {turn.log_path}")
    print("\n".join(app_settings))
    try:
        turn.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        turn.stop()


if __name__ == "__main__":
    main()
