#!/bin/sh
# Creates the secret files docker/compose.yaml mounts, each with a random value (48 hex digits),
# in docker/secrets/ (mode 700: no other user of the host enters it; the files are 644 so the
# containers' non-root users read them through the bind mount). An existing file is kept: the
# admin account is created from mlflow_admin_password on the server's first start only.
#
#   sh docker/make-secrets.sh
set -eu
dir="$(cd "$(dirname "$0")" && pwd)/secrets"
mkdir -p "$dir"
chmod 700 "$dir"
for name in mlflow_admin_password mlflow_flask_secret_key; do
    file="$dir/$name"
    if [ -e "$file" ]; then
        echo "kept    $file"
        continue
    fi
    value=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
    [ ${#value} -eq 48 ] || { echo "make-secrets: could not read /dev/urandom" >&2; exit 1; }
    printf '%s\n' "$value" > "$file.tmp"
    chmod 644 "$file.tmp"
    mv "$file.tmp" "$file"
    echo "created $file"
done
