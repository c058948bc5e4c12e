#!/usr/bin/env bash
# Create .venv with exactly the locked Python packages (uv.lock, dev tools included)
# and build the front-end from package-lock.json. Idempotent and quick when nothing
# changed: a stamp records the hash of pyproject.toml and uv.lock together.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
# uv itself lives in its own small venv so that syncing .venv never removes it.
if [ ! -x .tools/bin/uv ] || ! cmp -s scripts/uv-requirements.txt .tools/.requirements; then
  echo "installing uv (scripts/uv-requirements.txt)"
  rm -rf .tools
  "$PYTHON" -m venv .tools
  .tools/bin/python -m pip install --quiet --require-hashes --no-deps -r scripts/uv-requirements.txt
  cp scripts/uv-requirements.txt .tools/.requirements
fi

stamp=.venv/.yiyun-installed
want="$(cat pyproject.toml uv.lock | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "installing the locked Python packages into .venv (uv sync --locked)"
  # --locked: fail, rather than re-resolve, when pyproject.toml and uv.lock disagree.
  UV_PROJECT_ENVIRONMENT=.venv .tools/bin/uv sync --locked --extra dev \
    --python "$PYTHON" --quiet
  echo "$want" > "$stamp"
fi

bash scripts/build-frontend.sh
