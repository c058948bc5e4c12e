"""Benchmark sealing files at rest: encrypt and decrypt throughput, memory high-water.

A 200 MB file of random bytes (incompressible, like encoded video) goes through the
blob store's own code paths:

* seal: `LocalStore.put_file` (read, AES-GCM per 64 KiB chunk, write, fsync, rename);
* open: `SealedReader.read` in 1 MiB blocks, the whole file;
* range: 200 single-byte reads at random offsets (each opens one chunk), the cost a
  seek in a video player pays;
* baselines, so the disk's and the cipher's shares are visible: an in-kernel copy
  (`shutil.copyfile`) and AES-GCM alone over 100 MB of 64 KiB chunks.

Memory: the peak of Python allocations (tracemalloc, in a second, traced run of each
step; the timings come from the untraced run), and the process's resident high-water
mark (ru_maxrss) before and after. The file itself is
never in memory: both peaks stay near one chunk plus one read block.

Usage: ``.venv/bin/python benchmarks/bench_storage.py [--mb 200] [--dir DIR]``.
Writes ``benchmarks/results/storage.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from yiyun.core.sealed import BlobKeys
from yiyun.core.storage import LocalStore

RESULTS = Path(__file__).resolve().parent / "results" / "storage.json"
MB = 1_000_000


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _measure(fn: Callable[[], Any], *, traced: bool = False) -> tuple[float, float, Any]:
    """(seconds, Python allocation peak in MB when traced, result) of one call."""
    os.sync()  # earlier steps' dirty pages must not be flushed on this step's time
    if traced:
        tracemalloc.start()
    t0 = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - t0
    peak = 0
    if traced:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return seconds, peak / MB, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="file size in MB (10^6 bytes)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: tmp)")
    args = parser.parse_args()
    size = args.mb * MB
    work = Path(tempfile.mkdtemp(prefix="yiyun-bench-storage-", dir=args.dir))
    try:
        source = work / "source.bin"
        with source.open("wb") as f:
            for _ in range(0, size, 4 * MB):
                f.write(os.urandom(min(4 * MB, size - f.tell())))
        keys = BlobKeys.from_secrets({"bench": "benchmark key-encryption secret"}, "bench")
        store = LocalStore(work / "blobs", keys)
        rss_start = _rss_mb()

        copy_s, _, _ = _measure(lambda: shutil.copyfile(source, work / "copy.bin"))
        (work / "copy.bin").unlink()

        aead = AESGCM(AESGCM.generate_key(bit_length=256))
        block = os.urandom(64 * 1024)
        n = os.urandom(12)

        def aes_only() -> None:
            for _ in range(1600):
                aead.encrypt(n, block, None)

        aes_s, _, _ = _measure(aes_only)
        key = "recordings/1/part-0.webm"

        def seal() -> None:
            to_seal = work / "to-seal.bin"
            shutil.copyfile(source, to_seal)
            os.sync()
            t0 = time.perf_counter()
            asyncio.run(store.put_file(key, to_seal))  # removes to_seal
            timings.append(time.perf_counter() - t0)

        timings: list[float] = []
        seal()
        _, seal_peak, _ = _measure(seal, traced=True)
        seal_s = timings[0]

        def read_all() -> int:
            total = 0
            with store.open_sync(key) as reader:
                while block := reader.read(1 << 20):
                    total += len(block)
            return total

        open_s, _, total = _measure(read_all)
        _, open_peak, _ = _measure(read_all, traced=True)
        assert total == size, total

        rng = random.Random(7)
        offsets = [rng.randrange(size) for _ in range(200)]

        def ranges() -> None:
            for offset in offsets:
                with store.open_sync(key) as reader:
                    reader.seek(offset)
                    reader.read(1)

        range_s, _, _ = _measure(ranges)
        _, range_peak, _ = _measure(ranges, traced=True)
        on_disk = (store.root / key).stat().st_size
        result = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "size_mb": args.mb,
            "on_disk_overhead_bytes": on_disk - size,
            "aes_gcm_64k_chunks_mb_s": round(1600 * len(block) / MB / aes_s, 1),
            "kernel_copy_mb_s": round(size / MB / copy_s, 1),
            "seal_mb_s": round(size / MB / seal_s, 1),
            "open_mb_s": round(size / MB / open_s, 1),
            "range_read_ms": round(range_s / len(offsets) * 1000, 3),
            "python_peak_mb": {
                "seal": round(seal_peak, 2),
                "open": round(open_peak, 2),
                "range": round(range_peak, 2),
            },
            "rss_high_water_mb": {"before": round(rss_start, 1), "after": round(_rss_mb(), 1)},
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
