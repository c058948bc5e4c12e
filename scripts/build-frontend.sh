#!/usr/bin/env bash
# Build the TypeScript islands and CSS (esbuild) into src/yiyun/web/static/build.
set -euo pipefail
cd "$(dirname "$0")/../frontend"

if ! command -v npm >/dev/null 2>&1; then
  echo "npm is required to build the front-end (Debian: apt-get install nodejs npm)" >&2
  exit 1
fi
lock_stamp=node_modules/.yiyun-lock
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -d node_modules ] || [ ! -f "$lock_stamp" ] || [ "$(cat "$lock_stamp")" != "$want" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$lock_stamp"
fi
node build.mjs --log-level=warning >/dev/null
