"""The Janus media engine: Janus WebRTC Server's VideoRoom over its WebSocket API.

`create(settings.media)` builds a `JanusEngine` over `settings.media.janus_urls`
(`ws://host:8188` each). See docs/media.md ("Janus engine").
"""

from __future__ import annotations

from yiyun.media.janus.client import JanusError, JanusTimeout
from yiyun.media.janus.engine import JanusEngine
from yiyun.media.janus.process import JanusOptions, JanusProcess
from yiyun.settings import MediaSettings

__all__ = ["JanusEngine", "JanusError", "JanusOptions", "JanusProcess", "JanusTimeout", "create"]


def create(settings: MediaSettings) -> JanusEngine:
    """The engine `yiyun.media.registry` uses when `settings.media.engine == "janus"`."""
    return JanusEngine(settings.janus_urls)
