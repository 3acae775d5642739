#!/usr/bin/env bash
# The container side of the project with podman: base images, the project's images, the compose stack.
# Usage: scripts/containers.sh standins|build|up|down|status|sizes
#   standins  make sure the base images exist: pull python:3.11-slim-bookworm and redis:7.4-bookworm, or,
#             where no registry is reachable (the development machines), build local stand-ins for them
#             from Debian packages (mmdebstrap), tagged with the official names
#   build     build the four images of the project (api, jobs, mlflow, s3) from docker/*.Dockerfile
#   up        standins + build, then the services of compose.yaml started in dependency order, each layer
#             healthy (one-shots exited 0) before the next: podman 4.3 ignores depends_on conditions
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

# The services of compose.yaml (those without a profile) in start order: one line per layer, each layer
# depending only on the ones before. podman 4.3 ignores depends_on conditions and runs health checks from
# systemd timers (absent in containers and CI), so `up` starts layer by layer and runs the checks itself.
layers() {
  "$ROOT/.venv/bin/python" - <<'PY'
import yaml
services = {n: s for n, s in yaml.safe_load(open("compose.yaml"))["services"].items() if not s.get("profiles")}
done = set()
while len(done) < len(services):
    layer = sorted(n for n, s in services.items() if n not in done and set(s.get("depends_on") or {}) <= done)
    if not layer: raise SystemExit(f"compose.yaml: a depends_on cycle among {sorted(set(services) - done)}")
    print(" ".join(layer)); done |= set(layer)
PY
}

one_shot() { [ "$(podman inspect --format '{{.HostConfig.RestartPolicy.Name}}' "$1")" = no ]; }
container_of() {  # SERVICE: the name of its container in this compose project
  podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --filter "label=com.docker.compose.service=$1" \
    --format '{{.Names}}' | head -1
}

# Wait until the containers of SERVICES are healthy (one-shot ones: exited 0); fail with their logs otherwise.
wait_ready() {
  local deadline=$((SECONDS + ${UP_TIMEOUT:-300})) service c state pending
  while :; do
    pending=()
    for service in "$@"; do
      c=$(container_of "$service")
      state=$(podman inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$c")
      if one_shot "$c"; then
        [ "$state" = "exited 0" ] && continue
        if [[ $state == exited* ]]; then echo "$service failed ($state):" >&2; podman logs --tail 30 "$c" >&2; return 1; fi
      elif [[ $state == running* ]] && podman healthcheck run "$c" >/dev/null 2>&1; then continue
      fi
      pending+=("$service")
    done
    [ ${#pending[@]} -eq 0 ] && return 0
    if [ $SECONDS -ge $deadline ]; then
      echo "not ready in time: ${pending[*]}" >&2
      for service in "${pending[@]}"; do echo "--- $service" >&2; podman logs --tail 30 "$(container_of "$service")" >&2; done
      return 1
    fi
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
    # fd 3: podman reads standard input, which would swallow the remaining layers
    while read -r -a layer <&3; do
      compose up -d --no-deps "${layer[@]}" </dev/null >/dev/null 2>&1 || { compose up -d --no-deps "${layer[@]}" </dev/null; exit 1; }
      wait_ready "${layer[@]}" </dev/null
    done 3< <(layers)
    echo "compose stack healthy in $((SECONDS - t0))s"; status ;;
  down) shift; compose down "$@" >/dev/null 2>&1 || true; echo "compose stack down" ;;
  status) status ;;
  *) echo "usage: $0 standins|build|up|down|status|sizes" >&2; exit 2 ;;
esac
