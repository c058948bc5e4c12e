"""Orthanc (Debian's `orthanc` + `orthanc-dicomweb`) as the project's PACS: our own
configuration in a directory of our choosing, started and stopped by our scripts, tests
and benchmark. Orthanc has no bind-address option: it only accepts local connections
(`RemoteAccessAllowed: false`) and requires a password."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

PLUGIN_DIRS = ("/usr/share/orthanc/plugins", "/usr/lib/orthanc")
BINARY = "Orthanc"


def available() -> bool:
    return shutil.which(BINARY) is not None and _plugin() is not None


def _plugin() -> str | None:
    for folder in PLUGIN_DIRS:
        for path in sorted(Path(folder).glob("libOrthancDicomWeb.so*")):
            return str(path)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class OrthancProcess:
    process: subprocess.Popen[bytes]
    root: Path
    http_port: int
    dicom_port: int
    username: str
    password: str
    ae_title: str = "ORTHANC"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def config(
    root: Path,
    *,
    http_port: int,
    dicom_port: int,
    username: str,
    password: str,
    peer_ae: str = "YIYUN",
    peer_port: int = 11113,
) -> dict[str, object]:
    plugin = _plugin()
    return {
        "Name": "YiyunPACS",
        "StorageDirectory": str(root / "storage"),
        "IndexDirectory": str(root / "index"),
        "Plugins": [plugin] if plugin else [],
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": "ORTHANC",
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {username: password},
        "OrthancExplorerEnabled": False,
        "WebDavEnabled": False,
        "HttpCompressionEnabled": False,
        "DefaultEncoding": "Utf8",
        "UnknownSopClassAccepted": True,
        "DicomModalities": {"yiyun": [peer_ae, "127.0.0.1", peer_port]},
        "DicomAlwaysAllowFind": True,
        "DicomAlwaysAllowMove": True,
        "DicomAlwaysAllowStore": True,
        "ConcurrentJobs": 1,
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True, "Ssl": False},
    }


def start(
    root: Path,
    *,
    username: str = "yiyun",
    password: str = "yiyun-pacs",  # noqa: S107 - local test/demo PACS, loopback only
    http_port: int | None = None,
    dicom_port: int | None = None,
    peer_port: int = 11113,
    timeout: float = 15.0,
) -> OrthancProcess:
    """Start Orthanc with its data under `root`; returns once `/system` answers."""
    root.mkdir(parents=True, exist_ok=True)
    http_port = http_port or free_port()
    dicom_port = dicom_port or free_port()
    cfg = config(
        root,
        http_port=http_port,
        dicom_port=dicom_port,
        username=username,
        password=password,
        peer_port=peer_port,
    )
    path = root / "orthanc.json"
    path.write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    log = (root / "orthanc.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
        [BINARY, f"--logdir={root}", str(path)], stdout=log, stderr=subprocess.STDOUT
    )
    orthanc = OrthancProcess(process, root, http_port, dicom_port, username, password)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Orthanc exited; see {root / 'orthanc.log'}")
        try:
            r = httpx.get(f"{orthanc.url}/system", auth=(username, password), timeout=1.0)
            if r.status_code == 200:
                return orthanc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    orthanc.stop()
    raise RuntimeError("Orthanc did not start in time")


def main(argv: list[str] | None = None) -> int:
    """`python -m yiyun.imaging.orthanc DIR HTTP_PORT DICOM_PORT`: run the demo PACS in
    the foreground (scripts/run.sh starts it beside the app)."""
    import signal
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3 or not available():
        print("usage: python -m yiyun.imaging.orthanc DIR HTTP_PORT DICOM_PORT (needs orthanc)")
        return 2
    proc = start(Path(args[0]), http_port=int(args[1]), dicom_port=int(args[2]))
    signal.signal(signal.SIGTERM, lambda *_: proc.stop())
    try:
        return proc.process.wait()
    except KeyboardInterrupt:
        proc.stop()
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
