"""CPU accounting from /proc: a process's CPU time (all its threads) and the machine's."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all threads included (/proc/<pid>/stat).

    Fields 14 and 15 (utime, stime) count every thread, exited ones too, in clock
    ticks (1/CLK_TCK s; 10 ms here), so windows are a few seconds long.
    """
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@dataclass(frozen=True)
class MachineCpu:
    """Busy, softirq and total jiffies of every CPU (/proc/stat): what else ran.

    Softirq time is kept apart: at tens of thousands of packets/s, the kernel's
    delivery of our own UDP traffic over the veth pair runs as softirq on the
    sender's CPU and is not charged to any process.
    """

    busy: dict[int, int]
    softirq: dict[int, int]
    total: dict[int, int]

    @classmethod
    def read(cls) -> MachineCpu:
        busy, softirq, total = {}, {}, {}
        for line in Path("/proc/stat").read_text().splitlines():
            name, *values = line.split()
            if not name.startswith("cpu") or name == "cpu":
                continue
            nums = [int(v) for v in values[:8]]  # user nice system idle iowait irq softirq steal
            cpu = int(name[3:])
            total[cpu] = sum(nums)
            busy[cpu] = sum(nums) - nums[3] - nums[4]
            softirq[cpu] = nums[6]
        return cls(busy, softirq, total)

    def _since(
        self, now: dict[int, int], then: dict[int, int], earlier: MachineCpu, cpus: set[int] | None
    ) -> float:
        out = 0.0
        for cpu in self.total if cpus is None else cpus:
            total = self.total[cpu] - earlier.total.get(cpu, 0)
            if total > 0:
                out += (now[cpu] - then.get(cpu, 0)) / total
        return out

    def busy_since(self, earlier: MachineCpu, cpus: set[int] | None = None) -> float:
        """Cores of `cpus` (all by default) kept busy between the two readings."""
        return self._since(self.busy, earlier.busy, earlier, cpus)

    def softirq_since(self, earlier: MachineCpu, cpus: set[int] | None = None) -> float:
        """Cores of `cpus` (all by default) spent in softirq between the two readings."""
        return self._since(self.softirq, earlier.softirq, earlier, cpus)


def speed_probe_ms(cpu: int, loops: int = 1_000_000) -> float:
    """CPU milliseconds a fixed pure-Python loop takes on `cpu` (lower = faster).

    On a virtual machine the same work costs more CPU time when the host is busy (a
    shared physical core, other guests), so CPU fractions are only comparable between
    windows whose probes agree. Runs in a thread of its own pinned to `cpu`; blocks
    the caller (and its event loop) for the duration, ~0.1 s.
    """
    took: list[float] = []

    def work() -> None:
        os.sched_setaffinity(0, {cpu})
        start, total = time.thread_time(), 0
        for i in range(loops):
            total += i ^ (i >> 3)
        took.append(time.thread_time() - start)

    thread = threading.Thread(target=work, name="speed-probe")
    thread.start()
    thread.join()
    return round(took[0] * 1000, 1)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def janus_version() -> str:
    try:
        out = subprocess.run(["janus", "--version"], capture_output=True, text=True, check=False)
    except OSError:
        return "not installed"
    lines = (out.stdout or out.stderr).splitlines()
    return next((line.split(":", 1)[1].strip() for line in lines if "version" in line), "?")


def ffmpeg_version() -> str:
    try:
        out = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=False)
    except OSError:
        return "not installed"
    first = out.stdout.splitlines()[0] if out.stdout else "?"
    return first.split()[2] if first.startswith("ffmpeg version") else first
