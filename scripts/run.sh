#!/usr/bin/env bash
# Set up, seed the demo consortium and serve on http://127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export YIYUN_ENV="${YIYUN_ENV:-demo}"
# Served on 127.0.0.1: let the embedded media engine offer loopback candidates too.
export YIYUN_MEDIA__LOOPBACK_CANDIDATES="${YIYUN_MEDIA__LOOPBACK_CANDIDATES:-true}"
.venv/bin/yiyun demo
echo
echo "Yiyun is starting on http://127.0.0.1:${PORT:-8000} (Ctrl-C to stop)"
exec .venv/bin/yiyun serve --host 127.0.0.1 --port "${PORT:-8000}"
