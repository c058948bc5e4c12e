"""The embedded media engine: an SFU inside the app process, built on aiortc.

It forwards RTP without decoding (see `engine` and docs/media.md "Embedded engine").
"""

from yiyun.media.embedded.engine import EmbeddedEngine

__all__ = ["EmbeddedEngine"]
