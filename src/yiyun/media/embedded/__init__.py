"""The embedded media engine: an SFU inside the app process, built on aiortc.

It forwards RTP without decoding (see `engine` and docs/media.md "Embedded engine").
`create(settings.media)` builds it for `yiyun.media.registry`.
"""

from __future__ import annotations

from yiyun.media.embedded.engine import EmbeddedEngine
from yiyun.settings import MediaSettings

__all__ = ["EmbeddedEngine", "create"]


def create(settings: MediaSettings) -> EmbeddedEngine:
    """The engine `yiyun.media.registry` uses when `settings.media.engine == "embedded"`.

    Honours `loopback_candidates` (bool, `YIYUN_MEDIA__LOOPBACK_CANDIDATES`) and
    `stun_urls` (STUN URLs for a server behind NAT); both are off by default.
    """
    return EmbeddedEngine(
        loopback_candidates=settings.loopback_candidates,
        ice_servers=tuple(settings.stun_urls),
    )
