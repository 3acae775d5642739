"""The end-to-end proof (nbs/08_e2e.ipynb) on the real local services, as its DVC stage runs it."""

import json
import subprocess

import pytest

from conftest import ROOT
from credit_score.contract import LABELS

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture(scope="module")
def e2e_report(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("e2e")
    result = subprocess.run(
        [
            "credit-score",
            "stage",
            "nbs/08_e2e.ipynb",
            "-p",
            "source",
            "auto",
            "-p",
            "report_path",
            str(out / "e2e.json"),
            "--executed-dir",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=2400,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads((out / "e2e.json").read_text())


def test_every_step_of_the_chain_passed(e2e_report):
    steps = {s["step"]: s["status"] for s in e2e_report["steps"]}
    for name in ("ingest", "preprocess", "train", "evaluate", "register"):
        assert steps.get(name) == "ok", f"{name}: {steps.get(name)}"
    assert all(status == "ok" for status in steps.values()), steps
    assert e2e_report["ok"] is True


def test_a_real_prediction_came_back(e2e_report):
    prediction = e2e_report["prediction"]
    assert prediction["credit_score"] in LABELS
    assert abs(sum(prediction["probabilities"].values()) - 1) < 1e-3
    assert str(prediction["model_version"]) == e2e_report["served"]["version"]


def test_lineage_holds_both_ways(e2e_report):
    forward, backward = e2e_report["lineage"]["forward"], e2e_report["lineage"]["backward"]
    assert all(forward["checks"].values()), forward["checks"]
    assert forward["data_sha256"] == backward["data_sha256"] == e2e_report["data_sha256"]
    assert forward["raw_uri"].endswith(f"raw/ingested/{e2e_report['data_sha256'][:16]}/train.csv")
    assert backward["served"] == forward["version"] == e2e_report["served"]["version"]
    assert backward["ok"] and forward["ok"]
