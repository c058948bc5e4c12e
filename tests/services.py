"""Real PostgreSQL and Redis for tests.

Use the server already listening (CI machines run PostgreSQL on 127.0.0.1:5432 with
trust auth and Redis on 6379); where none is, start a private one from the installed
binaries in a temporary directory, and stop it at the end.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    url: str
    stop_cmds: list[list[str]] = field(default_factory=list)
    tmp: str | None = None

    def stop(self) -> None:
        for cmd in self.stop_cmds:
            subprocess.run(cmd, check=False, capture_output=True)
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def postgres() -> Service:
    """An admin URL (database `postgres`) of a reachable PostgreSQL server."""
    env_url = os.environ.get("YIYUN_TEST_PG_ADMIN_URL")
    if env_url:
        return Service(env_url)
    if port_open("127.0.0.1", 5432):
        return Service("postgresql://postgres@127.0.0.1:5432/postgres")
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        raise RuntimeError("no PostgreSQL server on 127.0.0.1:5432 and no initdb to start one")
    tmp = tempfile.mkdtemp(prefix="yiyun-pg-")
    data, port = os.path.join(tmp, "data"), free_port()
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root
        shutil.chown(tmp, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*run_as, initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *run_as,
            pg_ctl,
            "-D",
            data,
            "-o",
            f"-p {port} -k {tmp} -h 127.0.0.1",
            "-l",
            os.path.join(tmp, "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    return Service(
        f"postgresql://postgres@127.0.0.1:{port}/postgres",
        [[*run_as, pg_ctl, "-D", data, "-m", "fast", "stop"]],
        tmp,
    )


def redis() -> Service:
    env_url = os.environ.get("YIYUN_TEST_REDIS_URL")
    if env_url:
        return Service(env_url)
    if port_open("127.0.0.1", 6379):
        return Service("redis://127.0.0.1:6379/15")
    server = shutil.which("redis-server")
    if not server:
        raise RuntimeError("no Redis on 127.0.0.1:6379 and no redis-server to start one")
    tmp, port = tempfile.mkdtemp(prefix="yiyun-redis-"), free_port()
    proc = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            tmp,
        ],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(50):
        if port_open("127.0.0.1", port):
            break
        time.sleep(0.1)
    return Service(f"redis://127.0.0.1:{port}/0", [["kill", str(proc.pid)]], tmp)


def orthanc(peer_port: int) -> tuple[Any, Service]:
    """Orthanc from Debian with the project's configuration, in a temporary directory
    (DICOMweb plugin on, C-MOVE destination YIYUN at `peer_port`)."""
    from pathlib import Path

    from yiyun.imaging import orthanc as orthanc_process

    if not orthanc_process.available():
        raise RuntimeError("Orthanc is not installed: bash scripts/install-system.sh")
    tmp = tempfile.mkdtemp(prefix="yiyun-orthanc-")
    proc = orthanc_process.start(Path(tmp), peer_port=peer_port)
    return proc, Service(proc.url, [["kill", str(proc.process.pid)]], tmp)
