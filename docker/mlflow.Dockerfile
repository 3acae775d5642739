# syntax=docker/dockerfile:1
# The MLflow tracking server: sqlite backend store, artifacts proxied to the bucket (s3://.../mlflow).
# Slim on purpose: the server's own dependencies (docker/mlflow.requirements.in) and `mlflow` itself
# without the data-science stack it declares for clients (scikit-learn, scipy, pyarrow, matplotlib):
# about 400 MB less than the jobs image. Versions come from requirements.lock.
# No ENTRYPOINT: compose.yaml and the ECS task definition give the `mlflow server ...` command.
# Build from the repo root:  docker build -f docker/mlflow.Dockerfile -t credit-score-mlflow .

FROM python:3.11-slim-bookworm AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir uv==0.13.8 \
    && uv venv --python /usr/local/bin/python3.11 /opt/venv
COPY requirements.lock docker/mlflow.requirements.in docker/slim-venv.sh /tmp/
RUN uv pip install --python /opt/venv/bin/python -c /tmp/requirements.lock -r /tmp/mlflow.requirements.in \
    && uv pip install --python /opt/venv/bin/python -c /tmp/requirements.lock --no-deps mlflow \
    && sh /tmp/slim-venv.sh /opt/venv

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="credit-score-mlflow" \
      org.opencontainers.image.description="MLflow tracking server for credit_score (sqlite store, S3 artifacts)"
RUN groupadd --system --gid 10001 mlflow \
    && useradd --system --uid 10001 --gid mlflow --home-dir /var/lib/mlflow --create-home --shell /usr/sbin/nologin mlflow
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false
WORKDIR /var/lib/mlflow
USER 10001:10001
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=6 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=4)"]
CMD ["mlflow", "server", "--host=0.0.0.0", "--port=5000", "--workers=1", "--backend-store-uri=sqlite:////var/lib/mlflow/mlflow.db"]
