# syntax=docker/dockerfile:1
# The jobs image: the whole repository (notebooks, dvc.yaml, params.yaml, .git for lineage) with the
# exact environment of requirements.lock, the same set CI tests with. It runs any pipeline stage via a
# command override, e.g.
#   docker run --env-file .env credit-score-jobs dvc repro train
#   docker run --env-file .env credit-score-jobs credit-score stage nbs/03_train.ipynb -p ...
# The MLflow server, the watcher and the Streamlit app of compose.yaml run from this image as well.
# Build from the repo root:  docker build -f docker/jobs.Dockerfile -t credit-score-jobs .
FROM python:3.11-slim
LABEL org.opencontainers.image.title="credit-score-jobs" \
      org.opencontainers.image.description="credit_score pipeline jobs (papermill stages, dvc, mlflow)"
# git: DVC needs the repository and 03_train records the commit; nothing else from apt.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir uv==0.13.8 \
    && uv venv --python /usr/local/bin/python3.11 /opt/venv \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /bin/bash app
# Dependencies first, exactly as scripts/setup.sh installs them (uv pip sync of the lock).
COPY requirements.lock /tmp/requirements.lock
RUN uv pip sync --python /opt/venv/bin/python /tmp/requirements.lock
WORKDIR /app
# /var/lib/mlflow: the MLflow server's sqlite store (a volume in compose.yaml), owned by the app user.
# The repository (see .dockerignore: no .venv, .env, .services, data/, models/, DVC cache).
COPY --chown=10001:10001 . /app
RUN uv pip install --python /opt/venv/bin/python --no-deps -e . \
    && mkdir -p /var/lib/mlflow \
    && chown -R 10001:10001 /app /var/lib/mlflow \
    && chmod 0755 /app/docker/jobs-entrypoint.sh
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/app
USER 10001:10001
ENTRYPOINT ["/app/docker/jobs-entrypoint.sh"]
CMD ["dvc", "repro"]
