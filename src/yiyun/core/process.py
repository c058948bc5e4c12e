"""Lifecycle of a helper server process we start (Janus, coturn): log tail and stop."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path


def log_tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log file ("" when it cannot be read)."""
    try:
        text = path.read_text("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def stop(
    proc: subprocess.Popen[bytes], *, timeout: float = 5.0, workdir: Path | None = None
) -> None:
    """SIGTERM, then SIGKILL after `timeout`; remove `workdir` when given (owned)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)
