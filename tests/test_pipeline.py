"""The pipeline as DVC records it: up to date after the test command's `dvc repro`, and reproducible.

scripts/test.sh runs `dvc repro eda register` before the tests; on a clean clone that reruns every stage
from the raw data, which is what makes the second test mean something: the same code, parameters and
processed data as the committed dvc.lock must give the committed holdout metrics, to the last digit.
"""

import json
import subprocess

import pytest
import yaml

from conftest import ROOT

pytestmark = pytest.mark.services
MODEL_STAGES = ("train", "evaluate")
PIPELINE_SOURCES = ("nbs", "credit_score", "params.yaml", "dvc.yaml")


def run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def stage_inputs(lock: dict, stage: str) -> dict:
    "A stage's code, params and data hashes from dvc.lock, less what differs on every run (manifest time, run id)."
    entry = lock["stages"][stage]
    deps = {d["path"]: d.get("md5") for d in entry["deps"] if not d["path"].startswith(("data/raw", "reports/"))}
    return {"deps": deps, "params": entry.get("params")}


def test_a_second_repro_is_a_no_op():
    res = run("dvc", "status", "eda", "register", "--with-deps")
    assert res.returncode == 0, res.stderr
    assert "up to date" in res.stdout, f"stages changed since the last repro (run 'make pipeline'):\n{res.stdout}"


def test_a_rerun_from_clean_reproduces_the_committed_metrics():
    if run("git", "diff", "--quiet", "HEAD", "--", *PIPELINE_SOURCES).returncode != 0:
        pytest.skip("the pipeline's code or params have uncommitted changes: HEAD's metrics are not theirs")
    head_lock = yaml.safe_load(run("git", "show", "HEAD:dvc.lock").stdout)
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())
    for stage in MODEL_STAGES:
        assert stage_inputs(lock, stage) == stage_inputs(head_lock, stage), (
            f"{stage}: dvc.lock on HEAD does not match the committed code and data; run 'make pipeline' and commit dvc.lock"
        )
    committed = json.loads(run("git", "show", "HEAD:reports/metrics.json").stdout)
    assert json.loads((ROOT / "reports/metrics.json").read_text()) == committed
