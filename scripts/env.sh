#!/usr/bin/env bash
# Run a command with the project's environment: .env exported, .venv/bin first on PATH.
# Usage: scripts/env.sh COMMAND [ARGS...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
[ -f "$root/.env" ] || { echo "no .env: run 'make setup' first" >&2; exit 1; }
caller_env=$(export -p); set -a; . "$root/.env"; set +a; eval "$caller_env"   # the caller's environment wins over .env, as in pydantic-settings
export PATH="$root/.venv/bin:$PATH" PYTHONDONTWRITEBYTECODE=1
exec "$@"
