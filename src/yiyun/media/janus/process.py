"""Start and stop a Janus process from Yiyun's own config templates.

`render_config()` writes a config directory from the templates in `config/`: the
core file, the VideoRoom plugin and the WebSocket (and optionally HTTP)
transports, plus folders holding links to just those libraries, so nothing else
Janus ships is loaded. `JanusProcess.start()` runs
`janus -F DIR -C DIR/janus.jcfg` (optionally under a prefix such as
`ip netns exec NS`), waits until the WebSocket API answers `info`, and
`stop()` ends it (SIGTERM, then SIGKILL). Used by the tests and for local
development; production runs Janus under systemd with a rendered directory.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

from yiyun.core import process
from yiyun.media.engine import EngineUnavailable
from yiyun.media.janus.client import PROTOCOL

LIB_DIR_CANDIDATES = (
    "/usr/lib/*/janus",
    "/usr/lib/janus",
    "/usr/local/lib/janus",
    "/opt/janus/lib/janus",
)
PLUGINS = ("libjanus_videoroom.so",)
TRANSPORTS = {"ws": "libjanus_websockets.so", "http": "libjanus_http.so"}


@dataclass(frozen=True)
class JanusOptions:
    """What differs between Janus nodes; everything else is fixed by the templates."""

    api_ip: str = "127.0.0.1"
    ws_port: int = 8188
    http_port: int | None = None
    rtp_port_range: str = "20000-40000"
    # ICE: interfaces or address prefixes to use (all but the ignored ones if None)
    ice_enforce_list: str | None = None
    ice_ignore_list: str = "vmnet,docker"
    nat_1_1_mapping: str | None = None  # public address when behind 1:1 NAT
    stun_server: str | None = None  # "host:port"
    api_secret: str | None = None
    admin_key: str | None = None  # required to create/list rooms when set
    session_timeout: int = 60
    debug_level: int = 4
    server_name: str = "yiyun-janus"
    lib_dir: str | None = None

    @property
    def url(self) -> str:
        return f"ws://{self.api_ip}:{self.ws_port}"


def find_lib_dir() -> Path:
    """The folder holding Janus's `plugins/` and `transports/` (Debian: multiarch)."""
    env = os.environ.get("YIYUN_JANUS_LIB_DIR")
    patterns = (env,) if env else LIB_DIR_CANDIDATES
    for pattern in patterns:
        for found in sorted(glob.glob(pattern)):
            if Path(found, "plugins", PLUGINS[0]).exists():
                return Path(found)
    raise EngineUnavailable("Janus libraries not found (install the Debian package `janus`)")


def _line(key: str, value: str | None) -> str:
    return f'{key} = "{value}"' if value else ""


def render_config(directory: Path, options: JanusOptions) -> Path:
    """Write a complete Janus config directory; returns the path of `janus.jcfg`."""
    lib = Path(options.lib_dir) if options.lib_dir else find_lib_dir()
    directory.mkdir(parents=True, exist_ok=True)
    folders = {name: directory / name for name in ("plugins", "transports", "events", "loggers")}
    for folder in folders.values():
        folder.mkdir(exist_ok=True)
    wanted = {"plugins": list(PLUGINS), "transports": [TRANSPORTS["ws"]]}
    if options.http_port is not None:
        wanted["transports"].append(TRANSPORTS["http"])
    for kind, names in wanted.items():
        for name in names:
            link = folders[kind] / name
            if not link.exists():
                link.symlink_to(lib / kind / name)
    stun = ""
    if options.stun_server:
        host, _, port = options.stun_server.rpartition(":")
        stun = f'stun_server = "{host}"\n\tstun_port = {int(port)}'
    values = {
        "configs_folder": str(directory),
        "plugins_folder": str(folders["plugins"]),
        "transports_folder": str(folders["transports"]),
        "events_folder": str(folders["events"]),
        "loggers_folder": str(folders["loggers"]),
        "debug_level": str(options.debug_level),
        "server_name": options.server_name,
        "session_timeout": str(options.session_timeout),
        "api_secret_line": _line("api_secret", options.api_secret),
        "admin_key_line": _line("admin_key", options.admin_key),
        "rtp_port_range": options.rtp_port_range,
        "ice_ignore_list": options.ice_ignore_list,
        "ice_enforce_line": _line("ice_enforce_list", options.ice_enforce_list),
        "nat_1_1_line": _line("nat_1_1_mapping", options.nat_1_1_mapping),
        "stun_lines": stun,
        "api_ip": options.api_ip,
        "ws_port": str(options.ws_port),
        "http_port": str(options.http_port or 0),
    }
    templates = resources.files("yiyun.media.janus") / "config"
    names = [
        "janus.jcfg",
        "janus.plugin.videoroom.jcfg",
        "janus.transport.websockets.jcfg",
    ]
    if options.http_port is not None:
        names.append("janus.transport.http.jcfg")
    for name in names:
        text = Template((templates / name).read_text("utf-8")).substitute(values)
        (directory / name).write_text(text, "utf-8")
    return directory / "janus.jcfg"


def api_answers(url: str, *, timeout: float = 1.0, api_secret: str | None = None) -> bool:
    """True when Janus at `url` answers an `info` request."""
    request: dict[str, str] = {"janus": "info", "transaction": "ready"}
    if api_secret:
        request["apisecret"] = api_secret
    try:
        with connect(url, subprotocols=[PROTOCOL], open_timeout=timeout, proxy=None) as ws:
            ws.send(json.dumps(request))
            reply = json.loads(ws.recv(timeout=timeout))
    except (OSError, TimeoutError, WebSocketException, ValueError):
        return False
    return isinstance(reply, dict) and reply.get("janus") == "server_info"


class JanusProcess:
    """A running Janus started from rendered templates in its own directory."""

    def __init__(
        self, proc: subprocess.Popen[bytes], options: JanusOptions, workdir: Path, owned: bool
    ) -> None:
        self.proc = proc
        self.options = options
        self.workdir = workdir
        self.started_in = 0.0
        self._owned = owned

    @property
    def url(self) -> str:
        return self.options.url

    @property
    def log_path(self) -> Path:
        return self.workdir / "janus.log"

    @classmethod
    def start(
        cls,
        options: JanusOptions,
        *,
        binary: str = "janus",
        prefix: Sequence[str] = (),
        workdir: Path | None = None,
        startup_timeout: float = 10.0,
    ) -> JanusProcess:
        """Render the config, run Janus and wait until its API answers."""
        exe = shutil.which(binary)
        if exe is None:
            raise EngineUnavailable(f"{binary!r} not found (install the Debian package `janus`)")
        owned = workdir is None
        directory = Path(tempfile.mkdtemp(prefix="yiyun-janus-")) if workdir is None else workdir
        try:
            config = render_config(directory, options)
        except BaseException:
            if owned:
                shutil.rmtree(directory, ignore_errors=True)
            raise
        began = time.monotonic()
        with (directory / "janus.log").open("ab") as log:
            proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [*prefix, exe, "-F", str(directory), "-C", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        janus = cls(proc, options, directory, owned)
        deadline = began + startup_timeout
        while not api_answers(options.url, timeout=0.5, api_secret=options.api_secret):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = janus.log_tail()
                janus.stop()
                raise EngineUnavailable(f"Janus did not start: {tail}")
            time.sleep(0.02)
        janus.started_in = time.monotonic() - began
        return janus

    def log_tail(self, lines: int = 20) -> str:
        return process.log_tail(self.log_path, lines)

    def kill(self) -> None:
        """Kill at once, as a crash would (failover tests)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop cleanly (SIGTERM, then SIGKILL after `timeout`); remove an owned workdir."""
        process.stop(self.proc, timeout=timeout, workdir=self.workdir if self._owned else None)

    def __enter__(self) -> JanusProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m yiyun.media.janus`: a local Janus for development, until Ctrl-C/SIGTERM."""
    parser = argparse.ArgumentParser(description="Run Janus from Yiyun's config templates.")
    parser.add_argument("--api-ip", default="127.0.0.1", help="address the API binds to")
    parser.add_argument("--ws-port", type=int, default=8188)
    parser.add_argument("--http-port", type=int, default=None)
    parser.add_argument("--rtp-ports", default="20000-40000", help="RTP/ICE port range")
    parser.add_argument("--ice", default=None, help="interfaces or addresses ICE may use")
    parser.add_argument("--nat-1-1", default=None, help="public address behind a 1:1 NAT")
    parser.add_argument("--workdir", type=Path, default=None, help="keep config and log here")
    args = parser.parse_args(argv)
    options = JanusOptions(
        api_ip=args.api_ip,
        ws_port=args.ws_port,
        http_port=args.http_port,
        rtp_port_range=args.rtp_ports,
        ice_enforce_list=args.ice,
        nat_1_1_mapping=args.nat_1_1,
    )
    janus = JanusProcess.start(options, workdir=args.workdir)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop Janus on SIGTERM too
    print(f"Janus up in {janus.started_in * 1000:.0f} ms; log: {janus.log_path}")
    print(f"YIYUN_MEDIA__ENGINE=janus YIYUN_MEDIA__JANUS_URLS='[\"{janus.url}\"]'")
    try:
        janus.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        janus.stop()
