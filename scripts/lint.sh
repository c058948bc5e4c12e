#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/mypy
.venv/bin/lint-imports
(cd frontend && npx --no-install tsc --noEmit -p .)
# The lock must match pyproject.toml exactly (a fresh clone installs from the lock alone).
.tools/bin/uv lock --check --offline --quiet
