# Shared by scripts/services.sh and scripts/serve.sh (sourced, not run): the project's environment and
# the small process manager both use. Each process runs in its own process group, with its pid in
# .services/NAME.pid and its log in .services/logs/NAME.log.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
STATE=$ROOT/.services
VENV=$ROOT/.venv/bin
[ -f .env ] || { echo "no .env: run 'make setup' first" >&2; exit 1; }
caller_env=$(export -p); set -a; . ./.env; set +a; eval "$caller_env"   # the caller's environment wins over .env, as in pydantic-settings

port_of() { sed -E 's#^[a-z]+://[^:/]+:([0-9]+).*#\1#;t;s#.*#80#' <<<"$1"; }   # scheme://host:PORT[/x] -> PORT
pid_alive() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start NAME PORT COMMAND...: run COMMAND in its own process group, so that `stop` ends it and all its children.
start() {
  local name=$1 port=$2; shift 2
  if pid_alive "$name"; then echo "$name: already up"; return; fi
  if port_busy "$port"; then echo "$name: port $port is taken by another process; free it or change the port" >&2; exit 1; fi
  mkdir -p "$STATE/logs"
  setsid "$@" >"$STATE/logs/$name.log" 2>&1 < /dev/null &
  echo $! >"$STATE/$name.pid"
}

wait_until() {  # NAME SECONDS COMMAND...: until COMMAND succeeds; fail with the log if NAME died or time ran out
  local name=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ! pid_alive "$name"; then echo "$name: died on start; last log lines:" >&2; tail -20 "$STATE/logs/$name.log" >&2; exit 1; fi
    if [ $SECONDS -ge $deadline ]; then echo "$name: not ready after ${secs}s (log: $STATE/logs/$name.log)" >&2; exit 1; fi
    sleep 0.3
  done
}

stop() {  # NAME: TERM the process group, KILL it after 10 s
  local name=$1
  if pid_alive "$name"; then
    local pid; pid=$(cat "$STATE/$name.pid")
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    echo "$name: stopped"
  fi
  rm -f "$STATE/$name.pid"
}

check() {  # NAME WHERE PROBE...: print NAME up/DOWN with WHERE; sets rc=1 (the caller's local) when down
  local name=$1 where=$2; shift 2
  if pid_alive "$name" && "$@" >/dev/null 2>&1; then printf '  %-7s up    %s\n' "$name" "$where"
  else printf '  %-7s DOWN  %s\n' "$name" "$where"; rc=1; fi
}
