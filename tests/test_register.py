"""Register: the promotion gate both ways, model.json and the sha256 (fast), and the whole stage against the real
MLflow registry under a throwaway registered model name and the real S3 server in a throwaway bucket (marked services):
never the real `credit-score` model or bucket."""

import hashlib
import json
import pickle
import uuid

import mlflow
import pytest
from mlflow import MlflowClient

from credit_score.contract import FEATURE_COLUMNS, LABEL
import credit_score.register as reg
from credit_score.core import StorageError, sha256_file
from credit_score.register import (
    ALIAS,
    POINTER_KEY,
    champion_pointer,
    current_champion,
    decide,
    model_json,
    read_pointer,
    register,
    write_model_files,
)
from credit_score.train import StageDataError, download_model, make_estimator, make_pipeline_for
from train_fixtures import demo_frame
from train_helpers import demo_split, log_demo_model

GATE = {"min_macro_f1": 0.5, "min_gain": 0.0}


@pytest.mark.parametrize(
    "cand, champ, floor, gain, promote, why",
    [
        (0.63, None, 0.60, 0.0, True, "no champion yet"),
        (0.58, None, 0.60, 0.0, False, "below the floor 0.6000"),
        (0.65, 0.62, 0.60, 0.0, True, "beats the champion's 0.6200"),
        (0.62, 0.62, 0.60, 0.0, False, "does not beat"),  # a tie keeps the champion
        (0.61, 0.62, 0.60, 0.0, False, "does not beat"),
        (0.625, 0.62, 0.60, 0.01, False, "by more than 0.0100"),
        (0.59, 0.40, 0.60, 0.0, False, "below the floor"),  # beating a weak champion is not enough
    ],
)
def test_promotion_gate(cand, champ, floor, gain, promote, why):
    d = decide(cand, champ, floor, gain)
    assert d["promote"] is promote and why in d["reason"]


class _Version:
    version, run_id, tags = "7", "run7", {"data_sha256": "data", "git_commit": "c" * 40, "macro_f1": "0.63"}


def test_model_files_are_byte_identical_and_described(tmp_path):
    demo = demo_frame(30)
    model = make_pipeline_for(make_estimator("logreg", {"max_iter": 300}, 0)).fit(demo[list(FEATURE_COLUMNS)], demo[LABEL])
    pkl = tmp_path / "model.pkl"
    pkl.write_bytes(pickle.dumps(model))
    sha = hashlib.sha256(pkl.read_bytes()).hexdigest()
    info = model_json(
        "credit-score", _Version(), model, sha, {"Age": "number", "Name": "string"}, 0.64, "2026-01-01T00:00:00+00:00"
    )
    out_pkl, out_json = write_model_files(pkl, info, tmp_path / "models")
    assert out_pkl.read_bytes() == pkl.read_bytes() and sha256_file(out_pkl) == sha
    doc = json.loads(out_json.read_text())
    assert doc == {
        "name": "credit-score",
        "version": 7,
        "run_id": "run7",
        "model_uri": "models:/credit-score/7",
        "sha256": sha,
        "data_sha256": "data",
        "git_commit": "c" * 40,
        "metrics": {"macro_f1": 0.64, "registered_macro_f1": 0.63},
        "classes": sorted(["Good", "Poor", "Standard"]),
        "input_schema": {"Age": "number", "Name": "string"},
        "promoted_at": "2026-01-01T00:00:00+00:00",
    }
    with pytest.raises(StageDataError, match="does not match sha256"):
        write_model_files(pkl, {**info, "sha256": "0" * 64}, tmp_path / "other")
    assert not (tmp_path / "other" / "model.pkl").exists()


# ---- against the real MLflow registry, under a throwaway name --------------------------------------------------------


@pytest.fixture
def registry(settings):
    "A throwaway registered model name, deleted afterwards."
    name = f"credit-score-test-{uuid.uuid4().hex[:12]}"
    client = MlflowClient(settings.mlflow_tracking_uri)
    yield name, client
    try:
        client.delete_registered_model(name)
    except Exception:
        pass


def drop_bucket(s3, bucket: str) -> None:
    "Delete every version and delete marker in `bucket`, then the bucket."
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
    s3.delete_bucket(Bucket=bucket)


@pytest.fixture
def bucket(settings, s3):
    "Settings on a throwaway versioned bucket, so the champion pointer of a test never reaches the real bucket."
    name = f"credit-score-test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    yield settings.model_copy(update={"s3_bucket": name})
    drop_bucket(s3, name)


def _object(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def _versions(s3, bucket: str, key: str) -> int:
    return len([v for v in s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", []) if v["Key"] == key])


@pytest.fixture
def runs(tmp_path, settings):
    "Two logged runs on the same demo data: a good monotone model and a much weaker one."
    train_path, holdout_path = demo_split(tmp_path / "processed")
    good = log_demo_model(train_path, tmp_path / "good.json", settings, "ordinal_hgb", {"max_iter": 60})
    weak = log_demo_model(train_path, tmp_path / "weak.json", settings, "logreg", {"C": 1e-6, "max_iter": 200})
    return {"good": tmp_path / "good.json", "weak": tmp_path / "weak.json", "holdout": holdout_path, "records": (good, weak)}


@pytest.mark.services
def test_champion_moves_only_when_beaten(tmp_path, settings, registry, runs, bucket, s3):
    name, client = registry
    models, decision = tmp_path / "models", tmp_path / "register.json"
    first = register(
        runs["good"],
        runs["holdout"],
        GATE,
        models,
        decision,
        bucket,
        name=name,
        train_path=runs["holdout"].parent / "train.parquet",
    )
    assert first["decision"] == "promoted" and first["champion_after"] == first["candidate"]["version"]
    champ = current_champion(client, name)
    assert champ.version == str(first["candidate"]["version"]) and champ.run_id == runs["records"][0]["run_id"]
    for tag in ("sha256", "data_sha256", "git_commit", "macro_f1"):
        assert tag in champ.tags, tag
    # models/model.pkl is byte-identical to the registered artifact, and model.json describes it
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    reg = download_model(f"models:/{name}@{ALIAS}", tmp_path / "dl") / "model.pkl"
    assert (models / "model.pkl").read_bytes() == reg.read_bytes()
    info = json.loads((models / "model.json").read_text())
    assert info["sha256"] == champ.tags["sha256"] == sha256_file(reg) and info["version"] == int(champ.version)
    assert set(info["input_schema"]) == set(FEATURE_COLUMNS) and info["input_schema"]["Name"] == "string"
    assert info["input_schema"]["Delay_from_due_date"] == "number"
    # the reasons' reference values: training medians / modes, in model.json and as a JSON tag on the version
    assert set(info["reference"]) == set(FEATURE_COLUMNS) - {"ID", "Customer_ID", "Month", "Name", "SSN"}
    assert json.loads(champ.tags["reference"]) == info["reference"] and isinstance(info["reference"]["Age"], float)
    good_bytes = (models / "model.pkl").read_bytes()
    # the bucket: the same two files under models/champion/<version>/, and the pointer to them
    pointer = read_pointer(settings=bucket)
    assert pointer == champion_pointer(info) and set(pointer) == {
        "name",
        "version",
        "sha256",
        "model_key",
        "meta_key",
        "promoted_at",
    }
    assert pointer["model_key"] == f"models/champion/{champ.version}/model.pkl" and pointer["sha256"] == champ.tags["sha256"]
    assert _object(s3, bucket.s3_bucket, pointer["model_key"]) == good_bytes
    assert _object(s3, bucket.s3_bucket, pointer["meta_key"]) == (models / "model.json").read_bytes()
    assert pointer["promoted_at"] == info["promoted_at"] == champ.tags["promoted_at"]

    # a weaker candidate is registered and tagged, but the champion stays, and the files stay the champion's
    second = register(runs["weak"], runs["holdout"], GATE, models, decision, bucket, name=name)
    assert second["decision"] == "kept" and ("below the floor" in second["reason"] or "does not beat" in second["reason"])
    assert json.loads(decision.read_text()) == second
    assert current_champion(client, name).version == champ.version
    assert (models / "model.pkl").read_bytes() == good_bytes
    weak_version = client.get_model_version(name, str(second["candidate"]["version"]))
    assert weak_version.tags["gate"] == "not promoted" and weak_version.tags["gate_reason"] == second["reason"]
    assert read_pointer(settings=bucket) == pointer  # the bucket still serves the champion
    assert not s3.list_objects_v2(Bucket=bucket.s3_bucket, Prefix=f"models/champion/{second['candidate']['version']}/").get(
        "KeyCount"
    )

    # rerunning the stage for the champion's run registers nothing new, and writes no new pointer version
    again = register(runs["good"], runs["holdout"], GATE, models, decision, bucket, name=name)
    assert again["decision"] == "kept" and "already the champion" in again["reason"]
    assert again["candidate"]["version"] == first["candidate"]["version"]
    assert len(client.search_model_versions(f"name='{name}'")) == 2
    assert _versions(s3, bucket.s3_bucket, POINTER_KEY) == 1 and _versions(s3, bucket.s3_bucket, pointer["model_key"]) == 1


@pytest.mark.services
def test_pointer_follows_the_alias_and_is_repaired_when_missing(tmp_path, registry, runs, bucket, s3, monkeypatch):
    "The pointer is written after the alias moved; a run that failed to write it, or a new bucket, gets it on the next run."
    name, client = registry
    models, decision = tmp_path / "models", tmp_path / "register.json"
    real_write = reg.write_pointer

    def failing_write(pointer, settings=None):
        assert current_champion(client, name) is not None, "the pointer was written before the alias moved"
        raise StorageError("S3 at test is unreachable (EndpointConnectionError)")

    monkeypatch.setattr(reg, "write_pointer", failing_write)
    with pytest.raises(StorageError, match="unreachable"):
        register(runs["good"], runs["holdout"], GATE, models, decision, bucket, name=name)
    champ = current_champion(client, name)  # the alias moved, the pointer did not
    assert champ is not None and read_pointer(settings=bucket) is None
    assert _object(s3, bucket.s3_bucket, f"models/champion/{champ.version}/model.pkl") == (models / "model.pkl").read_bytes()

    monkeypatch.setattr(reg, "write_pointer", real_write)  # the next run keeps the champion and writes its pointer
    kept = register(runs["weak"], runs["holdout"], GATE, models, decision, bucket, name=name)
    assert kept["decision"] == "kept" and kept["champion_after"] == int(champ.version)
    pointer = read_pointer(settings=bucket)
    assert pointer["version"] == int(champ.version) and pointer["sha256"] == champ.tags["sha256"]

    s3.delete_object(Bucket=bucket.s3_bucket, Key=POINTER_KEY)  # a pointer lost (or a bucket without one) comes back too
    register(runs["weak"], runs["holdout"], GATE, models, decision, bucket, name=name)
    assert read_pointer(settings=bucket) == pointer


@pytest.mark.services
def test_a_failed_stage_never_moves_the_champion(tmp_path, registry, runs, bucket):
    name, client = registry
    blocker = tmp_path / "models"
    blocker.write_text("a file where the models folder should be")  # writing the model files will fail
    with pytest.raises(Exception):
        register(runs["good"], runs["holdout"], GATE, blocker, tmp_path / "register.json", bucket, name=name)
    assert current_champion(client, name) is None, "the alias moved although the stage failed"
    assert read_pointer(settings=bucket) is None


@pytest.mark.services
def test_no_champion_below_the_floor(tmp_path, registry, runs, bucket):
    name, client = registry
    with pytest.raises(StageDataError, match="register: no champion to serve: macro-F1 .* below the floor 0.9900"):
        register(
            runs["weak"],
            runs["holdout"],
            {"min_macro_f1": 0.99, "min_gain": 0.0},
            tmp_path / "models",
            tmp_path / "register.json",
            bucket,
            name=name,
        )
    assert json.loads((tmp_path / "register.json").read_text())["decision"] == "kept"
    assert current_champion(client, name) is None
    assert not (tmp_path / "models" / "model.pkl").exists()
    assert read_pointer(settings=bucket) is None


@pytest.mark.services
def test_unknown_run_id(tmp_path, registry, runs, bucket):
    name, _ = registry
    rec = json.loads(runs["good"].read_text())
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**rec, "run_id": "f" * 32, "model_uri": f"runs:/{'f' * 32}/model"}))
    with pytest.raises(StageDataError, match="register: cannot fetch runs:/f+/model"):
        register(bad, runs["holdout"], GATE, tmp_path / "models", tmp_path / "register.json", bucket, name=name)
