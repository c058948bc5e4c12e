"""Helpers of the media benchmark (`benchmarks/bench_media.py`, `yiyun bench media`).

`clients` (the load generator: replaying publishers, counting subscribers, decoding
subscribers), `relay` (aiortc's `MediaRelay` as a baseline SFU), `server` (the
process an SFU under test runs in), `engines` (starting each engine in its own
process, network namespace and CPU) and `procstat` (CPU accounting from /proc).
"""
