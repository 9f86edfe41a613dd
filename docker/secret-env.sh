#!/bin/sh
# Entrypoint of both images: for each secret VAR below whose VAR_FILE is set, export VAR with that
# file's content (trailing newlines dropped), then run the command. The convention of the official
# postgres image (POSTGRES_PASSWORD_FILE). Compose mounts `secrets:` at /run/secrets/<name>, so a
# secret's value is never in compose.yaml, `docker inspect` or a command line (`ps`): only in the
# environment of the command itself, which /proc shows to its own user and root alone.
#
#   MLFLOW_AUTH_ADMIN_PASSWORD      the basic-auth app's admin, created on the server's first start
#   MLFLOW_FLASK_SERVER_SECRET_KEY  signs the basic-auth app's sessions (CSRF)
#   MLFLOW_TRACKING_PASSWORD        the password the MLflow client (actlab) logs in with
#
# A VAR_FILE that is missing, unreadable or empty stops the container with one line (exit 78,
# EX_CONFIG): MLflow would otherwise start with no admin or log in with an empty password.
set -eu
for var in MLFLOW_AUTH_ADMIN_PASSWORD MLFLOW_FLASK_SERVER_SECRET_KEY MLFLOW_TRACKING_PASSWORD; do
    eval "file=\${${var}_FILE:-}"
    [ -n "$file" ] || continue
    if eval "[ -n \"\${${var}+set}\" ]"; then
        echo "secret-env: both $var and ${var}_FILE are set; set only ${var}_FILE" >&2
        exit 78
    fi
    name=$(basename "$file")
    hint="on the host: docker/secrets/$name, created by docker/make-secrets.sh"
    if [ ! -f "$file" ] || [ ! -r "$file" ]; then
        echo "secret-env: $var: cannot read $file ($hint; readable by uid $(id -u))" >&2
        exit 78
    fi
    value=$(cat "$file")
    if [ -z "$value" ]; then
        echo "secret-env: $var: $file is empty ($hint)" >&2
        exit 78
    fi
    export "$var=$value"
    unset "${var}_FILE"
done
exec "$@"
