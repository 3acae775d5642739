"""The cloud shape, run for real with podman: the images build and stay small, the compose stack comes up
healthy, and the state machine of deploy/aws/pipeline.asl.json runs one fresh jobs container per step,
from an upload under raw/incoming/ to the version the API container serves.

The stack runs as its own compose project on other host ports than the local services, so both can be
up at once. Figures (image sizes, build and start times, upload-to-served time) go to
reports/bench/containers.json.
"""

import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
from pathlib import Path

import boto3
import httpx
import pytest
from dotenv import dotenv_values

import asl_local

pytestmark = [pytest.mark.containers, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "credit-score-ci"
PORTS = {
    "S3_HOST_PORT": 28333,
    "MLFLOW_HOST_PORT": 25000,
    "REDIS_HOST_PORT": 26379,
    "API_HOST_PORT": 28000,
    "APP_HOST_PORT": 28501,
    "WATCHER_HOST_PORT": 28080,
}
FIGURES = ROOT / "reports" / "bench" / "containers.json"
OFFLINE_TRAIN = ROOT.parent / "shared" / "data" / "credit-score-classification" / "train.csv"
TARGET_ADDED_MB = {"api": 450, "jobs": 1000}
ENV = {
    **os.environ,
    "CONTAINERS_CONF": str(ROOT / "docker" / "podman" / "containers.conf"),
    "COMPOSE_PROJECT_NAME": PROJECT,
    **{k: str(v) for k, v in PORTS.items()},
}


def figures(**values) -> None:
    "Merge `values` into reports/bench/containers.json."
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    FIGURES.write_text(json.dumps({**old, **values}, indent=2) + "\n")


def sh(*args, timeout=1800, check=True) -> subprocess.CompletedProcess:
    r = subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def podman(*args, **kw) -> subprocess.CompletedProcess:
    return sh("podman", *args, **kw)


def container(service: str) -> str:
    "The name of the compose service's container in this project."
    out = podman(
        "ps",
        "-a",
        "--filter",
        f"label=io.podman.compose.project={PROJECT}",
        "--filter",
        f"label=com.docker.compose.service={service}",
        "--format",
        "{{.Names}}",
    ).stdout.split()
    assert out, f"no container for service {service}"
    return out[0]


@pytest.fixture(scope="module")
def dotenv() -> dict:
    assert (ROOT / ".env").exists(), "no .env: run make setup"
    return dotenv_values(ROOT / ".env")


@pytest.fixture(scope="module")
def built():
    "Base images (stand-ins where no registry answers) and the four project images; their sizes."
    if shutil.which("podman") is None:
        pytest.fail(
            "podman is not installed: run `make setup` (apt-get install podman runc uidmap mmdebstrap "
            "golang-github-containernetworking-plugin-dnsname)"
        )
    t0 = time.monotonic()
    sh("bash", "scripts/containers.sh", "build")
    lines = sh("bash", "scripts/containers.sh", "sizes").stdout.splitlines()
    sizes = {
        l.split()[0].removeprefix("credit-score-").removesuffix(":local"): {
            "size_mb": int(l.split()[1]),
            "added_mb": int(l.split()[2]),
        }
        for l in lines
        if l.startswith("credit-score-")
    }
    figures(build_seconds=round(time.monotonic() - t0), images=sizes)
    return sizes


@pytest.fixture(scope="module")
def stack(built, dotenv):
    "The compose stack, up and healthy; taken down with its volumes afterwards."
    sh("bash", "scripts/containers.sh", "down", "--volumes", check=False)
    up = sh("bash", "scripts/containers.sh", "up", timeout=900).stdout
    healthy_in = re.search(r"compose stack healthy in (\d+)s", up)
    assert healthy_in, up
    figures(compose_up_seconds=int(healthy_in[1]))
    try:
        yield {
            "api": f"http://127.0.0.1:{PORTS['API_HOST_PORT']}",
            "s3": f"http://127.0.0.1:{PORTS['S3_HOST_PORT']}",
            "key": dotenv["API_KEY"],
            "network": f"{PROJECT}_default",
        }
    finally:
        for service in ("api", "watcher"):  # what went wrong is in these logs; keep them with the test run
            r = podman("logs", "--tail", "40", container(service), check=False)
            print(f"--- {service} log tail ---\n{r.stdout}{r.stderr}")
        sh("bash", "scripts/containers.sh", "down", "--volumes", check=False)


def test_images_build_and_stay_small(built):
    for name, target in TARGET_ADDED_MB.items():
        assert built[name]["added_mb"] <= target, f"{name} image adds {built[name]['added_mb']} MB to its base (target {target})"
    assert built["mlflow"]["added_mb"] < built["jobs"]["added_mb"], "the MLflow image should be the smaller choice"


def test_compose_stack_is_healthy_on_loopback_only(stack):
    rows = json.loads(podman("ps", "-a", "--filter", f"label=io.podman.compose.project={PROJECT}", "--format", "json").stdout)
    services = {r["Labels"]["com.docker.compose.service"]: r for r in rows}
    assert {"s3", "bucket-init", "redis", "mlflow", "api", "app", "watcher"} <= services.keys()
    for name, r in services.items():
        state = r.get("Status") or r.get("State")
        assert "healthy" in state or ("Exited (0)" in state and name == "bucket-init"), f"{name}: {state}"
        for port in r.get("Ports") or []:
            assert port["host_ip"] == "127.0.0.1", f"{name} publishes {port} beyond loopback"
    assert httpx.get(stack["api"] + "/health", timeout=5).status_code == 200


def test_app_key_from_env_is_accepted_by_the_api(stack):
    "The key `make setup` wrote to .env for the app (API_KEY) is one the API container accepts."
    example = httpx.get(stack["api"] + "/openapi.json", timeout=10).json()
    assert httpx.get(stack["api"] + "/model", timeout=10).status_code == 401, "no key must be refused"
    r = httpx.get(stack["api"] + "/model", headers={"X-API-Key": stack["key"]}, timeout=10)
    assert r.status_code in (200, 503), f"the app's key was refused: {r.status_code} {r.text}"
    assert "/predict" in example["paths"]


def test_watcher_is_reachable_from_the_network_and_keeps_state_on_a_volume(stack):
    probe = (
        "import urllib.request, urllib.error\n"
        "req = urllib.request.Request('http://watcher:8080/events', data=b'{}', method='POST')\n"
        "try: urllib.request.urlopen(req, timeout=5); print(200)\n"
        "except urllib.error.HTTPError as e: print(e.code)\n"
    )
    r = podman("exec", container("api"), "python", "-c", probe)
    assert r.stdout.strip() == "401", f"POST /events from another container: {r.stdout} {r.stderr}"
    mounts = json.loads(podman("inspect", container("watcher")).stdout)[0]["Mounts"]
    assert any(m["Destination"] == "/var/lib/credit-score" and m["Type"] == "volume" for m in mounts), mounts


def job_step(stack, dotenv, log: list):
    "ecs:runTask.sync, locally: a fresh jobs container with the step's command and environment overrides."

    def run(params: dict, timeout: int | None):
        override = params["Overrides"]["ContainerOverrides"][0]
        env = {
            "S3_ENDPOINT_URL": "http://s3:8333",
            "MLFLOW_TRACKING_URI": "http://mlflow:5000",
            "APP_ENV": "production",
            "S3_BUCKET": dotenv.get("S3_BUCKET", "credit-score"),
            **{e["Name"]: e["Value"] for e in override.get("Environment", [])},
        }
        args = [
            "run",
            "--rm",
            "--network",
            stack["network"],
            "--env-file",
            str(ROOT / ".env"),
            *[f"--env={k}={v}" for k, v in env.items()],
            "credit-score-jobs:local",
            *override["Command"],
        ]
        t0 = time.monotonic()
        r = podman(*args, timeout=timeout, check=False)
        log.append({"command": override["Command"], "seconds": round(time.monotonic() - t0, 1), "exit": r.returncode})
        if r.returncode != 0:
            raise asl_local.TaskFailed("States.TaskFailed", f"exit {r.returncode}: {(r.stdout + r.stderr)[-3000:]}")

    return run


def redeploy_api(stack):
    "aws-sdk:ecs:updateService with ForceNewDeployment, locally: restart the API container, wait until healthy."

    def run(params: dict, timeout: int | None):
        podman("restart", container("api"))
        deadline = time.monotonic() + (timeout or 60)
        while time.monotonic() < deadline:
            try:
                if httpx.get(stack["api"] + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise asl_local.TaskFailed("States.Timeout", "the API did not come back")

    return run


def test_upload_runs_the_cloud_pipeline_one_container_per_step(stack, dotenv):
    "An upload under raw/incoming/ goes through the state machine, each job step a fresh container; the API serves the result."
    assert OFFLINE_TRAIN.exists(), f"{OFFLINE_TRAIN} missing: the offline data ships in ../shared"
    definition = json.loads((ROOT / "deploy" / "aws" / "pipeline.asl.json").read_text())
    bucket = dotenv.get("S3_BUCKET", "credit-score")
    s3 = boto3.client(
        "s3",
        endpoint_url=stack["s3"],
        aws_access_key_id=dotenv["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=dotenv["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    key = "raw/incoming/new customers.csv"  # a space: EventBridge delivers it percent-encoded
    t0 = time.monotonic()
    version = s3.put_object(Bucket=bucket, Key=key, Body=OFFLINE_TRAIN.read_bytes())["VersionId"]
    event = {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": bucket}, "object": {"key": urllib.parse.quote(key), "version-id": version}},
    }
    steps, messages = [], []
    tasks = {
        "arn:aws:states:::ecs:runTask.sync": job_step(stack, dotenv, steps),
        "arn:aws:states:::aws-sdk:ecs:updateService": redeploy_api(stack),
        "arn:aws:states:::sns:publish": lambda params, timeout: messages.append(params["Message"]),
    }
    ex = asl_local.run(definition, event, tasks, name=f"ci-{int(time.time())}")
    assert ex.status == "SUCCEEDED", f"{ex.visited}: {messages}"
    # Every job state of the definition ran, in its order, each in its own container.
    job_states = [n for n, s in definition["States"].items() if s.get("Resource", "").endswith("ecs:runTask.sync")]
    assert [n for n in ex.visited if n in job_states] == job_states and len(steps) == len(job_states)
    assert [s["command"] for s in steps] == [
        definition["States"][n]["Parameters"]["Overrides"]["ContainerOverrides"][0]["Command"] for n in job_states
    ]
    # The gate's decision, as the Register step left it in the run's state (the audit trail of the run).
    run_prefix = ex.output["run"]["state_uri"].split(f"s3://{bucket}/", 1)[1]
    decision = json.loads(s3.get_object(Bucket=bucket, Key=run_prefix + "reports/register.json")["Body"].read())
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=run_prefix + "reports/train_run.json")["Body"].read())
    assert decision["candidate"]["run_id"] == manifest["run_id"], "Register judged the run that Train recorded"
    served = httpx.get(stack["api"] + "/model", headers={"X-API-Key": stack["key"]}, timeout=10).json()
    seconds = round(time.monotonic() - t0, 1)
    figures(upload_to_served_seconds=seconds, steps=steps, decision=decision["decision"])
    assert str(served.get("version")) == str(decision["champion_after"]), (served, decision)
    pointer = json.loads(s3.get_object(Bucket=bucket, Key="models/champion/champion.json")["Body"].read())
    assert pointer["version"] == decision["champion_after"], (
        "the bucket's champion pointer (read by the cloud API) follows the gate"
    )
    if decision["decision"] == "kept":
        assert decision["reason"], "a refusal names its reason"


def test_devcontainer_builds_and_runs_the_setup_script(built, tmp_path):
    "The dev container builds on the same base and the README's set-up script succeeds in it, on a fresh clone."
    conf = json.loads((ROOT / ".devcontainer" / "devcontainer.json").read_text())
    assert conf["postCreateCommand"] == "bash scripts/setup.sh"
    context = (ROOT / ".devcontainer" / conf["build"]["context"]).resolve()
    podman(
        "build",
        "-q",
        "--pull=never",
        "-f",
        str(ROOT / ".devcontainer" / conf["build"]["dockerfile"]),
        "-t",
        "credit-score-dev:local",
        str(context),
    )
    clone = tmp_path / "credit_score"
    sh("git", "clone", "-q", str(ROOT), str(clone))
    sh("chown", "-R", "1000:1000", str(clone))  # the dev user of the image owns the workspace
    t0 = time.monotonic()
    r = podman(
        "run",
        "--rm",
        "-v",
        f"{clone}:/workspaces/credit_score",
        "-w",
        "/workspaces/credit_score",
        "credit-score-dev:local",
        "bash",
        "-c",
        conf["postCreateCommand"] + " && .venv/bin/python -c 'import credit_score.core'",
        timeout=1200,
        check=False,
    )
    figures(devcontainer_setup_seconds=round(time.monotonic() - t0))
    assert r.returncode == 0, f"setup in the dev container failed:\n{(r.stdout + r.stderr)[-4000:]}"
    assert (clone / ".env").exists() and (clone / ".venv" / "bin" / "dvc").exists()
