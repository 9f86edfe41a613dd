#!/usr/bin/env bash
# Puts a dataset on disk without a network download and prints the folder that holds its files
# (pass that folder as the data module's `root`). Idempotent: a second run installs nothing and
# prints the same folder. Exits non-zero with one line on stderr saying why when it cannot.
#
#   scripts/get-data.sh fashion_mnist   # Debian/Ubuntu package dataset-fashion-mnist: the real
#                                       # 70,000 images as IDX files in /usr/share/datasets/fashion-mnist
#
# Used by tests/data/test_real_fashion_mnist.py and the Fashion-MNIST reproductions
# (docs/showcase.md). Other datasets have no offline source here: see the README's data table.
set -euo pipefail

usage="usage: get-data.sh fashion_mnist"
if [[ $# -ne 1 ]]; then
  echo "get-data.sh: $usage" >&2
  exit 2
fi

case "$1" in
  fashion_mnist)
    package="dataset-fashion-mnist"
    folder="/usr/share/datasets/fashion-mnist"
    files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz
      t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
    ;;
  *)
    echo "get-data.sh: unknown dataset '$1'; valid: fashion_mnist (the others need" \
      "\`download: true\` with a network, or their files copied under \`root\`)" >&2
    exit 2
    ;;
esac

present() {
  local f
  for f in "${files[@]}"; do
    [[ -s "$folder/$f" ]] || return 1
  done
}

if present; then
  echo "$folder"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "get-data.sh: $folder is missing and there is no apt-get to install $package with;" \
    "copy the four IDX files ${files[*]} into a folder and pass it as root," \
    "or use \`download: true\` with a network" >&2
  exit 1
fi

SUDO=""
if [[ "$(id -u)" != 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "get-data.sh: installing $package needs root (or passwordless sudo);" \
      "run \`apt-get install $package\` as root, or copy the IDX files and pass their folder as root" >&2
    exit 1
  fi
fi

echo "get-data.sh: installing $package from the system's packages" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh image has no package lists: update only when apt does not know the package yet.
if ! apt-cache show "$package" >/dev/null 2>&1; then
  $SUDO apt-get update -qq >&2 || true
fi
if ! $SUDO apt-get install -y -qq --no-install-recommends "$package" >&2; then
  echo "get-data.sh: \`apt-get install $package\` failed (see above); the package is in" \
    "Debian >= 11 and Ubuntu >= 20.10" >&2
  exit 1
fi

if present; then
  echo "$folder"
else
  echo "get-data.sh: $package installed but $folder lacks ${files[*]}" >&2
  exit 1
fi
