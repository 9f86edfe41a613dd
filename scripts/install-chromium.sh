#!/usr/bin/env bash
# Installs headless Chromium from the system's packages (Debian/Ubuntu) when it is missing, and
# prints the path of its binary on stdout. Idempotent: a second run installs nothing.
# Used by tests/tracking/test_browser.py to open actlab's MLflow links and HTML reports as a
# researcher would (the pages are rendered by JavaScript; `chromium --dump-dom` reads the result).
set -euo pipefail

find_chromium() {
  local name
  for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null 2>&1; then
      command -v "$name"
      return 0
    fi
  done
  return 1
}

if binary="$(find_chromium)"; then
  echo "$binary"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium.sh: no chromium found and no apt-get to install it with;" \
    "install Chromium and rerun" >&2
  exit 1
fi

SUDO=""
if [[ "$(id -u)" != 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "install-chromium.sh: installing Chromium needs root (or password-less sudo); run as root" >&2
    exit 1
  fi
fi

echo "install-chromium.sh: installing Chromium from the system's packages" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
$SUDO apt-get install -y -qq --no-install-recommends chromium >&2

if binary="$(find_chromium)"; then
  echo "$binary"
else
  echo "install-chromium.sh: the chromium package installed no chromium binary" >&2
  exit 1
fi
