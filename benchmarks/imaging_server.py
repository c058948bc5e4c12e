"""A seeded Yiyun server in its own process for the imaging benchmark (so the load
generator does not share its interpreter): prints one JSON line {url, token} and serves
until its standard input closes."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import serve  # noqa: E402


def main() -> None:
    with (
        tempfile.TemporaryDirectory(prefix="yiyun-bench-imaging-") as tmp,
        serve(Path(tmp)) as live,
    ):
        print(json.dumps({"url": live.url, "token": live.world.tokens["alice"]}), flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
