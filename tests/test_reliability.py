"""The quick part of the reliability suite (issue 6, scripts/reliability.py): load on 2 workers with exact Redis limits,
schemathesis fuzzing, faults (MLflow, S3, Redis down; corrupt model; killed stage) and the security checks.

Faults already covered elsewhere are not repeated here: bad raw data (tests/test_ingest.py), hot swap under load and
model refusal in detail (tests/test_api.py, tests/test_api_services.py); `make reliability` runs those too."""

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import credit_score.api as api
from api_helpers import keys

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("reliability", ROOT / "scripts" / "reliability.py")
R = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(R)


@pytest.fixture(scope="module")
def mdir(tmp_path_factory):
    return R.model_dir(tmp_path_factory.mktemp("models"))[0]


# ------------------------------------------------------------------------------------------------ security
def test_no_secret_in_git():
    res = R.secret_scan()
    assert res["files_scanned"] > 50
    assert res["hits"] == [], res["hits"]


def test_secret_scanner_finds_planted_secrets(tmp_path):
    "The scanner is able to fail: every kind of planted secret is found in a throwaway repo."
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    value = "Zq8" + "x7Lm2Pw9Rt4Vb6Nc1Kd3Hf5Jg0Ys"  # a .env secret value (assembled: not a literal here)
    (tmp_path / ".env").write_text(f"AWS_SECRET_ACCESS_KEY={value}\n")
    key, _ = api.new_key("ci")
    (tmp_path / "a.py").write_text(f"ID = 'AKIA{'ABCDEFGHIJKLMNOP'}'\nKEY = '{key}'\n")
    (tmp_path / "b.txt").write_text("-----BEGIN RSA " + "PRIVATE KEY-----\nMIIE\n")
    (tmp_path / "c.cfg").write_text(f"secret = {value}\n")
    subprocess.run(["git", "add", "a.py", "b.txt", "c.cfg"], cwd=tmp_path, check=True)
    kinds = sorted(h["kind"] for h in R.secret_scan(tmp_path)["hits"])
    assert "aws access key id" in kinds and "credit-score API key" in kinds and "private key" in kinds
    assert any(k.startswith(".env secret value") for k in kinds)
    assert all(value not in json.dumps(h) for h in R.secret_scan(tmp_path)["hits"])  # reported by position, never by value


def test_an_empty_env_value_is_not_read_from_the_next_line(tmp_path):
    "A fresh .env has `API_KEYS=` empty; its next line (committed in .env.example) is no secret of it."
    (tmp_path / ".env").write_text("API_KEYS=\nRATE_LIMIT=60/minute\nAPI_KEY=   \nAPP_PORT=8501\nWATCHER_TOKEN=s3cr3t-token\n")
    assert R.env_secrets(tmp_path / ".env") == ["s3cr3t-token"]


@pytest.mark.services
def test_services_bind_to_loopback_and_the_filer_is_not_exposed():
    res = R.loopback_check()
    assert all(res["script_flags"].values()), res["script_flags"]
    assert res["exposed"] == [], res["exposed"]
    assert res["filer_listeners"] and all(l.startswith("127.0.0.1:") for l in res["filer_listeners"])
    assert res["filer_reachable_on"] == []


def test_every_non_health_route_needs_a_key_and_keys_are_hashed(mdir):
    res = R.auth_check(mdir)
    guarded = [r for r in res["routes"] if r["route"] not in res["open_routes"]]
    assert len(guarded) >= 3 and all((r["no_key"], r["wrong_key"]) == (401, 403) for r in guarded), res["routes"]
    assert res["keys_stored_hashed"]


def test_model_file_checksum_is_verified_before_unpickling(tmp_path, mdir):
    res = R.checksum_check(tmp_path, mdir)
    assert res["refused"] and not res["payload_ran"]


# ------------------------------------------------------------------------------------------------ load
@pytest.mark.services
@pytest.mark.slow
def test_load_two_workers_no_errors_and_exact_per_key_limits(tmp_path, mdir):
    res = R.run_load(tmp_path, seconds=10, rate=20, limit=30, window=60, mdir=mdir)
    assert res["requests"] == res["planned"] == 200
    assert res["errors"] == 0, res["error_samples"]
    assert res["workers_answering"] == 2
    for name, windows in res["windows"].items():  # one 60 s window in a 10 s run: exactly 30 allowed per key
        assert [w["allowed"] for w in windows] == [30] and windows[0]["complete"], (name, windows)
    assert res["status_codes"] == {"200": 60, "429": 140}
    assert res["retry_after_on_every_429"] and res["wrong_key_status"] == 403
    assert res["log_leaks"] == [] and res["log_lines"] > 200  # access log on, yet no key / Name / SSN


def test_limit_windows_counts_bursts():
    recs = [
        {"key": "a", "t0": t, "status": s}
        for t, s in [(0, 200), (0.1, 200), (0.2, 429), (20, 200), (20.1, 200), (20.2, 200), (20.3, 429), (40, 200)]
    ]
    assert R.limit_windows(recs, "a", 20) == [
        {"allowed": 2, "complete": True, "start_s": 0},
        {"allowed": 3, "complete": True, "start_s": 20},
        {"allowed": 1, "complete": False, "start_s": 40},
    ]


# ------------------------------------------------------------------------------------------------ fuzzing
@pytest.mark.slow
def test_schemathesis_finds_no_new_server_error_or_schema_violation(tmp_path, mdir):
    res = R.run_fuzz(tmp_path, examples=50, mdir=mdir)
    assert res["test_cases"] and res["test_cases"] > 100
    assert res["unknown_findings"] == [], res["unknown_findings"]
    assert res["ok"] and not res["key_leaked_in_log"]


def _client(tmp_path, mdir, version):
    "A client on a copy of the model folder whose model.json `version` is `version` (05_register writes an int)."
    import shutil

    creds, spec = keys("ops")
    shutil.copytree(mdir, tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    (tmp_path / "m" / "model.json").write_text(json.dumps({**meta, "version": version}))
    s = api.ApiSettings(
        _env_file=None,
        api_keys=spec,
        model_source="local",
        model_dir=tmp_path / "m",
        model_poll_seconds=0,
        redis_url=None,
        prediction_log=False,
    )
    return TestClient(api.create_app(s), raise_server_exceptions=False), {"X-API-Key": creds["ops"]}


def test_model_info_with_an_int_version_in_model_json(tmp_path, mdir):
    client, h = _client(tmp_path, mdir, 1)  # what 05_register writes
    with client as c:
        assert c.get("/model", headers=h).status_code == 200


def test_empty_json_batch_is_422(tmp_path, mdir):
    client, h = _client(tmp_path, mdir, "1")
    with client as c:
        assert c.post("/predict/batch", json=[], headers=h).status_code == 422


# ------------------------------------------------------------------------------------------------ faults
@pytest.mark.services
@pytest.mark.slow
def test_mlflow_down_at_start_and_during_serving(tmp_path, mdir):
    res = R.fault_mlflow(tmp_path, mdir)
    s = res["at_start"]
    assert (s["ready"]["status"], s["ready"]["source"], s["predict_status"]) == ("degraded", "local", 200)
    d = res["during_serving"]
    assert (d["before"]["status"], d["after_kill"]["status"], d["after_back"]["status"]) == ("ready", "degraded", "ready")
    assert d["predict_while_down"] == [200] * 5 and d["versions_while_down"] == [str(d["before"]["model_version"])]
    assert res["ok"]


@pytest.mark.services
@pytest.mark.slow
def test_redis_down_fails_open_to_per_worker_limits(tmp_path, mdir):
    res = R.fault_redis(tmp_path, mdir, limit=5)
    assert res["with_redis"] == [200] * 5 + [429] * 2
    assert res["redis_killed"] == [200] * 5 + [429] * 3  # the in-memory fallback still limits, per worker
    assert res["server_errors"] == 0 and res["ready_after"] == 200
    assert res["behaviour"] == "fail-open to per-worker in-memory limits"


def test_corrupt_model_file_refused_previous_kept(tmp_path, mdir):
    res = R.fault_model_file(tmp_path, mdir)
    assert set(res["cases"]) == {"flipped byte", "truncated", "other object, same name"}
    assert all(c["refused"] and c["previous_kept"] for c in res["cases"].values()), res["cases"]
    assert not res["unpickled_before_check"]


@pytest.mark.services
@pytest.mark.slow
def test_s3_down_during_dvc_push_and_pull(tmp_path):
    res = R.fault_s3(tmp_path, size=1_000_000, cut=True)
    st = res["steps"]
    for k in ("push_down", "push_cut", "pull_down", "pull_cut"):
        assert st[k]["rc"] != 0 and st[k]["error"].startswith("ERROR"), (k, st[k])
    assert st["push_down"]["remote_objects"] == 0 and st["push_cut"]["partial_objects"] == 0
    assert st["pull_down"]["workspace"] == st["pull_cut"]["workspace"] == [".gitignore", "blob.bin.dvc"]
    assert st["push_retry"]["rc"] == 0 and st["pull_retry"]["rc"] == 0 and st["pull_retry"]["sha256_matches"]


@pytest.mark.slow
def test_stage_killed_halfway_then_rerun_recovers(tmp_path):
    "The kill takes the kernel too; the rerun's outputs equal a clean run's."
    raw, _ = R.raw_dir(tmp_path)
    res = R.fault_stage_kill(tmp_path, raw)
    assert not res["finished_before_kill"] and len(res["kills"]) == 2
    assert res["half_written_after_kill"] == [], "outputs are renamed into place: a kill never leaves a truncated one"
    assert all(n.split("/")[-1].startswith(".") and n.endswith(".tmp") for n in res["stray_temp_files"])
    assert res["rerun_rc"] == 0 and res["rerun_equals_clean_run"] and res["stray_temp_files_after_rerun"] == []
