"""Factories for the embedded engine in tests: loopback ICE so any host can run them."""

from __future__ import annotations

from yiyun.media import MediaEngine
from yiyun.media.embedded import EmbeddedEngine


async def embedded_contract_engine() -> MediaEngine:
    return EmbeddedEngine(loopback_candidates=True)
