"""The registry client (credit_score.registry) and the audit trail's lineage check against the real MLflow server,
under a throwaway registered model name (never the served one); and what a caller sees when MLflow is down."""

import hashlib
import time
import uuid

import pytest

from credit_score.lineage import registered_as_recorded, version_lineage
from credit_score.registry import NotFound, Registry, RegistryError, Unreachable
from support import free_port
from synthetic_model import build_pipeline, register


def test_a_registry_that_is_down_is_unreachable_quickly():
    reg = Registry(f"http://127.0.0.1:{free_port()}", "m", timeout=1)
    t0 = time.monotonic()
    for call in (reg.alias, lambda: reg.version("1"), lambda: reg.model_file("1"), lambda: reg.versions_for_data("d" * 64)):
        with pytest.raises(Unreachable):
            call()
    assert time.monotonic() - t0 < 5
    assert registered_as_recorded(reg, "1", "r", "d" * 64)["ok"] is None  # an audit line, not a crash


@pytest.fixture(scope="module")
def throwaway(settings):
    "A registered model of its own with one version (a small real model, tagged like 05_register); both deleted afterwards."
    from mlflow import MlflowClient

    name = f"credit-score-test-registry-{uuid.uuid4().hex[:12]}"
    info = register(build_pipeline(seed=0), name, settings.mlflow_tracking_uri)
    yield name, info
    client = MlflowClient(settings.mlflow_tracking_uri)
    try:
        client.delete_registered_model(name)
        client.delete_experiment(client.get_experiment_by_name(f"{name}-tests").experiment_id)  # register() made it
    except Exception:  # noqa: BLE001 - cleanup only
        pass


@pytest.mark.services
def test_alias_version_run_data_and_model_file(settings, throwaway):
    name, info = throwaway
    reg = Registry(settings.mlflow_tracking_uri, name)
    champ = reg.alias("champion")
    assert (champ["version"], champ["run_id"], champ["aliases"]) == (info["version"], info["run_id"], ["champion"])
    assert champ["tags"]["data_sha256"] == "d" * 64 and champ["source_uri"]
    assert reg.version(info["version"]) == champ
    assert reg.versions_for_data("d" * 64) == [info["version"]]
    assert reg.versions_for_data("e" * 64) == []
    run = reg.run(info["run_id"])
    assert (run["status"], run["metrics"]["macro_f1"]) == ("FINISHED", 0.61)
    blob = reg.model_file(info["version"])  # through the tracking server's artifact proxy
    assert hashlib.sha256(blob).hexdigest() == info["sha256"] == champ["tags"]["sha256"]
    line = version_lineage(champ, settings.s3_bucket)
    assert line["raw_uri"] == f"s3://{settings.s3_bucket}/raw/ingested/{'d' * 16}/train.csv"


@pytest.mark.services
def test_not_found_is_told_apart_from_a_refusal(settings, throwaway):
    name, info = throwaway
    reg = Registry(settings.mlflow_tracking_uri, name)
    for call in (
        lambda: reg.alias("challenger"),  # MLflow: 400 "alias ... not found"
        lambda: reg.version("999"),  # 404
        lambda: reg.run("0" * 32),
        lambda: reg.model_file(info["version"], "no-such-file.pkl"),
        lambda: Registry(settings.mlflow_tracking_uri, f"{name}-none").alias(),
    ):
        with pytest.raises(NotFound):
            call()
    with pytest.raises(RegistryError) as refused:
        reg.version("abc")  # 400: not an integer
    assert not isinstance(refused.value, (NotFound, Unreachable))


@pytest.mark.services
def test_the_audit_lineage_check_compares_with_the_registry(settings, throwaway):
    name, info = throwaway
    reg = Registry(settings.mlflow_tracking_uri, name)
    assert registered_as_recorded(reg, info["version"], info["run_id"], "d" * 64)["ok"] is True
    other = registered_as_recorded(reg, info["version"], "another-run", "d" * 64)
    assert other["ok"] is False and other["checks"]["run_id"] is False
    assert registered_as_recorded(reg, "999", info["run_id"], "d" * 64)["checks"] == {"registered": False}
