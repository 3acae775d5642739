"""The API against the real local services: the MLflow registry (verified load, refusal, alias hot swap), the champion
pointer in the real S3 server (MODEL_SOURCE=s3, in a throwaway bucket) and Redis-backed limits that hold exactly across
2 uvicorn workers."""

import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from credit_score.api import create_app
from credit_score.serving import state as serve_state
from credit_score.serving.schema import EXAMPLE
from credit_score.core import Settings, s3_client
from credit_score.register import POINTER_KEY, upload_champion, write_pointer

from api_helpers import ROOT, TESTS, free_port, keys, reference_row, settings, start_uvicorn, stop, wait_ready
from synthetic_model import build_pipeline, register, save_model_dir

pytestmark = pytest.mark.services
TEST_MODEL = "credit-score-apitest"  # never the real registered model


@pytest.fixture(scope="module")
def tracking_uri():
    uri = Settings().mlflow_tracking_uri
    httpx.get(f"{uri}/health", timeout=5).raise_for_status()
    return uri


@pytest.fixture(scope="module")
def models():
    return build_pipeline(seed=0), build_pipeline(seed=1)


@pytest.fixture
def creds():
    return keys("app", "ops")


def registry_settings(tmp_path, creds, tracking_uri, **kw):
    return settings(tmp_path, creds[1], model_source="auto", mlflow_tracking_uri=tracking_uri, model_name=TEST_MODEL, **kw)


def test_serves_the_registered_champion_verified(tmp_path, creds, tracking_uri, models):
    info = register(models[0], TEST_MODEL, tracking_uri)
    app = create_app(registry_settings(tmp_path, creds, tracking_uri))
    with TestClient(app) as c:
        assert c.get("/ready").json() == {
            "status": "ready",
            "model_version": info["version"],
            "source": "mlflow",
            "registry": "ok",
            "detail": None,
        }
        m = c.get("/model", headers={"X-API-Key": creds[0]["app"]}).json()
        assert (m["version"], m["run_id"], m["sha256"], m["metrics"]["macro_f1"]) == (
            info["version"],
            info["run_id"],
            info["sha256"],
            0.61,
        )
        assert m["model_uri"] == f"models:/{TEST_MODEL}/{info['version']}" and m["data_sha256"] == "d" * 64
        r = c.post("/predict", json=EXAMPLE, headers={"X-API-Key": creds[0]["app"]})
        assert r.status_code == 200 and r.json()["model_version"] == info["version"]


def test_tampered_registered_version_is_refused(tmp_path, creds, tracking_uri, models, caplog):
    good = register(models[0], TEST_MODEL, tracking_uri)
    app = create_app(registry_settings(tmp_path, creds, tracking_uri))
    with TestClient(app) as c, caplog.at_level(logging.ERROR, logger="credit_score.api"):
        bad = register(models[1], TEST_MODEL, tracking_uri, tamper=True)  # sha256 tag does not match the file
        app.state.model_state.refresh()
        r = c.get("/ready").json()
        assert r["model_version"] == good["version"] and "refused" in r["detail"] and "does not match" in r["detail"]
        assert c.post("/predict", json=EXAMPLE, headers={"X-API-Key": creds[0]["app"]}).json()["model_version"] == good["version"]
    assert any(f"MODEL REFUSED models:/{TEST_MODEL}/{bad['version']}" in m for m in caplog.messages)
    app2 = create_app(registry_settings(tmp_path, creds, tracking_uri))  # a fresh worker: not ready at all
    with TestClient(app2) as c2:
        assert c2.get("/ready").status_code == 503


def test_mlflow_down_serves_the_dvc_pinned_model_degraded(tmp_path, creds, models):
    save_model_dir(models[0], tmp_path, version="7", reference=reference_row())
    s = registry_settings(tmp_path, creds, f"http://127.0.0.1:{free_port()}")
    with TestClient(create_app(s)) as c:
        r = c.get("/ready").json()
        assert (r["status"], r["source"], r["model_version"], r["registry"]) == ("degraded", "local", "7", "unreachable")


def test_alias_move_is_picked_up_by_the_poller_without_a_failed_request(tmp_path, creds, tracking_uri, models):
    first = register(models[0], TEST_MODEL, tracking_uri)
    # no limit in the way: three threads send well over 1,000 requests a minute, and a 429 is not what this is about
    app = create_app(registry_settings(tmp_path, creds, tracking_uri, model_poll_seconds=0.3, rate_limit="1000000/minute"))
    results, stop_flag = [], threading.Event()
    with TestClient(app) as c:

        def hammer():
            while not stop_flag.is_set():
                r = c.post("/predict", json=EXAMPLE, headers={"X-API-Key": creds[0]["app"]})
                results.append((r.status_code, r.json().get("model_version")))

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        second = register(models[1], TEST_MODEL, tracking_uri)  # moves the alias
        deadline = time.time() + 30
        while app.state.model_state.bundle.version != second["version"] and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        stop_flag.set()
        for t in threads:
            t.join()
    assert app.state.model_state.bundle.version == second["version"]
    assert {code for code, _ in results} == {200}
    assert {first["version"], second["version"]} <= {v for _, v in results}


# ---- MODEL_SOURCE=s3: the pointer 05_register writes, in the real S3 server ----------------------------------------


@pytest.fixture
def bucket():
    "A throwaway versioned bucket (never the project's), emptied and deleted afterwards; its name."
    client, name = s3_client(Settings()), f"credit-score-apitest-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    yield name
    for page in client.get_paginator("list_object_versions").paginate(Bucket=name):
        for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
            client.delete_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"])
    client.delete_bucket(Bucket=name)


def publish(model, version: int, bucket: str, folder: Path, tamper: bool = False) -> dict:
    "Publish `model` as champion `version` the way 05_register does (files, then pointer); `tamper`: other bytes than the pointer's sha256."
    info = save_model_dir(model, folder / str(version), version=version, reference=reference_row())
    s = Settings(s3_bucket=bucket)
    pointer = upload_champion(folder / str(version), info, settings=s)
    if tamper:
        s3_client(s).put_object(
            Bucket=bucket, Key=pointer["model_key"], Body=(folder / str(version) / "model.pkl").read_bytes() + b"\0"
        )
    write_pointer(pointer, settings=s)
    return pointer


def s3_settings(tmp_path, creds, bucket: str, **kw):
    "MODEL_SOURCE=s3 on `bucket` of the local S3 server, with a tracking URI where nothing listens."
    base = Settings()
    return settings(
        tmp_path,
        creds[1],
        model_source="s3",
        s3_bucket=bucket,
        s3_endpoint_url=base.s3_endpoint_url,
        aws_access_key_id=base.aws_access_key_id,
        aws_secret_access_key=base.aws_secret_access_key,
        mlflow_tracking_uri=f"http://127.0.0.1:{free_port()}",
        **kw,
    )


def test_serves_the_bucket_champion_and_follows_the_pointer(tmp_path, creds, models, bucket, monkeypatch):
    monkeypatch.setattr(serve_state, "registry", lambda *a, **k: pytest.fail("MODEL_SOURCE=s3 called the MLflow registry"))
    app = create_app(s3_settings(tmp_path, creds, bucket, model_poll_seconds=0.3))
    with TestClient(app) as c:
        assert c.get("/health").json() == {"status": "ok"}  # before any champion exists
        r = c.get("/ready")
        assert r.status_code == 503 and r.json()["registry"] == "no champion"
        assert f"no champion pointer at s3://{bucket}/{POINTER_KEY} (NoSuchKey): no champion promoted yet" in r.json()["detail"]

        first = publish(models[0], 1, bucket, tmp_path / "pub")
        deadline = time.time() + 30
        while c.get("/ready").status_code != 200 and time.time() < deadline:
            time.sleep(0.1)
        assert c.get("/ready").json() == {
            "status": "ready",
            "model_version": "1",
            "source": "s3",
            "registry": "ok",
            "detail": None,
        }
        m = c.get("/model", headers={"X-API-Key": creds[0]["app"]}).json()
        assert (m["version"], m["sha256"], m["model_file"]) == (
            "1",
            first["sha256"],
            f"s3://{bucket}/models/champion/1/model.pkl",
        )
        assert c.post("/predict", json=EXAMPLE, headers={"X-API-Key": creds[0]["app"]}).json()["model_version"] == "1"

        second = publish(models[1], 2, bucket, tmp_path / "pub")  # the pointer moves: the poller swaps
        while app.state.model_state.bundle.version != "2" and time.time() < deadline + 30:
            time.sleep(0.1)
        assert app.state.model_state.bundle.meta["sha256"] == second["sha256"] != first["sha256"]
        assert c.post("/predict", json=EXAMPLE, headers={"X-API-Key": creds[0]["app"]}).json()["model_version"] == "2"


def test_a_pointer_that_does_not_match_its_file_is_refused_and_an_outage_keeps_the_model(tmp_path, creds, models, bucket, caplog):
    publish(models[0], 1, bucket, tmp_path / "pub")
    app = create_app(s3_settings(tmp_path, creds, bucket))
    state = app.state.model_state
    with TestClient(app) as c, caplog.at_level(logging.ERROR, logger="credit_score.api"):
        assert c.get("/ready").json()["model_version"] == "1"
        publish(models[1], 2, bucket, tmp_path / "pub", tamper=True)
        state.refresh()
        r = c.get("/ready").json()
        assert (
            (r["status"], r["model_version"]) == ("ready", "1") and "refused" in r["detail"] and "does not match" in r["detail"]
        )
        assert c.post("/predict", json=EXAMPLE, headers={"X-API-Key": creds[0]["app"]}).json()["model_version"] == "1"
        assert any(f"MODEL REFUSED s3://{bucket}/models/champion/2/model.pkl" in m for m in caplog.messages)

        state.s3 = s3_client(Settings(s3_endpoint_url=f"http://127.0.0.1:{free_port()}"))  # S3 gone
        state.refresh()
        r = c.get("/ready").json()
        assert (r["status"], r["model_version"], r["registry"]) == ("degraded", "1", "unreachable") and "unreachable" in r[
            "detail"
        ]
        assert c.post("/predict", json=EXAMPLE, headers={"X-API-Key": creds[0]["app"]}).json()["model_version"] == "1"


def test_s3_source_never_imports_mlflow(tmp_path, creds, models, bucket):
    "A fresh process serving from the bucket: the model loads, and mlflow is not among its modules."
    publish(models[0], 1, bucket, tmp_path / "pub")
    code = (
        "import sys; from credit_score.serving.settings import ApiSettings; from credit_score.serving.state import ModelState; "
        "state = ModelState(ApiSettings(model_source='s3')); state.refresh(); "
        "assert state.bundle is not None and state.bundle.source == 's3', state.problem; "
        "assert not [m for m in sys.modules if m.split('.')[0] == 'mlflow'], 'mlflow imported'"
    )
    env = {**os.environ, "PYTHONPATH": str(TESTS), "S3_BUCKET": bucket, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"pid": {"format": "%(process)d %(name)s %(message)s"}},
    "handlers": {"out": {"class": "logging.StreamHandler", "formatter": "pid", "stream": "ext://sys.stdout"}},
    "loggers": {
        "uvicorn": {"handlers": ["out"], "level": "INFO"},
        "uvicorn.access": {"handlers": ["out"], "level": "INFO", "propagate": False},
    },
}


def _run_workers(tmp_path, creds, models, redis_url: str | None, limit: int, n: int):
    "2 uvicorn workers on one port; `n` concurrent /predict calls on fresh connections; (codes, pids of 200s, pids of 429s)."
    model_dir = tmp_path / "models"
    if not model_dir.exists():
        save_model_dir(models[0], model_dir, reference=reference_row())
    (tmp_path / "log.json").write_text(json.dumps(LOG_CONFIG))
    port, prefix = free_port(), f"apitest-{uuid.uuid4().hex[:12]}"
    env = {
        "API_KEYS": creds[1],
        "RATE_LIMIT": f"{limit}/minute",
        "RATE_LIMIT_PREFIX": prefix,
        "REDIS_URL": redis_url or "",
        "MODEL_SOURCE": "local",
        "MODEL_DIR": str(model_dir),
        "MODEL_POLL_SECONDS": "0",
        "APP_ENV": "development",
        "PREDICTION_LOG": "false",  # test traffic never reaches the bucket's predictions/
    }
    log_file = tmp_path / f"uvicorn-{prefix}.log"
    proc = start_uvicorn(env, port, workers=2, log_config=tmp_path / "log.json", log_file=log_file)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, timeout=120, proc=proc)
        time.sleep(3)  # both workers up (each loads the model)

        def call(_):
            with httpx.Client(timeout=30) as client:  # a fresh connection each time: spread over the workers
                r = client.post(f"{url}/predict", json=EXAMPLE, headers={"X-API-Key": creds[0]["app"]})
                return r.status_code, r.headers.get("Retry-After")

        with ThreadPoolExecutor(8) as ex:
            out = list(ex.map(call, range(n)))
        time.sleep(0.5)
    finally:
        stop(proc)
    lines = log_file.read_text().splitlines()
    pids = {
        code: {
            int(m[1])
            for m in (re.match(r"(\d+) uvicorn.access .*POST /predict HTTP/1.1\" (\d+)", l) for l in lines)
            if m and m[2] == str(code)
        }
        for code in (200, 429)
    }
    return out, pids, prefix


def test_limit_holds_exactly_across_two_workers_with_redis(tmp_path, creds, models):
    redis_url = Settings().redis_url or "redis://127.0.0.1:6379/0"
    limit, n = 12, 40
    out, pids, prefix = _run_workers(tmp_path, creds, models, redis_url, limit, n)
    codes = [c for c, _ in out]
    assert codes.count(200) == limit and codes.count(429) == n - limit, codes
    assert all(ra and int(ra) > 0 for c, ra in out if c == 429)
    assert len(pids[200] | pids[429]) == 2, pids  # both workers answered...
    # ...and the counter lives in Redis under our prefix, shared by both
    import redis

    r = redis.Redis.from_url(redis_url)
    stored = [k for k in r.scan_iter(f"{prefix}*")]
    assert stored and max(int(r.get(k)) for k in stored) >= limit
    for k in stored:
        r.delete(k)


def test_without_redis_each_worker_counts_alone(tmp_path, creds, models):
    "The contrast that shows why Redis is needed: in-memory limits multiply with the workers."
    limit, n = 12, 40
    out, pids, _ = _run_workers(tmp_path, creds, models, None, limit, n)
    codes = [c for c, _ in out]
    assert len(pids[200]) == 2 and codes.count(200) > limit
