"""`python -m yiyun.media.janus`: run a local Janus from the project's templates."""

from __future__ import annotations

from yiyun.media.janus.process import main

main()
