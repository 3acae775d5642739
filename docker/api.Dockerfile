# syntax=docker/dockerfile:1
# The API image: FastAPI served by uvicorn, nothing else.
# Build from the repo root:  docker build -f docker/api.Dockerfile -t credit-score-api .
# Only the API's runtime dependencies (docker/api.requirements.in) are installed, at the versions
# of requirements.lock; no notebooks, no pipeline tools, no MLflow client, no compiler, no uv in the final image.
# Base: the official python:3.11-slim-bookworm (Debian 12, like the development machines). The tests build
# on a local stand-in of it (scripts/containers.sh standins) because no image registry is reachable there;
# the python path below works on both (the official image's /usr/local/bin, the stand-in's links there).

# ---- build stage: resolve and install into /opt/venv with uv ----
FROM python:3.11-slim-bookworm AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir uv==0.13.8 \
    && uv venv --python /usr/local/bin/python3.11 /opt/venv
WORKDIR /src
# Dependencies first (their layer is reused while only the code changes).
COPY requirements.lock docker/api.requirements.in docker/slim-venv.sh ./
RUN uv pip install --python /opt/venv/bin/python -c requirements.lock -r api.requirements.in \
    && sh slim-venv.sh /opt/venv
# Then the package itself, without its (pipeline-wide) install_requires.
COPY setup.py settings.ini pyproject.toml README.md ./
COPY credit_score/ credit_score/
RUN uv pip install --python /opt/venv/bin/python --no-deps .

# ---- runtime stage ----
FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="credit-score-api" \
      org.opencontainers.image.description="credit_score prediction API (FastAPI + uvicorn)"
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app \
    && mkdir -p /app/models /var/lib/credit-score/predlog /tmp/credit-score-metrics \
    && chown app:app /app /app/models /var/lib/credit-score/predlog /tmp/credit-score-metrics
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APP_ENV=production \
    PROMETHEUS_MULTIPROC_DIR=/tmp/credit-score-metrics \
    PREDICTION_LOG_DIR=/var/lib/credit-score/predlog
WORKDIR /app
# models/ is where the offline fallback (models/model.json + model.pkl) is mounted read-only.
# The workers' metrics meet in PROMETHEUS_MULTIPROC_DIR (set here, before Python starts, as prometheus_client
# requires; owned by the app user, in the container's own layer: a tmpfs there came back root-owned after
# `podman restart`, and the API could not start); the prediction log's
# journal and spool live in PREDICTION_LOG_DIR, a volume in compose, so a crash or an S3 outage loses nothing.
USER 10001:10001
EXPOSE 8000
# slim images have no curl: probe /health with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
CMD ["uvicorn", "--factory", "credit_score.api:create_app", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
