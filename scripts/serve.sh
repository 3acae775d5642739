#!/usr/bin/env bash
# Start, stop and inspect the served model: the API (uvicorn, 2 workers) and the Streamlit app.
# Usage: scripts/serve.sh up|down|status
# Both bind to 127.0.0.1. Logs and pids live in .services/ (git-ignored), as for scripts/services.sh.
# The API port comes from API_URL in .env (default http://127.0.0.1:8000); the app listens on APP_PORT
# (default 8501). The app calls the API with API_KEY from .env; when there is none, a key named
# `streamlit-app` is made once (credit_score.api.new_key) and kept in .services/app.key (mode 600).
# Its hash is added to the API's API_KEYS for this run only; .env is never edited.
# The workers' Prometheus metrics meet in .services/metrics (emptied at each start); /metrics needs
# METRICS_TOKEN from .env as a bearer token. The prediction log spools in .services/predlog.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

API_URL=${API_URL:-http://127.0.0.1:8000}
API_PORT=$(port_of "$API_URL")
APP_PORT=${APP_PORT:-8501}
API_LOCAL=http://127.0.0.1:$API_PORT
APP_LOCAL=http://127.0.0.1:$APP_PORT

# The app's key (API_KEY from .env, else made once into .services/app.key) and the API's API_KEYS with
# its hash added. Uses the API's own helpers (new_key, hash_key, parse_keys); keys travel in the
# environment, never on a command line.
app_key() {
  mkdir -p "$STATE"
  local out
  out=$(API_KEY=${API_KEY:-} KEY_FILE=$STATE/app.key "$VENV/python" - <<'PY'
import os, sys
from pathlib import Path
from credit_score.api import hash_key, new_key, parse_keys
key, key_file = os.environ["API_KEY"], Path(os.environ["KEY_FILE"])
if not key:
    if not key_file.exists() or not key_file.read_text().strip():
        key_file.touch(mode=0o600); key_file.write_text(new_key("streamlit-app")[0] + "\n")
        print("api: made a key for the app (.services/app.key); set API_KEY in .env to use your own", file=sys.stderr)
    key = key_file.read_text().strip()
keys, digest = parse_keys(os.environ.get("API_KEYS", "")), hash_key(key)
if digest not in keys.values():
    keys[next(n for n in ("streamlit-app", *(f"streamlit-app-{i}" for i in range(2, 100))) if n not in keys)] = digest
print(",".join(f"{n}:{h}" for n, h in keys.items())); print(key)
PY
)
  API_KEYS=$(sed -n 1p <<<"$out"); API_KEY=$(sed -n 2p <<<"$out")
  export API_KEY API_KEYS
}

api_up() {
  app_key
  # The two workers' metrics meet in one folder, emptied for each run (credit_score.serving.metrics).
  local metrics_dir=${PROMETHEUS_MULTIPROC_DIR:-$STATE/metrics}
  mkdir -p "$metrics_dir" && rm -f "$metrics_dir"/*.db
  start api "$API_PORT" env API_KEYS="$API_KEYS" PROMETHEUS_MULTIPROC_DIR="$metrics_dir" "$VENV/uvicorn" --factory credit_score.api:create_app \
    --host 127.0.0.1 --port "$API_PORT" --workers 2 --no-server-header
  wait_until api 90 curl -fsS "$API_LOCAL/health"
}

app_up() {
  start app "$APP_PORT" env API_URL="$API_LOCAL" API_KEY="$API_KEY" "$VENV/streamlit" run credit_score/app.py \
    --server.address 127.0.0.1 --server.port "$APP_PORT" --server.headless true \
    --browser.gatherUsageStats false --server.fileWatcherType none --client.toolbarMode minimal
  wait_until app 90 curl -fsS "$APP_LOCAL/_stcore/health"
}

status() {
  local rc=0
  echo "served model (logs in .services/logs):"
  check api "API $API_LOCAL (docs $API_LOCAL/docs)" curl -fsS "$API_LOCAL/health"
  check app "App $APP_LOCAL" curl -fsS "$APP_LOCAL/_stcore/health"
  if pid_alive api; then
    printf '  model   %s\n' "$(curl -sS "$API_LOCAL/ready" 2>/dev/null || echo '(no answer from /ready)')"
  fi
  return $rc
}

case "${1:-}" in
  up)
    t0=$SECONDS
    bash scripts/services.sh status >/dev/null 2>&1 || echo "warning: S3/MLflow/Redis are not all up ('make services-up'); the API may serve no model" >&2
    if ! pid_alive api || ! pid_alive app; then api_up; app_up; fi
    echo "API and app up in $((SECONDS - t0))s"; status ;;
  down) stop app; stop api ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
