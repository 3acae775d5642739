# syntax=docker/dockerfile:1
# The jobs image: the repository (notebooks, dvc.yaml, params.yaml, .git for lineage) with the runtime
# environment of requirements.runtime.lock (no dev tools: no jupyterlab, pytest, playwright, linters).
# It runs any pipeline stage through a command override, e.g.
#   docker run --env-file .env credit-score-jobs dvc repro --single-item train
#   docker run --env-file .env credit-score-jobs credit-score stage nbs/03_train.ipynb -p ...
# The watcher and the Streamlit app of compose.yaml run from this image as well; MLflow has its own
# (docker/mlflow.Dockerfile). Build from the repo root:  docker build -f docker/jobs.Dockerfile -t credit-score-jobs .

# ---- build stage: the runtime venv, exactly as locked ----
FROM python:3.11-slim-bookworm AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir uv==0.13.8 \
    && uv venv --python /usr/local/bin/python3.11 /opt/venv
COPY requirements.runtime.lock docker/slim-venv.sh /tmp/
RUN uv pip sync --python /opt/venv/bin/python /tmp/requirements.runtime.lock \
    && sh /tmp/slim-venv.sh /opt/venv
# The package, editable at /app (where the runtime stage puts the repository): its console scripts
# (credit-score, credit-score-watch) land in the venv, and a change of code needs no reinstall.
WORKDIR /app
COPY setup.py settings.ini pyproject.toml README.md ./
COPY credit_score/ credit_score/
RUN uv pip install --python /opt/venv/bin/python --no-deps -e .

# ---- runtime stage ----
FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="credit-score-jobs" \
      org.opencontainers.image.description="credit_score pipeline jobs (papermill stages, dvc, MLflow client)"
# Nothing from apt: DVC reads the repository (.git is in the image) and 03_train records the commit through
# libgit2 (pygit2), so no git executable (143 MB with perl) is needed.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /bin/bash app
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GIT_PYTHON_REFRESH=quiet \
    HOME=/app
WORKDIR /app
# The repository (see .dockerignore: no .venv, .env, .services, data/, models/, DVC cache), owned by the
# app user, which writes stage outputs in it. /var/lib/credit-score: the watcher's state and audit (a volume).
COPY --chown=10001:10001 . /app
RUN mkdir -p /var/lib/credit-score \
    && chown 10001:10001 /var/lib/credit-score
USER 10001:10001
ENTRYPOINT ["/app/docker/jobs-entrypoint.sh"]
CMD ["dvc", "repro", "register"]
