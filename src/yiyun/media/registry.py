"""Choose the media engine from settings (`YIYUN_MEDIA__ENGINE`)."""

from __future__ import annotations

from yiyun.media.engine import MediaEngine
from yiyun.settings import MediaSettings


def create_engine(settings: MediaSettings) -> MediaEngine:
    if settings.engine == "fake":
        from yiyun.media.fake import InMemoryEngine

        return InMemoryEngine()
    if settings.engine == "embedded":
        from yiyun.media.embedded import create as create_embedded

        return create_embedded(settings)
    from yiyun.media.janus import create as create_janus

    return create_janus(settings)
