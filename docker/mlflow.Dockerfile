# MLflow tracking server with the PostgreSQL driver, for docker/compose.yaml.
# Built here rather than taken from ghcr.io/mlflow/mlflow: that image has no PostgreSQL driver,
# and installing one in the container's command would download it on every start (and fail on a
# box without internet). Pinned: MLflow comes from compose (x-mlflow-version), psycopg here.
FROM python:3.11.13-slim-bookworm

ARG MLFLOW_VERSION=3.17.2
ARG PSYCOPG_VERSION=3.3.9

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# [auth]: Flask-WTF, needed by the basic-auth app the server runs.
RUN pip install "mlflow[auth]==${MLFLOW_VERSION}" "psycopg[binary]==${PSYCOPG_VERSION}"

# Non-root; the artifact and auth folders exist in the image so new named volumes are created
# owned by this user.
RUN useradd --create-home --uid 1000 mlflow \
    && mkdir -p /mlartifacts /mlflow-auth \
    && chown mlflow:mlflow /mlartifacts /mlflow-auth
USER mlflow
WORKDIR /home/mlflow

# Exports the secrets named by *_FILE variables (compose's `secrets:`), then runs the command.
COPY secret-env.sh /usr/local/bin/secret-env.sh

EXPOSE 5000
ENTRYPOINT ["/usr/local/bin/secret-env.sh"]
# The command (mlflow server ...) is in docker/compose.yaml.
