"""The retraining watcher (credit_score.uploads, credit_score.watch): event parsing, ignore rules, the queue and its
state file, the events endpoint, the audit trail and which records are a run's; the watcher loop on the real S3
server with a tiny DVC pipeline; and the real thing: a new raw file uploaded to the bucket is retrained on and
served (or refused) by a running API, timed."""

import json
import shutil
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pandas as pd
import pytest

from conftest import OFFLINE, ROOT, make_raw_rows
from credit_score import uploads
from credit_score import watch as w
from credit_score.core import sha256_file
from support import free_port, start, stop_process, wait_http

MINIO = {
    "EventName": "s3:ObjectCreated:Put",
    "Key": "credit-score/raw/incoming/a%2Bb.csv",
    "Records": [
        {
            "eventVersion": "2.0",
            "eventSource": "minio:s3",
            "eventName": "s3:ObjectCreated:Put",
            "s3": {
                "bucket": {"name": "credit-score"},
                "object": {"key": "raw%2Fincoming%2Fa%2Bb.csv", "size": 10, "versionId": "v1", "sequencer": "1"},
            },
        }
    ],
}
AWS = {
    "Records": [
        {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "eventName": "ObjectCreated:CompleteMultipartUpload",
            "s3": {
                "bucket": {"name": "credit-score"},
                "object": {"key": "raw/incoming/a%2Bb.csv", "size": 10, "eTag": "e", "versionId": "v1"},
            },
        }
    ]
}


def event(key: str, version: str = "v1", name: str = "s3:ObjectCreated:Put", bucket: str = "credit-score") -> dict:
    "A MinIO-format notification for one object."
    return {"Records": [{"eventName": name, "s3": {"bucket": {"name": bucket}, "object": {"key": key, "versionId": version}}}]}


# ---------------------------------------------------------------- unit: events and ignore rules
def test_minio_and_aws_events_name_the_same_upload():
    minio, aws = uploads.parse_event(MINIO), uploads.parse_event(AWS)
    assert [u.id for u in minio] == [u.id for u in aws] == ["credit-score/raw/incoming/a+b.csv#v1"]
    assert (minio[0].size, aws[0].etag) == (10, "e")
    assert minio[0].uri == "s3://credit-score/raw/incoming/a+b.csv" and minio[0].via == "event"


def test_eventbridge_and_records_with_several_objects():
    eb = {
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": "b"}, "object": {"key": "raw/incoming/x.csv", "version-id": "9"}},
    }
    assert [u.id for u in uploads.parse_event(eb)] == ["b/raw/incoming/x.csv#9"]
    two = {"Records": event("raw/incoming/1.csv", "a")["Records"] + event("raw/incoming/2.csv", "b")["Records"]}
    assert [u.key for u in uploads.parse_event(two)] == ["raw/incoming/1.csv", "raw/incoming/2.csv"]


@pytest.mark.parametrize(
    "key",
    [
        "raw/ingested/c079c569d44cfdf4/train.csv",
        "raw/dvc/files/md5/78/604836",
        "raw/incoming/",
        "raw/incoming/batch/test.csv",
        "raw/incoming/batch/manifest.json",
        "raw/incoming/readme.txt",
        "processed/train.csv",
        "mlflow/1/model.pkl",
        "raw/incoming/a%20b.csv",
        "raw/incoming/a;rm%20-rf.csv",
    ],
)
def test_keys_outside_the_drop_zone_or_not_training_files_are_ignored(key):
    assert uploads.parse_event(event(key)) == []


def test_deletions_test_events_and_garbage_are_ignored():
    assert uploads.parse_event(event("raw/incoming/x.csv", name="s3:ObjectRemoved:Delete")) == []
    assert uploads.parse_event({"Service": "Amazon S3", "Event": "s3:TestEvent"}) == []
    assert uploads.parse_event({}) == [] and uploads.parse_event({"Records": None}) == []


def test_ingested_copies_never_trigger_even_when_watching_all_of_raw():
    assert uploads.wanted("raw/incoming/x.csv", prefix="raw/")
    assert not uploads.wanted("raw/ingested/abc/train.csv", prefix="raw/") and not uploads.wanted("raw/dvc/x.csv", prefix="raw/")


# ---------------------------------------------------------------- unit: queue and state file
def test_queue_is_fifo_and_deduplicates_by_version(tmp_path):
    q = uploads.UploadQueue(uploads.WatchState(tmp_path / "s.json"))
    a1, a2, b = (
        uploads.Upload("b", "raw/incoming/a.csv", "1"),
        uploads.Upload("b", "raw/incoming/a.csv", "2"),
        uploads.Upload("b", "raw/incoming/b.csv", "1"),
    )
    assert [q.put(u) for u in (a1, a2, b, uploads.Upload("b", "raw/incoming/a.csv", "1", via="event"))] == [
        True,
        True,
        True,
        False,
    ]
    assert q.get(0) == a1 and not q.put(a1)  # running: not queued again
    assert q.get(0) is None  # one run at a time
    q.done(a1, {"decision": "refused"})
    assert not q.put(a1)  # handled: not again
    assert [q.get(0), q.get(0)] == [a2, None] and len(q) == 1


def test_state_survives_a_restart_and_a_crash_mid_run(tmp_path):
    path = tmp_path / "watch/state.json"
    q = uploads.UploadQueue(uploads.WatchState(path))
    ups = [uploads.Upload("b", f"raw/incoming/{i}.csv", "v") for i in range(3)]
    for u in ups:
        q.put(u)
    q.done(q.get(0), {"decision": "promoted"})
    q.get(0)  # ups[1] running when the process dies
    again = uploads.UploadQueue(uploads.WatchState(path))
    assert [u.id for u in again.items] == [ups[1].id, ups[2].id]
    assert not again.put(ups[0]) and again.state.handled[ups[0].id] == {"decision": "promoted"}
    assert json.loads(path.read_text())["pending"][0]["key"] == "raw/incoming/1.csv"
    assert not list(path.parent.glob(".*.tmp")), "atomic write leaves no temporary file"


def test_concurrent_announcements_queue_each_version_once(tmp_path):
    q = uploads.UploadQueue(uploads.WatchState(tmp_path / "s.json"))
    ups = [uploads.Upload("b", f"raw/incoming/{i % 5}.csv", "v") for i in range(200)]
    threads = [threading.Thread(target=lambda part: [q.put(u) for u in part], args=(ups[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(u.key for u in q.items) == [f"raw/incoming/{i}.csv" for i in range(5)]


# ---------------------------------------------------------------- unit: the events endpoint (FastAPI on uvicorn)
def test_events_endpoint_auth_dedup_and_bucket_filter(tmp_path):
    q = uploads.UploadQueue(uploads.WatchState(tmp_path / "s.json"))
    srv = uploads.serve_events(q, "credit-score", port=0, token="t0ken", say=lambda m: None)
    url = srv.url
    try:
        assert srv.address[0] == "127.0.0.1" and srv.address[1] > 0
        assert httpx.post(url + "/events", json=MINIO).status_code == 401
        assert httpx.post(url + "/events", json=MINIO, headers={"Authorization": "Bearer nope"}).status_code == 401
        auth = {"Authorization": "Bearer t0ken"}
        first = httpx.post(url + "/events", json=MINIO, headers=auth)
        assert first.status_code == 202 and len(first.json()["queued"]) == 1
        assert httpx.post(url + "/events", json=AWS, headers=auth).json()["duplicates"] == [
            "credit-score/raw/incoming/a+b.csv#v1"
        ]
        assert httpx.post(url + "/events", json=event("raw/incoming/z.csv", bucket="other"), headers=auth).json()["queued"] == []
        assert httpx.post(url + "/events", content=b"[", headers=auth).status_code == 400
        assert httpx.post(url + "/events", content=b"[1, 2]", headers=auth).json() == {"queued": [], "duplicates": []}
        too_big = httpx.post(url + "/events", content=b" " * (uploads.MAX_EVENT_BYTES + 1), headers=auth)
        assert too_big.status_code == 413
        assert httpx.post(url + "/other", json=MINIO, headers=auth).status_code == 404
        assert httpx.get(url + "/health").json() == {"status": "ok", "waiting": 1, "running": None, "handled": 0}
        assert httpx.get(url + "/events").json()["waiting"] == 1
    finally:
        srv.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/health")


def test_events_endpoint_without_a_token_and_on_a_taken_port(tmp_path):
    q = uploads.UploadQueue(uploads.WatchState(tmp_path / "s.json"))
    srv = uploads.serve_events(q, "credit-score", port=0, say=lambda m: None)
    try:
        assert httpx.post(srv.url + "/events", json=MINIO).status_code == 202  # no WATCHER_TOKEN: open (loopback)
        with pytest.raises(RuntimeError, match="cannot listen"):
            uploads.serve_events(q, "credit-score", port=srv.address[1], say=lambda m: None)
    finally:
        srv.stop()


# ---------------------------------------------------------------- unit: audit trail and gate records
def test_audit_trail_is_append_only_json_lines(tmp_path):
    path = tmp_path / "a/audit.jsonl"
    w.append_audit(path, {"decision": "refused", "why": "macro_f1 0.40 < 0.55", "at": datetime.now(timezone.utc)})
    first = path.read_bytes()
    w.append_audit(path, {"decision": "promoted"})
    assert path.read_bytes().startswith(first)
    assert [e["decision"] for e in w.read_audit(path)] == ["refused", "promoted"]


def _records(repo: Path, run: str, gate_run: str, version: int = 4) -> None:
    "The records a fake run leaves, at the paths FAKE_DVC names (not the project's reports/...)."
    (repo / "data/incoming-raw").mkdir(parents=True, exist_ok=True)
    (repo / "records").mkdir(exist_ok=True)
    (repo / "data/incoming-raw/manifest.json").write_text(
        json.dumps({"dataset_sha256": "d" * 64, "files": {"train.csv": {"sha256": "f" * 64}}})
    )
    gate = {"decision": "kept", "reason": "worse than the champion", "candidate": {"version": version, "run_id": gate_run}}
    (repo / "records/gate.json").write_text(json.dumps(gate))
    (repo / "records/run.json").write_text(json.dumps({"run_id": run}))


def test_outcome_uses_only_this_runs_records_found_through_dvc_yaml(tmp_path):
    (tmp_path / "dvc.yaml").write_text(FAKE_DVC)
    _records(tmp_path, run="r1", gate_run="r1")
    (tmp_path / "reports").mkdir()  # where the project keeps them: never read for a pipeline that names others
    (tmp_path / "reports/register.json").write_text(json.dumps({"decision": "promoted", "candidate": {"version": 9}}))
    now = w.outcome(tmp_path, before="r0")
    assert (now["decision"], now["why"], now["model_version"], now["run_id"], now["data_sha256"]) == (
        "refused",
        "worse than the champion",
        "4",
        "r1",
        "d" * 64,
    )
    same = w.outcome(tmp_path, before="r1")  # the train record still names the run from before: nothing trained
    assert (same["decision"], same["run_id"], same["model_version"], same["gate"]) == ("unchanged", None, None, None)
    _records(tmp_path, run="r2", gate_run="r1")  # trained again, but the gate record is the earlier run's
    stale = w.outcome(tmp_path, before="r1")
    assert (stale["decision"], stale["run_id"], stale["model_version"]) == ("trained", "r2", None)


# ---------------------------------------------------------------- services: the watcher loop on real S3, tiny pipeline
FAKE_DVC = """stages:
  ingest:
    cmd: python ingest_stage.py -p source ${ingest.source} -p raw_dir data/incoming-raw
    params: [ingest]
    outs:
      - data/incoming-raw:
          persist: true
  register:
    cmd: python register_stage.py -p manifest_path data/incoming-raw/manifest.json -p record_path records/run.json
      -p decision_path records/gate.json
    deps: [data/incoming-raw]
    outs:
      - records:
          cache: false
"""
STAGE_ARGS = "import sys\na = dict(zip(sys.argv[2::3], sys.argv[3::3]))  # -p NAME VALUE, as dvc.yaml passes them\n"
FAKE_INGEST = STAGE_ARGS + "from credit_score.ingest import ingest\ningest(a['source'], a['raw_dir'], upload=False)\n"
FAKE_REGISTER = (
    STAGE_ARGS
    + """import json, os, uuid, pandas as pd
df = pd.read_csv(os.path.join(os.path.dirname(a['manifest_path']), 'train.csv'), dtype=str)
ok, run = len(df) >= 10, f"fake-{len(df)}-{uuid.uuid4().hex[:8]}"
os.makedirs('records', exist_ok=True)
json.dump({"decision": "promoted" if ok else "kept", "reason": f"{len(df)} rows" + (" >= 10" if ok else " < 10"),
           "candidate": {"version": len(df), "run_id": run, "macro_f1": 0.5}}, open(a['decision_path'], 'w'))
json.dump({"run_id": run}, open(a['record_path'], 'w'))
"""
)


@pytest.fixture
def fake_repo(tmp_path):
    "A DVC project (no git): ingest (the real one) -> a stand-in register that gates on row count; its own record paths."
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "dvc.yaml").write_text(FAKE_DVC)
    (repo / "params.yaml").write_text("ingest:\n  # where the data comes from\n  source: auto\n")
    (repo / "ingest_stage.py").write_text(FAKE_INGEST)
    (repo / "register_stage.py").write_text(FAKE_REGISTER)
    shutil.copy2(ROOT / ".env", repo / ".env")
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=repo, check=True)
    return repo


@pytest.fixture
def drop_zone(s3, settings):
    "A private prefix under raw/incoming/; every version in it is deleted afterwards."
    prefix = f"raw/incoming/test-watch-{uuid.uuid4().hex[:12]}/"
    yield prefix
    vs = s3.list_object_versions(Bucket=settings.s3_bucket, Prefix=prefix)
    for v in vs.get("Versions", []) + vs.get("DeleteMarkers", []):
        s3.delete_object(Bucket=settings.s3_bucket, Key=v["Key"], VersionId=v["VersionId"])


def _upload(s3, settings, df: pd.DataFrame, key: str, tmp_path: Path) -> tuple[str, str]:
    path = tmp_path / f"{uuid.uuid4().hex}.csv"
    df.to_csv(path, index=False)
    time.sleep(1.1)  # the server stamps whole seconds: keep the upload order visible
    s3.upload_file(str(path), settings.s3_bucket, key)
    return s3.head_object(Bucket=settings.s3_bucket, Key=key)["VersionId"], sha256_file(path)


@pytest.mark.services
@pytest.mark.slow
def test_watcher_runs_each_upload_once_audits_and_restores_on_failure(s3, settings, fake_repo, drop_zone, tmp_path):
    state, audit, lines = tmp_path / "w/state.json", tmp_path / "w/audit.jsonl", []
    once = lambda: w.watch(
        fake_repo, state, audit, drop_zone, poll_seconds=0, port=0, push=False, once=True, settings=settings, say=lines.append
    )
    good_v, good_sha = _upload(s3, settings, make_raw_rows(6, 3, seed=1), drop_zone + "good.csv", tmp_path)
    bad = make_raw_rows(4, 2)
    bad.loc[1, "Credit_Score"] = "Excellent"
    bad_v, _ = _upload(s3, settings, bad, drop_zone + "bad.csv", tmp_path)
    small_v, _ = _upload(s3, settings, make_raw_rows(2, 2, seed=2), drop_zone + "small.csv", tmp_path)
    once()
    entries = {e["object"]["key"].rsplit("/", 1)[-1]: e for e in w.read_audit(audit)}
    assert list(entries) == ["good.csv", "bad.csv", "small.csv"], lines  # oldest first
    good = entries["good.csv"]
    assert (good["decision"], good["model_version"], good["run_id"][:8]) == ("promoted", "18", "fake-18-"), good
    # the stand-in registers nothing: the audit line's lineage check says the registry does not hold this run
    assert good["lineage"]["ok"] is False and good["lineage"]["checks"].get("run_id") is not True, good["lineage"]
    assert good["object"]["version_id"] == good_v and good["object"]["sha256"] == good_sha
    manifest = json.loads((fake_repo / "data/incoming-raw/manifest.json").read_text())
    assert good["data_sha256"] != manifest["dataset_sha256"]  # the later 'small' run replaced data/raw
    failed = entries["bad.csv"]
    assert (
        failed["decision"] == "failed" and failed["failed_step"] == "ingest" and "unknown label 'Excellent'" in failed["why"]
    ), failed
    assert failed["object"]["version_id"] == bad_v
    small = entries["small.csv"]
    assert (small["decision"], small["why"], small["data_sha256"]) == ("refused", "4 rows < 10", manifest["dataset_sha256"])
    assert small["object"]["version_id"] == small_v
    assert small["run_id"] == json.loads((fake_repo / "records/run.json").read_text())["run_id"]  # read where dvc.yaml says
    assert f"source: s3://{settings.s3_bucket}/{drop_zone}small.csv" in (fake_repo / "params.yaml").read_text()
    assert "# where the data comes from" in (fake_repo / "params.yaml").read_text()
    assert all(e["champion_before"] == e["champion_after"] for e in entries.values())  # the stand-in never touches the registry
    assert any("FAILED" in l for l in lines) and any("PROMOTED" in l for l in lines), lines

    once()  # a restart: nothing repeats
    assert len(w.read_audit(audit)) == 3
    v2, sha2 = _upload(s3, settings, make_raw_rows(5, 3, seed=3), drop_zone + "good.csv", tmp_path)  # same key, new version
    once()
    last = w.read_audit(audit)[-1]
    assert (last["object"]["version_id"], last["object"]["sha256"], last["decision"]) == (v2, sha2, "promoted")


@pytest.mark.services
@pytest.mark.slow
def test_a_failed_run_puts_params_back_and_a_superseded_version_is_skipped(s3, settings, fake_repo, drop_zone, tmp_path):
    state, audit = tmp_path / "w/state.json", tmp_path / "w/audit.jsonl"
    old_v, _ = _upload(s3, settings, make_raw_rows(3, 1), drop_zone + "y.csv", tmp_path)
    new_v, _ = _upload(s3, settings, make_raw_rows(6, 2), drop_zone + "y.csv", tmp_path)
    bad = make_raw_rows(3, 1)
    bad.loc[0, "ID"] = bad.loc[1, "ID"]
    _upload(s3, settings, bad, drop_zone + "x.csv", tmp_path)
    q = uploads.UploadQueue(uploads.WatchState(state))
    w.poll(s3, q, settings.s3_bucket, drop_zone, say=lambda m: None)
    assert [u.key[-5:] for u in q.items] == ["y.csv", "y.csv", "x.csv"]
    w.watch(
        fake_repo, state, audit, drop_zone, poll_seconds=0, port=0, push=False, once=True, settings=settings, say=lambda m: None
    )
    y_old, y_new, x = w.read_audit(audit)
    assert x["decision"] == "failed" and "duplicate ID" in x["why"]
    params = (fake_repo / "params.yaml").read_text()  # the failed run left params.yaml as it was
    assert f"source: s3://{settings.s3_bucket}/{drop_zone}y.csv" in params and "x.csv" not in params
    lock = (fake_repo / "dvc.lock").read_text()
    assert "y.csv" in lock and "x.csv" not in lock  # and dvc.lock still describes y's run
    assert y_old["object"]["version_id"] == old_v and y_old["decision"] == "superseded" and new_v in y_old["why"]
    assert y_new["object"]["version_id"] == new_v and y_new["decision"] == "promoted"


# ---------------------------------------------------------------- services, slow: the real pipeline, a running API
def _new_raw_file(path: Path, rows: int, seed: int) -> Path:
    "A small new training file: `rows` real rows drawn at random (a new dataset hash every run; never committed)."
    df = pd.read_csv(OFFLINE / "train.csv", dtype=str, keep_default_na=False)
    df.sample(n=rows, random_state=seed).to_csv(path, index=False)
    return path


@pytest.fixture
def running_api(tmp_path):
    "The API from this repository on a free loopback port, following the champion alias every second."
    from credit_score.api import new_key

    key, entry = new_key("watch-test")
    port = free_port()
    proc = start(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "credit_score.api:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ],
        ROOT,
        {"API_KEYS": entry, "MODEL_POLL_SECONDS": "1"},
        tmp_path / "api.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_http(url + "/ready", proc, 120, tmp_path / "api.log")
        except Exception as e:
            pytest.fail(f"the API serves no model: {e}")
        yield url, {"X-API-Key": key}
    finally:
        stop_process(proc)


def _clone(tmp_path: Path) -> Path:
    "A git clone of HEAD plus the current data/raw, the DVC remotes' local config and .env (all git-ignored)."
    repo = tmp_path / "repo"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(repo)], check=True)
    for name in (".dvc/config.local", ".env"):
        shutil.copy2(ROOT / name, repo / name)
    if (ROOT / "data/raw").is_dir():
        shutil.copytree(ROOT / "data/raw", repo / "data/raw")
    return repo


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_new_raw_file_in_the_bucket_is_retrained_and_served_or_refused(s3, settings, running_api, drop_zone, tmp_path):
    api_url, headers = running_api
    served_before = httpx.get(api_url + "/model", headers=headers).json()["version"]
    repo = _clone(tmp_path)
    port, rows, seed = free_port(), 600, uuid.uuid4().int % 10**6
    data = _new_raw_file(tmp_path / "retrain.csv", rows, seed)
    state_dir = tmp_path / "watch"
    watcher = start(
        [
            sys.executable,
            "-c",
            "import sys; from credit_score.watch import main; sys.exit(main())",
            "--repo",
            str(repo),
            "--prefix",
            drop_zone,
            "--poll-seconds",
            "5",
            "--port",
            str(port),
            "--state",
            str(state_dir / "state.json"),
            "--audit",
            str(state_dir / "audit.jsonl"),
        ],
        repo,
        {"WATCHER_TOKEN": ""},
        tmp_path / "watch.log",
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", watcher, 60, tmp_path / "watch.log")
        key = drop_zone + "retrain.csv"
        t0 = time.monotonic()
        s3.upload_file(str(data), settings.s3_bucket, key)
        version = s3.head_object(Bucket=settings.s3_bucket, Key=key)["VersionId"]
        # the MinIO-style notification as well: whichever comes first, the version runs once
        httpx.post(f"http://127.0.0.1:{port}/events", json=event(key.replace("/", "%2F"), version, bucket=settings.s3_bucket))
        entry, deadline = None, time.monotonic() + 3000
        while entry is None and time.monotonic() < deadline:
            assert watcher.poll() is None, (tmp_path / "watch.log").read_text()[-3000:]
            entry = next((e for e in w.read_audit(state_dir / "audit.jsonl") if e["object"]["version_id"] == version), None)
            time.sleep(1)
        t_audit = time.monotonic() - t0
        assert entry is not None, "no audit entry: " + (tmp_path / "watch.log").read_text()[-3000:]
        assert entry["object"]["sha256"] == sha256_file(data)
        # promoted, or refused by the gate: 05_register's comparison, or 04_evaluate's behavioural tests (a failed
        # stage there is a refusal too: the alias never moves); a failure anywhere else is a bug
        gate_failure = entry["decision"] == "failed" and any(
            f"stage {n} failed" in entry["why"] for n in ("04_evaluate", "05_register")
        )
        assert entry["decision"] in ("promoted", "refused") or gate_failure, entry
        if not gate_failure:
            assert entry["data_sha256"] and entry["run_id"] and entry["model_version"] and entry["metrics"], entry
            assert entry["lineage"]["ok"] is True, entry["lineage"]  # the registry holds the version with this run and data
        served, t_served = None, None
        if entry["decision"] == "promoted":
            while time.monotonic() - t0 < t_audit + 120:
                served = httpx.get(api_url + "/model", headers=headers).json()
                if served["version"] == entry["model_version"]:
                    t_served = time.monotonic() - t0
                    break
                time.sleep(0.5)
            assert t_served is not None, f"the API still serves {served} after the promotion of {entry['model_version']}"
            assert served["data_sha256"] == entry["data_sha256"] and served["run_id"] == entry["run_id"]
            assert entry["champion_after"] == entry["model_version"] != entry["champion_before"]
        else:
            time.sleep(3)  # three poll periods of the API
            served = httpx.get(api_url + "/model", headers=headers).json()
            assert served["version"] == served_before == entry["champion_after"] == entry["champion_before"], (served, entry)
            assert entry["why"]
        dup = httpx.post(f"http://127.0.0.1:{port}/events", json=event(key, version, bucket=settings.s3_bucket)).json()
        assert dup["queued"] == [] and len(w.read_audit(state_dir / "audit.jsonl")) == 1  # announced twice, run once
    finally:
        stop_process(watcher, timeout=30)
    bench = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "scripts/env.sh pytest tests/test_watch.py -q -k retrained_and_served",
        "rows": rows,
        "decision": entry["decision"],
        "why": entry["why"],
        "model_version": entry["model_version"],
        "served_before": served_before,
        "served_after": served["version"],
        "upload_to_audit_seconds": round(t_audit, 1),
        "upload_to_served_seconds": round(t_served, 1) if t_served else None,
        "pipeline_steps_seconds": entry.get("steps"),
        "watcher_seconds": entry.get("seconds"),
        "noticed_via": entry["object"]["via"],
        "metrics": entry["metrics"],
    }
    out = ROOT / "reports/bench/retrain.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(bench, indent=2) + "\n")
