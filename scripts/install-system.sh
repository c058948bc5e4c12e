#!/usr/bin/env bash
# Install the Debian packages Yiyun's full test suite and services use.
# Idempotent: packages already present are skipped. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
  chromium            # browser tests (Playwright drives /usr/bin/chromium)
  fonts-noto-cjk      # Chinese glyphs in the browser and in signed opinion PDFs
  libpango-1.0-0      # WeasyPrint (consultation opinion PDFs)
  libpangoft2-1.0-0
  ffmpeg              # media tooling
  libreoffice-impress-nogui  # lecture slides: PPTX converted to PDF (soffice --headless)
  wrk                 # HTTP load generator (yiyun bench api)
  janus               # Janus WebRTC server (media engine "janus")
  janus-tools         # janus-pp-rec: turns Janus recordings (.mjr) into WebM/Matroska
  coturn              # TURN relay
  r-base-core         # reference implementations for surveillance algorithms
  r-cran-surveillance
  libpango-1.0-0      # WeasyPrint: the monthly statistics report (PDF)
  libpangoft2-1.0-0
  iproute2            # network namespaces for media tests
  nftables            # TURN test: a client namespace with all UDP dropped
  prometheus          # promtool: the alerting rules in deploy/prometheus are unit-tested
  orthanc             # the PACS imaging tests and the rendering benchmark talk to
  orthanc-dicomweb    # Orthanc's DICOMweb plugin (QIDO-RS, WADO-RS, STOW-RS)
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}"
