#!/usr/bin/env bash
# Upgrade the Python lock on purpose: re-resolve every package to the newest release
# pyproject.toml allows, then install it. Run `make test` and commit uv.lock with the
# fixes it needs in one commit. `make lock ARGS="--upgrade-package redis"` upgrades one.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh >/dev/null
.tools/bin/uv lock ${ARGS:---upgrade}
bash scripts/install.sh
