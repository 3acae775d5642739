"""The prediction log and the metrics (nbs/06f_api_predlog, nbs/06g_api_metrics), through the real app.

In process (TestClient): request ids, what a record holds and never holds, S3 outages, a full spool, /metrics and
its token. Subprocesses: 2 uvicorn workers whose metrics add up, scraped by Debian's Prometheus server on loopback;
and (services) the log in the real S3 server under a throwaway prefix, with a worker killed mid-load.
"""

import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from credit_score.api import create_app
from credit_score.contract import MODEL_INPUTS
from credit_score.serving.predlog import COLUMNS, PredictionLog, pseudonym, read_log
from credit_score.serving.schema import EXAMPLE

from api_helpers import ROOT, free_port, keys, reference_row, start_uvicorn, stop, wait_ready
from api_helpers import settings as api_settings
from synthetic_model import build_pipeline, save_model_dir

SALT = b"test-salt"
TOKEN = "scrape-token-for-tests"
SECRETS = {"Name": "Zebulon Quixote", "SSN": "987-65-4321", "ID": "0xfeedbeef", "Customer_ID": "CUS_0xsecret"}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    save_model_dir(build_pipeline(seed=0), d, version="3", run_id="run-three", reference=reference_row())
    return d


@pytest.fixture
def creds():
    return keys("app", "ops")


class Bucket(dict):
    "A stand-in for the bucket: upload(key, path) into a dict; `down` fails like an outage; `delay` makes it slow."

    down, delay = False, 0.0

    def __call__(self, key, path):
        time.sleep(self.delay)
        if self.down:
            raise ConnectionError("S3 is down")
        self[key] = Path(path).read_bytes()


def app_with_log(model_dir, creds, spool, bucket, **kw):
    plog = PredictionLog(spool, SALT, upload=bucket, flush_seconds=kw.pop("flush_seconds", 0.2), **kw.pop("log", {}))
    s = api_settings(model_dir, creds[1], metrics_token=TOKEN, **kw)
    return create_app(s, plog=plog), plog


def H(creds, name="app"):
    return {"X-API-Key": creds[0][name]}


def scrape(c) -> str:
    r = c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.text
    return r.text


def value(text: str, series: str) -> float:
    "The value of one series in Prometheus's text format (0 when absent)."
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# --- the log, in process ---------------------------------------------------------------------------------------


def test_each_scored_row_is_one_record_under_its_replys_request_id(model_dir, creds, tmp_path):
    bucket = Bucket()
    app, plog = app_with_log(model_dir, creds, tmp_path / "spool", bucket)
    with TestClient(app) as c:
        one = c.post("/predict", json=EXAMPLE, headers=H(creds))
        batch = c.post("/predict/batch", json=[EXAMPLE, {**EXAMPLE, "Age": "-500"}, EXAMPLE], headers=H(creds, "ops"))
        refused = c.post("/predict", json={**EXAMPLE, "Age": "abc"}, headers=H(creds))
        anonymous = c.post("/predict", json=EXAMPLE)
    assert (one.status_code, batch.status_code, refused.status_code, anonymous.status_code) == (200, 200, 422, 401)
    ids = {r.headers["x-request-id"] for r in (one, batch, refused, anonymous)}
    assert len(ids) == 4 and all(len(i) == 32 for i in ids)  # every reply has its own id
    log = read_log(bucket).sort_values(["request_id", "row"]).reset_index(drop=True)
    assert list(log.columns) == [*COLUMNS, "date"]
    by_request = log.groupby("request_id")["row"].apply(list).to_dict()
    assert by_request == {one.headers["x-request-id"]: [0], batch.headers["x-request-id"]: [0, 1, 2]}  # 422 and 401: nothing
    first = log[log.request_id == one.headers["x-request-id"]].iloc[0]
    assert (first.endpoint, first.key_name, first.model_version) == ("predict", "app", "3")
    assert first.prediction == one.json()["credit_score"]
    assert {c: first[f"proba_{c}"] for c in one.json()["probabilities"]} == one.json()["probabilities"]
    assert {c: first[c] for c in MODEL_INPUTS} == {c: str(EXAMPLE[c]) for c in MODEL_INPUTS}  # raw values as received
    assert set(log[log.endpoint == "predict/batch"].key_name) == {"ops"}
    assert [list(m) for m in log[log.endpoint == "predict/batch"].missing] == [
        ["Credit_Mix"],
        ["Age", "Credit_Mix"],
        ["Credit_Mix"],
    ]
    assert set(bucket) == {f"predictions/date={first.date}/model_version=3/{k.rsplit('/', 1)[1]}" for k in bucket}


def test_no_personal_field_and_no_key_reaches_the_journal_the_spool_or_the_bucket(model_dir, creds, tmp_path):
    bucket, spool = Bucket(), tmp_path / "spool"
    app, plog = app_with_log(model_dir, creds, spool, bucket, flush_seconds=3600)
    with TestClient(app) as c:
        assert c.post("/predict", json={**EXAMPLE, **SECRETS}, headers=H(creds)).status_code == 200
        assert c.post("/predict/batch", json=[{**EXAMPLE, **SECRETS}] * 2, headers=H(creds, "ops")).status_code == 200
        journal = b"".join(p.read_bytes() for p in spool.rglob("*.jsonl"))  # what is on disk while serving
        assert journal
    stored = journal + b"".join(bucket.values())
    for secret in [*SECRETS.values(), creds[0]["app"], creds[0]["ops"]]:
        assert secret.encode() not in stored, secret
    log = read_log(bucket)
    assert not {"Name", "SSN", "ID", "Customer_ID"} & set(log.columns)
    assert set(log.customer_hash) == {pseudonym(SALT, "Customer_ID", SECRETS["Customer_ID"])}  # followed, not named
    assert set(log.id_hash) == {pseudonym(SALT, "ID", SECRETS["ID"])}


def test_a_request_never_waits_on_s3(model_dir, creds, tmp_path):
    "Uploads that take 2 s each (a slow or hanging S3) do not slow the replies."
    bucket = Bucket()
    bucket.delay = 2.0
    app, plog = app_with_log(model_dir, creds, tmp_path / "spool", bucket, flush_seconds=0.05)
    with TestClient(app) as c:
        c.post("/predict", json=EXAMPLE, headers=H(creds))
        time.sleep(0.3)  # the log's thread is now inside a slow upload
        times = []
        for _ in range(20):
            t = time.perf_counter()
            assert c.post("/predict", json=EXAMPLE, headers=H(creds)).status_code == 200
            times.append(time.perf_counter() - t)
        bucket.delay = 0
    assert max(times) < 1.0, times
    assert len(read_log(bucket)) == 21  # and the clean shutdown uploaded everything


def test_an_s3_outage_keeps_every_row_in_the_spool_and_it_drains_when_s3_is_back(model_dir, creds, tmp_path):
    bucket, spool = Bucket(), tmp_path / "spool"
    bucket.down = True
    app, plog = app_with_log(model_dir, creds, spool, bucket, flush_seconds=0.05)
    with TestClient(app) as c:
        ids = [c.post("/predict", json=EXAMPLE, headers=H(creds)).headers["x-request-id"] for _ in range(10)]
        time.sleep(0.5)
        assert list(spool.rglob("*.parquet")) and not bucket  # spooled, not lost
        assert value(scrape(c), "credit_score_predlog_upload_errors_total") >= 1
        assert value(scrape(c), "credit_score_predlog_spool_files") >= 1
        bucket.down, plog.retry_at = False, 0  # S3 is back (and the back-off is over)
        deadline = time.time() + 10
        while list(spool.rglob("*.parquet")) and time.time() < deadline:
            time.sleep(0.05)
        assert not list(spool.rglob("*.parquet"))
    assert sorted(read_log(bucket).request_id) == sorted(ids)  # each row once: no loss, no duplicate


def test_a_crash_leaves_the_journal_and_the_next_start_uploads_it(model_dir, creds, tmp_path):
    "A worker killed with SIGKILL (here: a child process) loses nothing it answered; the next start adopts its journal."
    spool, bucket = tmp_path / "spool", Bucket()
    code = (
        "import os, sys; from pathlib import Path; from credit_score.serving.predlog import PredictionLog; "
        "from credit_score.serving.schema import EXAMPLE, raw_row; "
        "log = PredictionLog(Path(sys.argv[1]), b'test-salt').start(background=False); "
        "a = {'credit_score': 'Good', 'probabilities': {'Good': 0.9, 'Poor': 0.05, 'Standard': 0.05}}; "
        "[log.add('predict', 'app', '3', [raw_row(EXAMPLE)], [a], f'{i:032x}') for i in range(5)]; "
        "os.kill(os.getpid(), 9)"
    )
    r = subprocess.run([sys.executable, "-c", code, str(spool)], cwd=ROOT, capture_output=True, timeout=120)
    assert r.returncode == -9, r.stderr[-2000:]
    assert len(list(spool.glob("journal/*.jsonl"))) == 1
    heir = PredictionLog(spool, SALT, upload=bucket).start()
    heir.close()
    assert sorted(read_log(bucket).request_id) == [f"{i:032x}" for i in range(5)]
    assert not list(spool.glob("journal/*.jsonl")) and not list(spool.rglob("*.parquet"))


def test_a_full_spool_drops_the_newest_rows_counted_and_logged_and_still_answers(model_dir, creds, tmp_path, caplog):
    bucket = Bucket()
    bucket.down = True
    app, plog = app_with_log(model_dir, creds, tmp_path / "spool", bucket, flush_seconds=0.02, log={"max_bytes": 30_000})
    with TestClient(app) as c, caplog.at_level(logging.WARNING, logger="credit_score.api"):
        codes = []
        for _ in range(40):
            codes.append(c.post("/predict", json=EXAMPLE, headers=H(creds)).status_code)
            time.sleep(0.01)
        text = scrape(c)
        bucket.down, plog.retry_at = False, 0
    assert set(codes) == {200}  # every request answered
    dropped = value(text, 'credit_score_predlog_dropped_rows_total{reason="spool_full"}')
    logged = value(text, 'credit_score_predlog_rows_total{outcome="logged"}')
    assert dropped > 0 and logged + dropped == 40, text
    assert any("dropping new records (spool_full)" in m for m in caplog.messages)
    assert len(read_log(bucket)) == logged  # what was kept reaches the bucket


def test_two_writers_in_one_spool_never_write_the_same_file(tmp_path):
    "Workers share the spool: names carry host, pid and a random token, so even one pid reused writes new names."
    bucket = Bucket()
    answer = {"credit_score": "Good", "probabilities": {"Good": 0.9, "Poor": 0.05, "Standard": 0.05}}
    logs = [PredictionLog(tmp_path, SALT, upload=bucket).start(background=False) for _ in range(2)]
    assert logs[0].name != logs[1].name
    for i in range(20):
        logs[i % 2].add("predict", "app", "3", [dict(EXAMPLE)], [answer], f"{i:032x}")
        logs[i % 2].tick()
    for log in logs:
        log.close()
    assert len(bucket) == 20 and sorted(read_log(bucket).request_id) == [f"{i:032x}" for i in range(20)]


def test_production_refuses_to_start_without_a_salt(model_dir, creds):
    s = api_settings(model_dir, creds[1], app_env="production", prediction_log=True, prediction_log_salt=None)
    with pytest.raises(ValueError, match="PREDICTION_LOG_SALT"):
        create_app(s)
    assert create_app(s.model_copy(update={"prediction_log": False})) is not None  # an explicit choice


# --- /metrics, in process --------------------------------------------------------------------------------------


def test_metrics_are_for_the_scraper_only(model_dir, creds):
    with TestClient(create_app(api_settings(model_dir, creds[1], metrics_token=None))) as c:  # no METRICS_TOKEN: off
        assert c.get("/metrics").status_code == 404
        assert c.get("/metrics", headers=H(creds)).status_code == 404
    with TestClient(create_app(api_settings(model_dir, creds[1], metrics_token=TOKEN))) as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers=H(creds)).status_code == 401  # an API key is not the scraper's token
        r = c.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer" and TOKEN not in r.text
        assert c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert "/metrics" not in c.get("/openapi.json").json()["paths"]


def test_metrics_count_requests_latency_predictions_429s_and_the_model(model_dir, creds, tmp_path):
    app, _ = app_with_log(model_dir, creds, tmp_path / "spool", Bucket(), rate_limit="3/minute")
    with TestClient(app) as c:
        codes = [c.post("/predict", json=EXAMPLE, headers=H(creds)).status_code for _ in range(5)]
        c.post("/predict/batch", json=[EXAMPLE] * 4, headers=H(creds, "ops"))
        c.get("/nowhere/" + uuid.uuid4().hex)
        text = scrape(c)
    assert codes == [200, 200, 200, 429, 429]
    assert value(text, 'credit_score_http_requests_total{endpoint="/predict",method="POST",status="200"}') == 3
    assert value(text, 'credit_score_http_requests_total{endpoint="/predict",method="POST",status="429"}') == 2
    assert value(text, 'credit_score_http_requests_total{endpoint="unmatched",method="GET",status="404"}') == 1
    assert value(text, 'credit_score_http_request_duration_seconds_count{endpoint="/predict"}') == 5
    assert value(text, 'credit_score_rate_limited_total{key_name="app"}') == 2
    predicted = sum(
        float(l.rsplit(" ", 1)[1])
        for l in text.splitlines()
        if l.startswith("credit_score_predictions_total{") and 'model_version="3"' in l
    )
    assert predicted == 3 + 4
    assert value(text, "credit_score_model_loaded") == 1
    assert value(text, 'credit_score_model_info{source="local",version="3"}') == 1
    assert value(text, 'credit_score_predlog_rows_total{outcome="logged"}') == 7


# --- across workers, and a real Prometheus -----------------------------------------------------------------------


def api_env(model_dir, creds, metrics_dir, **extra) -> dict:
    env = {
        "API_KEYS": creds[1],
        "RATE_LIMIT": "100000/minute",
        "REDIS_URL": "",
        "MODEL_SOURCE": "local",
        "MODEL_DIR": str(model_dir),
        "MODEL_POLL_SECONDS": "0",
        "APP_ENV": "development",
        "METRICS_TOKEN": TOKEN,
        "PREDICTION_LOG": "false",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    return {**env, **extra}


def fresh_calls(url: str, creds, n: int, threads: int = 8) -> list[httpx.Response]:
    "`n` /predict calls, each on a new connection (so both workers answer)."

    def call(_):
        with httpx.Client(timeout=30) as client:
            return client.post(f"{url}/predict", json=EXAMPLE, headers=H(creds))

    with ThreadPoolExecutor(threads) as ex:
        return list(ex.map(call, range(n)))


def prometheus_binary() -> str:
    exe = shutil.which("prometheus")
    if exe is None:
        pytest.fail("Debian's prometheus server is not installed: `make setup` installs it (apt-get install prometheus)")
    return exe


def test_promtool_accepts_the_compose_scrape_config(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool (Debian's prometheus package) is not installed: `make setup` installs it")
    token = tmp_path / "token"
    token.write_text(TOKEN)
    config = (ROOT / "docker" / "prometheus.yml").read_text()
    assert "credentials_file: /prometheus/.metrics_token" in config and 'targets: ["api:8000"]' in config
    (tmp_path / "p.yml").write_text(config.replace("/prometheus/.metrics_token", str(token)))
    r = subprocess.run([promtool, "check", "config", str(tmp_path / "p.yml")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.slow
def test_prometheus_scrapes_two_workers_whose_counts_add_up(model_dir, creds, tmp_path):
    exe = prometheus_binary()
    api_port, prom_port = free_port(), free_port()
    api = start_uvicorn(api_env(model_dir, creds, tmp_path / "metrics"), api_port, workers=2, log_file=tmp_path / "api.log")
    (tmp_path / "token").write_text(TOKEN)
    (tmp_path / "prometheus.yml").write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "credit-score-api",
                        "authorization": {"type": "Bearer", "credentials_file": str(tmp_path / "token")},
                        "static_configs": [{"targets": [f"127.0.0.1:{api_port}"]}],
                    }
                ],
            }
        )
    )
    prom = subprocess.Popen(
        [
            exe,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "prometheus.log", "wb"),
        start_new_session=True,
    )
    url, prom_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{prom_port}"

    def query(q: str) -> list:
        r = httpx.get(f"{prom_url}/api/v1/query", params={"query": q}, timeout=5)
        r.raise_for_status()
        return r.json()["data"]["result"]

    def until(q: str, ok, timeout: float = 60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                result = query(q)
                if ok(result):
                    return result
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(
            f"{q}: {result if 'result' in locals() else 'no answer'}; prometheus log: {(tmp_path / 'prometheus.log').read_text()[-1500:]}"
        )

    try:
        wait_ready(url, timeout=120, proc=api)
        time.sleep(3)  # both workers have loaded the model
        first = fresh_calls(url, creds, 10)
        assert {r.status_code for r in first} == {200}
        until('up{job="credit-score-api"}', lambda r: r and r[0]["value"][1] == "1")  # scraped, with the token
        before = float(until("sum(credit_score_predictions_total)", lambda r: r and float(r[0]["value"][1]) >= 10)[0]["value"][1])
        calls = fresh_calls(url, creds, 30)
        assert {r.status_code for r in calls} == {200}
        until("sum(credit_score_predictions_total)", lambda r: r and float(r[0]["value"][1]) == before + 30)
        # the two workers' counts add up: the total equals the calls, whichever worker answered the scrape
        text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
        assert value(text, 'credit_score_http_requests_total{endpoint="/predict",method="POST",status="200"}') == 40
        assert len(list((tmp_path / "metrics").glob("counter_*.db"))) == 2  # one file per worker
        assert value(text, "credit_score_model_loaded") == 1
        assert httpx.get(f"{url}/metrics").status_code == 401  # and not for anyone else
    finally:
        os.killpg(prom.pid, signal.SIGTERM)
        prom.wait(15)
        stop(api)


# --- the log in the real bucket, with a worker killed mid-load ---------------------------------------------------


def worker_pids(master: int) -> list[int]:
    "uvicorn's worker processes: the children of its supervisor that multiprocessing spawned (not its resource tracker)."
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == master and b"spawn_main" in cmdline:
            out.append(int(stat.parent.name))
    return out


@pytest.mark.services
@pytest.mark.slow
def test_the_bucket_holds_every_answered_row_after_a_worker_is_killed(model_dir, creds, tmp_path, s3, settings):
    prefix = f"test-predlog-{uuid.uuid4().hex[:12]}/predictions"  # never the real predictions/
    env = api_env(
        model_dir,
        creds,
        tmp_path / "metrics",
        PREDICTION_LOG="true",
        PREDICTION_LOG_SALT="salt-of-this-test",
        PREDICTION_LOG_DIR=str(tmp_path / "spool"),
        PREDICTION_LOG_PREFIX=prefix,
        PREDICTION_LOG_FLUSH_SECONDS="0.5",
    )
    port = free_port()
    api = start_uvicorn(env, port, workers=2, log_file=tmp_path / "api.log")
    url, answered, failed, stop_flag = f"http://127.0.0.1:{port}", [], [], threading.Event()

    def load():
        with httpx.Client(timeout=30) as client:
            while not stop_flag.is_set():
                try:
                    r = client.post(f"{url}/predict", json={**EXAMPLE, **SECRETS}, headers=H(creds))
                    (answered if r.status_code == 200 else failed).append(r.headers.get("x-request-id"))
                except httpx.HTTPError:
                    failed.append(None)

    try:
        wait_ready(url, timeout=120, proc=api)
        time.sleep(3)
        workers = worker_pids(api.pid)
        assert len(workers) == 2, workers
        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(2)
        os.kill(workers[0], signal.SIGKILL)  # a crash mid-load: no shutdown, no flush
        deadline = time.time() + 60
        while len(set(worker_pids(api.pid)) - set(workers)) < 1 and time.time() < deadline:
            time.sleep(0.2)  # uvicorn starts a new worker, whose log adopts the dead one's journal
        time.sleep(3)
        stop_flag.set()
        for t in threads:
            t.join()
    finally:
        stop_flag.set()
        stop(api)  # SIGTERM: the live workers flush and upload
    try:
        if list((tmp_path / "spool").glob("journal/*.jsonl")) or list((tmp_path / "spool").rglob("*.parquet")):
            heir = PredictionLog(tmp_path / "spool", b"salt-of-this-test", upload=lambda k, p: s3.put_object(
                Bucket=settings.s3_bucket, Key=k, Body=Path(p).read_bytes()), prefix=prefix)  # fmt: skip
            heir.start().close()  # what a restart would do with anything left
        log = read_log((s3, settings.s3_bucket, prefix))
        got = list(log.request_id)
        assert answered and set(answered) <= set(got), f"{len(set(answered) - set(got))} answered rows missing from the log"
        assert len(got) == len(set(got)), "a row was logged twice"
        assert len(set(got) - set(answered)) <= len(failed)  # at most the calls cut off by the kill were logged unanswered
        blobs = b"".join(
            s3.get_object(Bucket=settings.s3_bucket, Key=o["Key"])["Body"].read()
            for o in s3.list_objects_v2(Bucket=settings.s3_bucket, Prefix=prefix).get("Contents", [])
        )
        for secret in [*SECRETS.values(), creds[0]["app"]]:
            assert secret.encode() not in blobs
        print(f"answered {len(answered)}, failed {len(failed)}, logged {len(got)}")
    finally:
        for page in s3.get_paginator("list_object_versions").paginate(
            Bucket=settings.s3_bucket, Prefix=prefix.split("/")[0] + "/"
        ):
            for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                s3.delete_object(Bucket=settings.s3_bucket, Key=v["Key"], VersionId=v["VersionId"])


def test_parquet_files_are_readable_alone(tmp_path):
    "One file read without its folder still names its model version (the partition is also a column)."
    bucket = Bucket()
    log = PredictionLog(tmp_path, SALT, upload=bucket).start(background=False)
    log.add("predict", "app", "7", [dict(EXAMPLE)], [{"credit_score": "Poor", "probabilities": {"Poor": 1.0}}], "f" * 32)
    log.close()
    (key, blob), = bucket.items()  # fmt: skip
    t = pq.read_table(io.BytesIO(blob)).to_pandas()
    assert "model_version=7" in key and t.model_version.tolist() == ["7"] and t.proba_Good.isna().all()


def test_setup_adds_the_new_secrets_to_an_existing_env(tmp_path):
    "An .env made before PREDICTION_LOG_SALT and METRICS_TOKEN existed gets them, fresh; values already set stay."
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    block = setup[setup.index("# Secrets added to .env.example") :]
    code = block[block.index("<<'PY'\n") + 7 : block.index("\nPY\n")]
    shutil.copy(ROOT / ".env.example", tmp_path / ".env.example")
    (tmp_path / ".env").write_text("AWS_ACCESS_KEY_ID=kept\nMETRICS_TOKEN=mine\n")
    for _ in range(2):  # idempotent
        subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, capture_output=True)
    env = dict(l.split("=", 1) for l in (tmp_path / ".env").read_text().splitlines() if "=" in l)
    assert env["AWS_ACCESS_KEY_ID"] == "kept" and env["METRICS_TOKEN"] == "mine"
    assert len(env["PREDICTION_LOG_SALT"]) == 40 and env["PREDICTION_LOG_SALT"] != "change-me"
    assert (tmp_path / ".env").read_text().count("PREDICTION_LOG_SALT=") == 1
