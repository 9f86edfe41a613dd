#!/usr/bin/env bash
# Installs the PostgreSQL server from the system's packages (Debian/Ubuntu) when it is missing,
# and prints the folder of its binaries (initdb, pg_ctl, postgres, pg_isready) on stdout.
# Idempotent: a second run installs nothing and prints the same folder.
# Used by tests/docker/test_compose_stack.py; the Docker stack itself uses the postgres image.
set -euo pipefail

find_bin_dir() {
  local initdb
  if initdb="$(command -v initdb 2>/dev/null)"; then
    dirname "$(readlink -f "$initdb")"
    return 0
  fi
  # Debian keeps the server binaries off PATH, one folder per major version: take the newest.
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -n "$dir" && -x "$dir/initdb" ]]; then
    echo "$dir"
    return 0
  fi
  return 1
}

if bin_dir="$(find_bin_dir)"; then
  echo "$bin_dir"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-postgres.sh: no initdb found and no apt-get to install PostgreSQL with;" \
    "install the PostgreSQL server (initdb, pg_ctl, postgres) and rerun" >&2
  exit 1
fi

SUDO=""
if [[ "$(id -u)" != 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo -n"
  else
    echo "install-postgres.sh: installing PostgreSQL needs root (or sudo); run as root" >&2
    exit 1
  fi
fi

echo "install-postgres.sh: installing the PostgreSQL server from the system's packages" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
$SUDO apt-get install -y -qq --no-install-recommends postgresql >&2

if bin_dir="$(find_bin_dir)"; then
  echo "$bin_dir"
else
  echo "install-postgres.sh: postgresql installed but no initdb under /usr/lib/postgresql/*/bin" >&2
  exit 1
fi
