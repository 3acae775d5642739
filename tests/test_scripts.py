"""The shell entry points: scripts/env.sh and scripts/lib.sh read .env, but the caller's environment wins."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def env_sh(*cmd: str, **env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k not in ("RATE_LIMIT", "BATCH_RATE_LIMIT")}
    return subprocess.run(
        ["scripts/env.sh", *cmd], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_env_sh_reads_dotenv():
    dotenv = dict(l.split("=", 1) for l in (ROOT / ".env").read_text().splitlines() if l.startswith("BATCH_RATE_LIMIT="))
    assert env_sh("printenv", "BATCH_RATE_LIMIT") == dotenv["BATCH_RATE_LIMIT"].split("#")[0].strip()


def test_the_callers_environment_wins_over_dotenv():
    assert env_sh("printenv", "RATE_LIMIT", RATE_LIMIT="7/minute") == "7/minute"


def test_lib_sh_lets_the_caller_win_too():
    out = subprocess.run(
        ["bash", "-c", ". scripts/lib.sh && echo $RATE_LIMIT"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "RATE_LIMIT": "9/minute"},
        check=True,
    ).stdout.strip()
    assert out == "9/minute"
