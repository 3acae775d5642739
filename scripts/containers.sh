#!/usr/bin/env bash
# The container side of the project with podman: base images, the project's images, the compose stack.
# Usage: scripts/containers.sh standins|build|up|down|status|sizes
#   standins  make sure the base images exist: pull python:3.11-slim-bookworm and redis:7.4-bookworm, or,
#             where no registry is reachable (the development machines), build local stand-ins for them
#             from Debian packages (mmdebstrap), tagged with the official names
#   build     build the four images of the project (api, jobs, mlflow, s3) from docker/*.Dockerfile
#   up        standins + build, then `podman-compose up -d` and wait until every service is healthy
#   down      stop and remove the stack's containers (volumes are kept; `down --volumes` drops them)
#   status    the stack's containers and their health
#   sizes     each image's size and what it adds on top of its base, in MB
# podman reads the project's own docker/podman/containers.conf (runc, no default ulimits), so the
# user's /etc/containers is left alone. Host ports come from .env / the environment (compose.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CONTAINERS_CONF=${CONTAINERS_CONF:-$ROOT/docker/podman/containers.conf}
COMPOSE=${COMPOSE:-$ROOT/.venv/bin/podman-compose}
PYTHON_BASE=docker.io/library/python:3.11-slim-bookworm
REDIS_BASE=docker.io/library/redis:7.4-bookworm
IMAGES=(api jobs mlflow s3)
STANDIN_DIR=${STANDIN_DIR:-$ROOT/.services/standins}

need() {
  command -v podman >/dev/null || { echo "podman is missing: run 'make setup' (installs podman, runc, uidmap, mmdebstrap)" >&2; exit 1; }
  [ -x "$COMPOSE" ] || { echo "podman-compose is missing: run 'make setup' (it is in requirements.lock)" >&2; exit 1; }
}

have() { podman image exists "$1"; }

# The python base: the official image if it can be pulled, else a stand-in shaped like it (python3.11 in
# /usr/local/bin, pip, the machine's CA bundle so pip, uv and apt reach the registries from builds).
python_base() {
  have "$PYTHON_BASE" && return
  podman pull -q "$PYTHON_BASE" >/dev/null 2>&1 && return
  echo "standins: no registry reachable; building $PYTHON_BASE from Debian packages (about a minute)"
  mkdir -p "$STANDIN_DIR"
  command -v mmdebstrap >/dev/null || { echo "mmdebstrap is missing: run 'make setup'" >&2; exit 1; }
  mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    --customize-hook='rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED
      for b in python3.11 python3 python; do ln -sf /usr/bin/python3.11 "$1"/usr/local/bin/$b; done
      ln -sf /usr/bin/pip3 "$1"/usr/local/bin/pip
      cp /etc/ssl/certs/ca-certificates.crt "$1"/etc/ssl/certs/ca-certificates.crt' \
    bookworm "$STANDIN_DIR/python.tar"
  podman import -q --change "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" --change "ENV UV_NATIVE_TLS=1" \
    --change 'CMD ["python3"]' "$STANDIN_DIR/python.tar" "$PYTHON_BASE" >/dev/null
  rm -f "$STANDIN_DIR/python.tar"
}

# Redis for compose: the official image if it can be pulled, else Debian's redis-server on the python stand-in.
redis_base() {
  have "$REDIS_BASE" && return
  podman pull -q "$REDIS_BASE" >/dev/null 2>&1 && return
  echo "standins: building $REDIS_BASE from Debian's redis-server"
  podman build -q --pull=never -f docker/podman/redis-standin.Containerfile -t "$REDIS_BASE" docker/podman >/dev/null
}

standins() { need; python_base; redis_base; }

build() {
  standins
  local name t0
  for name in "${IMAGES[@]}"; do
    t0=$SECONDS
    podman build -q --pull=never -f "docker/$name.Dockerfile" -t "credit-score-$name:local" . >/dev/null
    echo "built credit-score-$name:local in $((SECONDS - t0))s"
  done
}

mb() { podman image inspect --format '{{.Size}}' "$1" | awk '{printf "%d", $1 / 1e6}'; }

sizes() {
  local base name
  base=$(mb "$PYTHON_BASE")
  printf '%-26s %8s %8s\n' image "size MB" "added MB"
  for name in "${IMAGES[@]}"; do
    printf '%-26s %8s %8s\n' "credit-score-$name:local" "$(mb "credit-score-$name:local")" "$(( $(mb "credit-score-$name:local") - base ))"
  done
  printf '%-26s %8s\n' "base ($PYTHON_BASE)" "$base"
}

PROJECT=${COMPOSE_PROJECT_NAME:-credit-score}
compose() { "$COMPOSE" -p "$PROJECT" "$@"; }

# Wait until every long-running service reports healthy (one-shot services must have exited 0).
wait_healthy() {
  local deadline=$((SECONDS + ${1:-300})) bad
  while :; do
    bad=$(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" \
            --format '{{.Names}} {{.Status}}' | grep -vE '\(healthy\)|Exited \(0\)' || true)
    [ -z "$bad" ] && return 0
    if grep -qE 'Exited \([1-9]' <<<"$bad"; then echo "a service failed:" >&2; echo "$bad" >&2; return 1; fi
    if [ $SECONDS -ge $deadline ]; then echo "not healthy in time:" >&2; echo "$bad" >&2; return 1; fi
    sleep 2
  done
}

status() {
  podman ps -a --filter "label=io.podman.compose.project=$PROJECT" \
    --format 'table {{.Names}}\t{{.Status}}\t{{.Ports}}'
}

case "${1:-}" in
  standins) standins ;;
  build) build ;;
  sizes) sizes ;;
  up)
    [ -f .env ] || { echo "no .env: run 'make setup' first" >&2; exit 1; }
    build
    t0=$SECONDS
    compose up -d >/dev/null
    wait_healthy "${UP_TIMEOUT:-300}"
    echo "compose stack healthy in $((SECONDS - t0))s"; status ;;
  down) shift; compose down "$@" >/dev/null 2>&1 || true; echo "compose stack down" ;;
  status) status ;;
  *) echo "usage: $0 standins|build|up|down|status|sizes" >&2; exit 2 ;;
esac
