#!/bin/sh
# Install Debian's chromium for the dashboard's browser test (tests/e2e/test_dashboard.py),
# unless a chromium is already on PATH. Run as root (CI images) or through sudo when present.
# Prints the seconds it took, so its cost is measured wherever it runs.
set -eu
if command -v chromium >/dev/null 2>&1; then
    echo "chromium already installed: $(command -v chromium)"
    exit 0
fi
as_root=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then as_root="sudo -n"; else
        echo "install-chromium: not root and no sudo: cannot install chromium" >&2
        exit 1
    fi
fi
started=$(date +%s)
$as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core >/dev/null
echo "chromium installed in $(( $(date +%s) - started )) s: $(chromium --version)"
