"The linters the pre-commit hooks run (.pre-commit-config.yaml), as part of the test command."

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ruff() -> str:
    ruff = shutil.which("ruff") or str(Path(ROOT / ".venv/bin/ruff"))
    if not Path(ruff).exists():
        pytest.fail("ruff is not installed: run `make setup` (it installs requirements.lock, which pins ruff)")
    return ruff


def test_ruff_finds_nothing():
    r = subprocess.run([_ruff(), "check", "credit_score", "scripts", "tests", "docker"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_scripts_and_tests_are_formatted():
    r = subprocess.run([_ruff(), "format", "--check", "scripts", "tests"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, "run `scripts/env.sh ruff format scripts tests`:\n" + r.stdout + r.stderr


def test_pre_commit_runs_the_same_checks():
    hooks = (ROOT / ".pre-commit-config.yaml").read_text()
    for check in ("ruff check", "ruff format --check", "tests/test_notebooks.py"):
        assert check in hooks, f".pre-commit-config.yaml lacks {check!r}"
