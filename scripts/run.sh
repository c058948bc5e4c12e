#!/usr/bin/env bash
# Set up, seed the demo consortium and serve on http://127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export YIYUN_ENV="${YIYUN_ENV:-demo}"
# Served on 127.0.0.1: let the embedded media engine offer loopback candidates too.
export YIYUN_MEDIA__LOOPBACK_CANDIDATES="${YIYUN_MEDIA__LOOPBACK_CANDIDATES:-true}"
# The demo PACS: Orthanc (Debian) with the project's configuration, when installed.
if command -v Orthanc >/dev/null 2>&1; then
  PACS_HTTP="${PACS_HTTP_PORT:-$(( ${PORT:-8000} + 42 ))}"
  PACS_DICOM="${PACS_DICOM_PORT:-$(( ${PORT:-8000} + 4242 ))}"
  .venv/bin/python -m yiyun.imaging.orthanc "${YIYUN_DATA_DIR:-var}/pacs" "$PACS_HTTP" "$PACS_DICOM" &
  PACS_PID=$!
  trap 'kill $PACS_PID 2>/dev/null || true' EXIT
  export YIYUN_IMAGING__PACS_URL="${YIYUN_IMAGING__PACS_URL:-http://127.0.0.1:$PACS_HTTP/dicom-web}"
  export YIYUN_IMAGING__PACS_USERNAME="${YIYUN_IMAGING__PACS_USERNAME:-yiyun}"
  export YIYUN_IMAGING__PACS_PASSWORD="${YIYUN_IMAGING__PACS_PASSWORD:-yiyun-pacs}"
  export YIYUN_IMAGING__PACS_DICOM_PORT="${YIYUN_IMAGING__PACS_DICOM_PORT:-$PACS_DICOM}"
  echo "PACS (Orthanc) on http://127.0.0.1:$PACS_HTTP (DICOM port $PACS_DICOM)"
fi
.venv/bin/yiyun demo
echo
echo "Yiyun is starting on http://127.0.0.1:${PORT:-8000} (Ctrl-C to stop)"
.venv/bin/yiyun serve --host 127.0.0.1 --port "${PORT:-8000}"
