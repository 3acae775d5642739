#!/usr/bin/env bash
# Set up everything the project needs on a fresh Debian machine; safe to run again (idempotent).
#   - system packages: redis-server (rate-limit storage), chromium + chromium-driver (browser tests),
#     podman + runc + uidmap + mmdebstrap + the CNI dnsname plugin (images, compose, the per-step chain),
#     prometheus (the server the metrics test scrapes the API with)
#   - uv, then .venv with the exact versions of requirements.lock (bytecode compiled)
#   - the package itself, editable; .env with fresh random secrets and the app's API key; DVC's local credentials
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.8
APT_PACKAGES=(redis-server chromium chromium-driver curl git
              podman runc uidmap mmdebstrap golang-github-containernetworking-plugin-dnsname prometheus)

step() { printf '\n== %s\n' "$*"; }

missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  step "system packages: ${missing[*]}"
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$(uv --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  step "uv $UV_VERSION"
  python3 -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi

step "python environment (.venv, from requirements.lock)"
[ -x .venv/bin/python ] || uv venv --quiet --python 3.11 .venv
# Without compiled bytecode every pandas/sklearn import costs seconds on machines that set PYTHONDONTWRITEBYTECODE.
export UV_COMPILE_BYTECODE=1
uv pip sync --quiet --python .venv/bin/python requirements.lock
uv pip install --quiet --python .venv/bin/python --no-deps -e .

if [ ! -f .env ]; then
  step ".env (new random secrets)"
  .venv/bin/python - <<'PY'
import pathlib, re, secrets
# Only values (NAME=change-me) get a fresh secret each; comments keep their words.
text = re.sub(r"(?m)^(\w+=)change-me\b", lambda m: m[1] + secrets.token_hex(20), pathlib.Path(".env.example").read_text())
pathlib.Path(".env").write_text(text)
PY
  chmod 600 .env
fi

# Secrets added to .env.example after this .env was made (PREDICTION_LOG_SALT, METRICS_TOKEN, ...): each
# `NAME=change-me` whose NAME .env lacks is appended with a fresh secret. Values already set are never changed.
.venv/bin/python - <<'PY'
import pathlib, re, secrets
env = pathlib.Path(".env"); text = env.read_text()
have = set(re.findall(r"(?m)^(\w+)=", text))
new = [n for n in re.findall(r"(?m)^(\w+)=change-me\b", pathlib.Path(".env.example").read_text()) if n not in have]
if new:
    env.write_text(text.rstrip("\n") + "\n" + "".join(f"{n}={secrets.token_hex(20)}\n" for n in new))
    print(f"== .env: added {', '.join(new)} (fresh secrets)")
PY

# The app's key: where API_KEY is empty, a new key goes into API_KEY and its hash into API_KEYS, so the app
# (local or in compose) can call the API from its first start. Values already set are never changed.
.venv/bin/python - <<'PY'
import pathlib, re
from credit_score.api import new_key
env = pathlib.Path(".env"); text = env.read_text()
if not re.search(r"(?m)^API_KEY=[ \t]*\S", text):
    key, entry = new_key("streamlit-app")
    text = re.sub(r"(?m)^API_KEY=.*$", lambda m: f"API_KEY={key}", text) if re.search(r"(?m)^API_KEY=", text) else text + f"\nAPI_KEY={key}\n"
    text = re.sub(r"(?m)^API_KEYS=[ \t]*(\S*)", lambda m: "API_KEYS=" + ",".join(filter(None, [m[1], entry])), text) \
        if re.search(r"(?m)^API_KEYS=", text) else text + f"API_KEYS={entry}\n"
    env.write_text(text)
    print("== .env: made the app's API key (API_KEY) and added its hash to API_KEYS")
PY

step "DVC credentials (.dvc/config.local, git-ignored)"
.venv/bin/python - <<'PY'
from credit_score.core import Settings
import subprocess
s = Settings()
for remote in ("raw", "processed", "models"):
    for key, value in (("endpointurl", s.s3_endpoint_url or ""), ("region", s.aws_default_region),
                       ("access_key_id", s.aws_access_key_id.get_secret_value()),
                       ("secret_access_key", s.aws_secret_access_key.get_secret_value())):
        if value: subprocess.run([".venv/bin/dvc", "remote", "modify", "--local", remote, key, value], check=True)
PY
echo "setup done"
