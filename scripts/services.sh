#!/usr/bin/env bash
# Start, stop and inspect the local services: S3 (SeaweedFS), MLflow tracking server, Redis.
# Usage: scripts/services.sh up|down|status
# Everything binds to 127.0.0.1. Logs, pids and data live in .services/ (git-ignored).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

S3_PORT=$(port_of "$S3_ENDPOINT_URL")
MLFLOW_PORT=$(port_of "$MLFLOW_TRACKING_URI")
REDIS_PORT=$(port_of "$REDIS_URL")

s3_up() {
  mkdir -p "$STATE/s3"
  # Loopback only, no telemetry, no web UIs: the filer port serves objects without S3 auth.
  start s3 "$S3_PORT" "$VENV/weed" mini -dir="$STATE/s3" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -s3.port="$S3_PORT" -s3.port.iceberg=0 -s3.port.lance=0 -webdav=false -admin.ui=false \
    -master.telemetry=false
  wait_until s3 60 "$VENV/credit-score" bucket ensure
}

mlflow_up() {
  mkdir -p "$STATE/mlflow"
  # Artifacts are proxied through the server, so clients need no S3 credentials.
  MLFLOW_S3_ENDPOINT_URL=$S3_ENDPOINT_URL MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
  start mlflow "$MLFLOW_PORT" "$VENV/mlflow" server --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1 \
    --backend-store-uri "sqlite:///$STATE/mlflow/mlflow.db" \
    --artifacts-destination "s3://$S3_BUCKET/mlflow"
  wait_until mlflow 90 curl -fsS "$MLFLOW_TRACKING_URI/health"
}

redis_up() {
  command -v redis-server >/dev/null || { echo "redis-server missing: run 'make setup'" >&2; exit 1; }
  start redis "$REDIS_PORT" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no
  wait_until redis 20 redis-cli -p "$REDIS_PORT" ping
}

status() {
  local rc=0
  echo "local services (logs in .services/logs):"
  check s3 "S3 endpoint $S3_ENDPOINT_URL, bucket s3://$S3_BUCKET" "$VENV/credit-score" bucket check
  check mlflow "MLflow UI $MLFLOW_TRACKING_URI" curl -fsS "$MLFLOW_TRACKING_URI/health"
  check redis "Redis $REDIS_URL" redis-cli -p "$REDIS_PORT" ping
  return $rc
}

case "${1:-}" in
  up) t0=$SECONDS; s3_up; redis_up; mlflow_up; echo "services up in $((SECONDS - t0))s"; status ;;
  down)
    stop mlflow; stop redis; stop s3
    # Nothing may be left behind: no process from .services/, no port still listening.
    left=$(pgrep -f "$STATE/" || true)
    for port in "$S3_PORT" "$MLFLOW_PORT" "$REDIS_PORT"; do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then left="$left port:$port"; fi
    done
    if [ -n "$left" ]; then echo "still running after down: $left" >&2; exit 1; fi
    echo "all services down" ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
