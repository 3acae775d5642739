"""Serving benchmark: this API against `mlflow models serve`, BentoML and constant endpoints, measured in one run.

All traffic goes to 127.0.0.1. The services take turns under the same load, so drifts in the load of this shared
machine hit all alike, and every ratio is taken against a baseline measured in the same run:
- single-row POST, closed-loop keep-alive clients at concurrency 8: this API's /predict (class, probabilities and
  3 occlusion reasons: 23 rows through the model) and /predict?reasons=false (1 row); `mlflow models serve` of the
  same registered version; BentoML (scripts/bench_bentoml_service.py, in its own venv, serving the same pickle
  bytes: class and probabilities), plain and with adaptive batching; the constant answer behind this API's own key
  check, Redis-backed limiter and body limit (no model: the ceiling of any guarded endpoint); a bare constant
  FastAPI endpoint. One worker each; then as served: this API, mlflow and the constants with 2 workers, BentoML
  in its best configuration (1 worker, adaptive batching).
- batch: rows/s of POST /predict/batch against the bare model's predict on the same rows;
- cold start (spawn until /ready answers 200) and resident memory per worker.
Writes reports/bench/api.json and reports/bench/api.md (figures, ratios, targets met or missed).

Needs the local services (`make services-up`) and the champion registered in MLflow (`make run`). On first use it
creates BentoML's own venv with uv (--bentoml-venv; bentoml is never installed into .venv).
"""

import argparse
import asyncio
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
OUT = ROOT / "reports" / "bench"
COMMAND = "scripts/env.sh python scripts/bench_api.py"
BENTOML_VERSION = "1.4.40"
# what BentoML's venv pins to requirements.lock: the libraries the pickle names and credit_score's import chain needs
BENTOML_PINS = ("scikit-learn", "numpy", "pandas", "scipy", "threadpoolctl", "joblib", "pydantic-settings", "pyyaml")

# name: (what, ">=" or "<=", target, judged on: "both" set-ups, "served" (2 workers) only, or "once")
TARGETS = {
    "no_reasons_vs_bentoml": ("`/predict?reasons=false` ÷ BentoML adaptive batching", ">=", 3.0, "both"),
    "reasons_vs_bentoml": ("`/predict` with reasons ÷ BentoML adaptive batching", ">=", 2.0, "both"),
    "no_reasons_vs_guarded_constant": ("`/predict?reasons=false` ÷ guarded constant", ">=", 0.5, "both"),
    "p99_ms": ("p99 of `/predict` at concurrency 8, ms", "<=", 25.0, "served"),
    "ready_s": ("time to ready (spawn to `/ready` 200), s", "<=", 3.0, "once"),
    "rss_mb_per_worker": ("resident memory per worker, MB", "<=", 300.0, "once"),
    "throughput_vs_mlflow": ("`/predict` with reasons ÷ `mlflow models serve` (issue 4)", ">=", 3.0, "both"),
    "batch_vs_bare": ("`/predict/batch` rows/s ÷ bare `model.predict` (issue 4)", ">=", 0.5, "once"),
}
LABELS = {
    "api": "this API `POST /predict` (class, probabilities, 3 reasons: 23 rows through the model)",
    "api_no_reasons": "this API `POST /predict?reasons=false` (1 row through the model)",
    "bentoml_batched": "BentoML `POST /predict_batched`, adaptive batching (class, probabilities)",
    "bentoml": "BentoML `POST /predict`, plain: one model call per request",
    "mlflow": "`mlflow models serve` `POST /invocations` (class only; rows pre-cleaned to fit its signature)",
    "constant_guarded": "constant answer behind this API's key check, Redis limiter and body limit (no model)",
    "constant": "constant FastAPI endpoint, no guard (parses the body, fixed answer)",
}
CONSTANT = {
    "credit_score": "Standard",
    "probabilities": {"Good": 0.2, "Poor": 0.1, "Standard": 0.7},
    "model_version": "0",
    "reasons": [{"feature": "Delay_from_due_date", "value": "3", "contribution": 0.1}],
}


class Missing(RuntimeError):
    "Something the benchmark needs is not there; the message says what to do."


def constant_app():
    "The bare baseline: a FastAPI endpoint that parses the JSON body and answers a constant (uvicorn --factory)."
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/predict")
    async def predict(payload: dict) -> dict:
        return CONSTANT

    @app.get("/ready")
    async def ready() -> dict:
        return {"status": "ready"}

    return app


def guarded_constant_app():
    """The ceiling of any guarded endpoint: /predict's guard with no model behind it.

    The same pieces as credit_score.api.create_app: ApiSettings from the environment, the X-API-Key check (`api_key`),
    the slowapi limiter of `make_limiter` (Redis when REDIS_URL is set) at RATE_LIMIT, the body limit and the error
    handlers; the body is parsed as JSON, and the answer is a constant."""
    from fastapi import Depends, FastAPI, Request
    from credit_score.api import _handlers
    from credit_score.serving.routes import BodyLimit, api_key, make_limiter
    from credit_score.serving.settings import ApiSettings, parse_keys

    s = ApiSettings()
    limiter, app = make_limiter(s), FastAPI()
    app.state.limiter, app.state.keys, app.state.settings = limiter, parse_keys(s.api_keys), s
    _handlers(app, limiter)

    @app.post("/predict")
    @limiter.limit(s.rate_limit)
    async def predict(request: Request, payload: dict, name: str = Depends(api_key)) -> dict:
        return CONSTANT

    @app.get("/ready")
    async def ready() -> dict:
        return {"status": "ready"}

    app.add_middleware(BodyLimit, max_bytes=s.max_body_bytes)
    return app


# --- a small keep-alive HTTP/1.1 load generator ------------------------------------------------------


async def _request(reader, writer, raw: bytes) -> int:
    writer.write(raw)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


def _raw(port: int, path: str, body: bytes, headers: dict) -> bytes:
    hs = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{hs}\r\n"
    ).encode() + body


async def _load(port: int, path: str, bodies: list[bytes], headers: dict, concurrency: int, seconds: float, warmup: float):
    "Closed-loop load: `concurrency` connections, each sending the next body as soon as the last reply arrived."
    raws = [_raw(port, path, b, headers) for b in bodies]
    lat, codes, done, t_start = [], {}, [0], time.perf_counter()
    t_measure, t_end = t_start + warmup, t_start + warmup + seconds

    async def worker(w: int):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = w
        try:
            while True:
                t0 = time.perf_counter()
                if t0 >= t_end:
                    break
                try:
                    status = await _request(reader, writer, raws[i % len(raws)])
                except (ConnectionError, asyncio.IncompleteReadError):
                    status = 599
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                t1 = time.perf_counter()
                done[0] += 1
                if t0 >= t_measure:
                    lat.append(t1 - t0)
                    codes[status] = codes.get(status, 0) + 1
                i += concurrency
        finally:
            writer.close()

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return {"lat": lat, "codes": codes, "seconds": seconds, "all": done[0]}


def load(port, path, bodies, headers, concurrency, seconds, warmup=1.5) -> dict:
    return asyncio.run(_load(port, path, bodies, headers, concurrency, seconds, warmup))


def summary(runs: list[dict]) -> dict:
    "Throughput and latency percentiles over several load runs of one service."
    lat = sorted(x for r in runs for x in r["lat"])
    codes = {}
    for r in runs:
        for k, v in r["codes"].items():
            codes[str(k)] = codes.get(str(k), 0) + v
    n, secs = len(lat), sum(r["seconds"] for r in runs)
    pct = lambda q: round(lat[min(n - 1, int(q * n))] * 1000, 2) if n else None
    return {
        "requests": n,
        "errors": sum(v for k, v in codes.items() if k != "200"),
        "rps": round(n / secs, 1),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": round(lat[-1] * 1000, 2) if n else None,
        "status": dict(sorted(codes.items())),
        "rounds_rps": [round(len(r["lat"]) / r["seconds"], 1) for r in runs],
        # CPU the server's processes used per request (warm-up included): far less moved by the machine's other load
        "cpu_ms_per_request": round(1000 * sum(r["cpu_s"] for r in runs) / max(1, sum(r["all"] for r in runs)), 3)
        if all("cpu_s" in r for r in runs)
        else None,
    }


# --- processes -------------------------------------------------------------------------------------


def rss_mb(pid: int) -> dict:
    "Resident memory of a process and of each of its children (uvicorn workers), in MB."
    import psutil

    p = psutil.Process(pid)
    kids = [k for k in p.children(recursive=True) if "resource_tracker" not in " ".join(k.cmdline())]
    return {"parent": round(p.memory_info().rss / 2**20, 1), "workers": [round(k.memory_info().rss / 2**20, 1) for k in kids]}


def cpu_seconds(pid: int) -> float:
    "User + system CPU seconds of a process and its children so far."
    import psutil

    p = psutil.Process(pid)
    total = 0.0
    for q in [p, *p.children(recursive=True)]:
        try:
            t = q.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        cmd, cwd=ROOT, env={**os.environ, **env}, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True
    )


def uvicorn_cmd(app: str, port: int, workers: int = 1, app_dir: str | None = None) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    return cmd + (["--app-dir", app_dir] if app_dir else [])


ESSENTIALS = (
    "import numpy, pandas, sklearn.ensemble, sklearn.pipeline, sklearn.preprocessing, fastapi, uvicorn, slowapi, redis, httpx"
)


def import_floor(runs: int = 3) -> dict:
    "Seconds a fresh interpreter takes just to import what serving the pickled pipeline needs (the floor under ready)."
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", ESSENTIALS], check=True)
        times.append(time.perf_counter() - t0)
    return {
        "modules": ESSENTIALS.removeprefix("import "),
        "runs": [round(x, 2) for x in times],
        "median": round(statistics.median(times), 2),
    }


# --- the model and the rows ------------------------------------------------------------------------


# --- what the run needs: services, the champion, BentoML's venv ---------------------------------------


def lock_pins(lock_text: str, names: tuple) -> list[str]:
    "`name==version` of each of `names` as requirements.lock pins them (names compared case-insensitively)."
    pins = {}
    for line in lock_text.splitlines():
        name, sep, version = line.strip().partition("==")
        if sep and not line.startswith((" ", "#")):
            pins[name.lower()] = f"{name}=={version.split()[0]}"
    missing = [n for n in names if n.lower() not in pins]
    if missing:
        raise Missing(f"requirements.lock pins no {', '.join(missing)}: cannot match BentoML's venv to .venv")
    return [pins[n.lower()] for n in names]


def bentoml_venv(path: Path, version: str, log) -> Path:
    "BentoML's own venv at `path` (made with uv on first use, or when the wanted pins change): its `bentoml`."
    spec = [f"bentoml=={version}", *lock_pins((ROOT / "requirements.lock").read_text(), BENTOML_PINS)]
    marker, exe = path / "bench-spec.txt", path / "bin" / "bentoml"
    wanted = "\n".join([*spec, f"-e {ROOT}"]) + "\n"
    if exe.exists() and marker.exists() and marker.read_text() == wanted:
        return exe
    uv = shutil.which("uv")
    if uv is None:
        raise Missing("uv is not on PATH: the benchmark creates BentoML's own venv with it (install uv, e.g. `pip install uv`)")
    log(f"creating BentoML's venv {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {' '.join(spec)}")
    py = path / "bin" / "python"
    steps = [
        [uv, "venv", "--quiet", "--clear", "--python", f"{sys.version_info.major}.{sys.version_info.minor}", str(path)],
        [uv, "pip", "install", "--quiet", "--python", str(py), *spec],
        [uv, "pip", "install", "--quiet", "--python", str(py), "--no-deps", "-e", str(ROOT)],  # unpickles credit_score's classes
    ]
    for cmd in steps:
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            raise Missing(f"could not create BentoML's venv at {path} ({' '.join(cmd[1:3])}): {done.stderr.strip()[-600:]}")
    marker.write_text(wanted)
    return exe


def shown(url: str) -> str:
    "A URL without its user and password, fit for a message."
    scheme, sep, rest = url.partition("://")
    return scheme + sep + rest.rpartition("@")[2] if sep else url


def preflight(s, log) -> None:
    "MLflow and Redis answer (the guarded endpoints keep their counters in Redis): else a Missing naming the fix."
    import httpx

    try:
        httpx.get(f"{s.mlflow_tracking_uri.rstrip('/')}/health", timeout=5)
    except httpx.HTTPError:
        raise Missing(
            f"MLflow at {shown(s.mlflow_tracking_uri)} is not answering: start the local services with `make services-up`"
        )
    if not s.redis_url:
        raise Missing("REDIS_URL is empty: the limiter under test keeps its counters in Redis (set it in .env, see .env.example)")
    import redis

    try:
        redis.Redis.from_url(s.redis_url, socket_timeout=3).ping()
    except redis.RedisError:
        raise Missing(f"Redis at {shown(s.redis_url)} is not answering: start the local services with `make services-up`")
    log(f"MLflow at {shown(s.mlflow_tracking_uri)} and Redis at {shown(s.redis_url)} answer")


def pick_model(tracking_uri: str, model_name: str, stand_in: bool, log) -> tuple[str, str]:
    "The registered model to serve: MODEL_NAME@champion; with `stand_in`, the contract stand-in if there is no champion."
    from credit_score.registry import NotFound, Registry

    def has_champion(name: str) -> bool:
        try:
            return bool(Registry(tracking_uri, name, timeout=5).alias("champion"))
        except NotFound:
            return False

    if has_champion(model_name):
        return model_name, "the registered champion"
    if not stand_in:
        raise Missing(
            f"no champion registered: MLflow at {tracking_uri} has no `{model_name}@champion`. Run `make run` first "
            "(or pass --stand-in to benchmark the contract stand-in, registered as credit-score-bench)"
        )
    kind = "stand-in (preprocess.build_features + HistGradientBoosting on synthetic rows)"
    if has_champion("credit-score-bench"):
        return "credit-score-bench", kind
    from synthetic_model import build_pipeline, register

    log("no champion registered: registering the contract stand-in as credit-score-bench (--stand-in)")
    register(build_pipeline(), "credit-score-bench", tracking_uri)
    return "credit-score-bench", kind


def redis_hits(url: str, prefix: str, delete: bool = False) -> dict:
    "The limiter's counters under `prefix` in Redis: {key: hits} (removed afterwards with `delete`)."
    import redis

    r = redis.Redis.from_url(url, socket_timeout=5)
    keys = list(r.scan_iter(match=f"{prefix}*", count=1000))
    hits = {}
    for k in keys:
        try:
            hits[k.decode()] = int(r.get(k) or 0)
        except (ValueError, redis.ResponseError):
            pass
    if delete and keys:
        r.delete(*keys)
    return hits


def bentoml_cmd(exe: Path, port: int) -> list[str]:
    return [str(exe), "serve", "bench_bentoml_service:CreditScore", "--working-dir", str(ROOT / "scripts")] + [
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def sample_rows(n: int) -> tuple[list[dict], str]:
    "Raw rows as the Kaggle CSV has them: data/raw/test.csv, else the offline copy, else synthetic."
    import pandas as pd
    from credit_score.contract import FEATURE_COLUMNS

    for path in (ROOT / "data/raw/test.csv", ROOT / "../shared/data/credit-score-classification/test.csv"):
        if path.exists():
            df = pd.read_csv(path, dtype=str, keep_default_na=False, nrows=5 * n)
            return df[list(FEATURE_COLUMNS)].sample(n, random_state=0).to_dict("records"), str(
                path.resolve().relative_to(ROOT.parent)
            )
    from synthetic_model import make_rows

    return make_rows(n, seed=7)[0].to_dict("records"), "synthetic rows"


def start_baselines(
    names: tuple, workers: int, model_name: str, version: str, env: dict, tmp: Path, procs: list, bento: tuple = ()
) -> dict:
    """Start the named baselines with `workers` workers each and wait until they answer: name -> (process, port, seconds to answer).

    `bento` is (bentoml executable, its environment) when "bentoml" is among the names (BentoML's workers are its own: 1)."""
    import httpx
    from api_helpers import free_port

    commands = {
        "mlflow": lambda port: (
            [
                sys.executable,
                "-m",
                "mlflow",
                "models",
                "serve",
                "-m",
                f"models:/{model_name}/{version}",
                "--env-manager",
                "local",
                "-p",
                str(port),
                "-h",
                "127.0.0.1",
                "-w",
                str(workers),
            ],
            {"PYTHONPATH": str(ROOT / "tests"), "OMP_NUM_THREADS": "1"},
        ),
        "constant": lambda port: (
            uvicorn_cmd("bench_api:constant_app", port, workers=workers, app_dir=str(ROOT / "scripts")),
            {},
        ),
        "constant_guarded": lambda port: (
            uvicorn_cmd("bench_api:guarded_constant_app", port, workers=workers, app_dir=str(ROOT / "scripts")),
            env,
        ),
        "bentoml": lambda port: (bentoml_cmd(bento[0], port), bento[1]),
    }
    t0, started = time.perf_counter(), {}
    for name in names:
        port = free_port()
        cmd, extra = commands[name](port)
        started[name] = (start(cmd, extra, tmp / f"{name}-{workers}.log"), port)
        procs.append(started[name][0])
    answered, paths = {}, {"mlflow": "/ping", "bentoml": "/readyz"}
    with httpx.Client(timeout=1) as client:  # all start together and are polled in turn: each one's time is its own
        while len(answered) < len(started):
            for name, (proc, port) in started.items():
                if name in answered:
                    continue
                log = tmp / f"{name}-{workers}.log"
                if proc.poll() is not None:
                    raise Missing(f"{name} exited with {proc.returncode} before answering; its log: {log}")
                if time.perf_counter() - t0 > 180:
                    raise Missing(f"{name} did not answer within 180 s; its log: {log}")
                try:
                    if client.get(f"http://127.0.0.1:{port}{paths.get(name, '/ready')}").status_code == 200:
                        answered[name] = (proc, port, round(time.perf_counter() - t0, 2))
                except httpx.HTTPError:
                    pass
            time.sleep(0.02)
    return answered


def take_turns(services: dict, rounds: int, seconds: float, concurrency: int, log, pids: dict | None = None) -> dict:
    """Load each service for `seconds` in all, split over `rounds` in which they take turns (drifts in the machine's load hit all alike).

    `pids`: service -> its server's process, whose CPU time (children included) is counted during the service's turns."""
    runs, per_round, pids = {k: [] for k in services}, seconds / rounds, pids or {}
    for i in range(rounds):
        for name in list(services)[i % len(services) :] + list(services)[: i % len(services)]:
            cpu0 = cpu_seconds(pids[name]) if name in pids else None
            runs[name].append(load(*services[name], concurrency, per_round, warmup=1.5 if i == 0 else 0.5))
            if cpu0 is not None:
                runs[name][-1]["cpu_s"] = cpu_seconds(pids[name]) - cpu0
        log("round " + str(i + 1) + ": " + ", ".join(f"{k} {len(v[-1]['lat']) / per_round:.0f} req/s" for k, v in runs.items()))
    return {name: summary(r) for name, r in runs.items()}


# --- the run -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="bench_api.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"Run it as: {COMMAND}  (make bench runs it after the other benchmarks). About 8 minutes with the defaults.",
    )
    ap.add_argument(
        "--seconds", type=float, default=18, help="measured seconds per service and set-up, split over the rounds (18)"
    )
    ap.add_argument(
        "--rounds", type=int, default=6, help="the services take turns this many times (6: short turns follow the load's drifts)"
    )
    ap.add_argument("--concurrency", type=int, default=8, help="closed-loop connections per load run (8)")
    ap.add_argument("--batch-rows", type=int, default=1000, help="rows per /predict/batch call (1000)")
    ap.add_argument(
        "--bentoml-venv",
        type=Path,
        default=ROOT / ".cache" / "bench" / "bentoml-venv",
        help="BentoML's own venv, created with uv when missing (.cache/bench/bentoml-venv)",
    )
    ap.add_argument("--bentoml-version", default=BENTOML_VERSION, help=f"({BENTOML_VERSION})")
    ap.add_argument("--max-batch-size", type=int, default=32, help="BentoML adaptive batching: rows per model call (32)")
    ap.add_argument(
        "--max-latency-ms", type=int, default=100, help="BentoML adaptive batching: latency budget before it sheds with 503 (100)"
    )
    ap.add_argument("--stand-in", action="store_true", help="no champion registered: benchmark the contract stand-in instead")
    ap.add_argument("--render-only", action="store_true", help="measure nothing: rewrite api.md from the last api.json")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    log = lambda m: print(f"[bench {time.strftime('%H:%M:%S')}] {m}", flush=True)
    if args.render_only:
        if not (OUT / "api.json").exists():
            print(f"bench_api: no {(OUT / 'api.json').relative_to(ROOT)} yet: run the benchmark first", file=sys.stderr)
            return 2
        (OUT / "api.md").write_text(report_md(json.loads((OUT / "api.json").read_text())))
        log(f"rewrote {(OUT / 'api.md').relative_to(ROOT)} from api.json")
        return 0
    try:
        results = run(args, log, sys.argv[1:] if argv is None else argv)
    except Missing as e:
        print(f"bench_api: {e}", file=sys.stderr)
        return 2
    (OUT / "api.json").write_text(json.dumps(results, indent=2) + "\n")
    (OUT / "api.md").write_text(report_md(results))
    print((OUT / "api.md").read_text())
    log(f"wrote {(OUT / 'api.json').relative_to(ROOT)} and {(OUT / 'api.md').relative_to(ROOT)}")
    return 0


def run(args: argparse.Namespace, log, argv: list[str]) -> dict:
    import httpx
    from threadpoolctl import threadpool_limits
    from api_helpers import free_port, stop, wait_ready
    from credit_score.serving.predict import frame
    from credit_score.serving.schema import raw_row
    from credit_score.serving.settings import ApiSettings, new_key
    from credit_score.serving.state import download_model_file
    from credit_score.modelfile import unpickle

    s = ApiSettings()
    preflight(s, log)
    model_name, model_kind = pick_model(s.mlflow_tracking_uri, s.model_name, args.stand_in, log)
    bento_exe = bentoml_venv(args.bentoml_venv.resolve(), args.bentoml_version, log)
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-api-"))
    rows, rows_from = sample_rows(max(args.batch_rows, 200))
    key, entry = new_key("bench")
    prefix = f"bench-{os.getpid()}-{int(time.time())}"
    env = {
        "API_KEYS": entry,
        "MODEL_NAME": model_name,
        "MODEL_SOURCE": "mlflow",
        # never 429, but every request still counts itself in Redis; a day's window keeps the counts for the check below
        "RATE_LIMIT": f"{10**9}/day",
        "BATCH_RATE_LIMIT": f"{10**9}/day",
        "RATE_LIMIT_PREFIX": prefix,
        "MODEL_POLL_SECONDS": "0",  # the version loaded at start all run long, whatever moves the alias meanwhile
        "MAX_BATCH_ROWS": str(args.batch_rows),
        "MAX_BODY_BYTES": str(50_000_000),
        "PYTHONPATH": str(ROOT / "tests"),
    }
    single = [json.dumps(r).encode() for r in rows[:200]]
    auth = {"X-API-Key": key, "Content-Type": "application/json"}
    results = {
        "command": " ".join([COMMAND, *argv]),
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": model_name,
        "model_kind": model_kind,
        "rows_from": rows_from,
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        },
        "redis_limits": True,
        "bentoml": {
            "version": args.bentoml_version,
            "workers": 1,
            "max_batch_size": args.max_batch_size,
            "max_latency_ms": args.max_latency_ms,
            "service": "scripts/bench_bentoml_service.py",
        },
    }
    procs = []
    try:
        log("[1/6] cold start: this API, 1 worker, spawn to /ready 200, 3 times")
        readies = []
        for i in range(3):
            if procs:
                stop(procs[-1])
            port, t0 = free_port(), time.perf_counter()
            api = start(uvicorn_cmd("credit_score.api:create_app", port), env, tmp / f"api{i}.log")
            procs.append(api)
            try:
                wait_ready(f"http://127.0.0.1:{port}", timeout=120, proc=api)
            except (RuntimeError, TimeoutError) as e:
                raise Missing(f"this API did not get ready ({e}); its log: {tmp / f'api{i}.log'}") from None
            readies.append(time.perf_counter() - t0)
        results["ready_s"] = {"runs": [round(x, 2) for x in readies], "median": round(statistics.median(readies), 2)}
        results["import_floor_s"] = import_floor()
        log(f"api ready in {results['ready_s']['runs']} s (import floor {results['import_floor_s']['median']} s)")
        api_url = f"http://127.0.0.1:{port}"
        version = httpx.get(f"{api_url}/ready").json()["model_version"]
        served_sha = httpx.get(f"{api_url}/model", headers=auth).json().get("sha256")
        results["model_version"] = version
        results["rows_refused_422"] = sum(
            httpx.post(f"{api_url}/predict", content=b, headers=auth).status_code != 200 for b in single
        )

        # BentoML serves the very bytes this API verified and loaded
        blob = download_model_file(ApiSettings(model_name=model_name), version)
        sha = hashlib.sha256(blob).hexdigest()
        if served_sha and sha != served_sha:
            raise Missing(f"the downloaded model.pkl (sha256 {sha[:12]}) is not the one the API serves ({served_sha[:12]})")
        (tmp / "model.pkl").write_bytes(blob)
        results["model_sha256"] = sha
        bento_env = {
            "BENCH_MODEL_PKL": str(tmp / "model.pkl"),
            "BENCH_MODEL_SHA256": sha,
            "BENCH_MAX_BATCH_SIZE": str(args.max_batch_size),
            "BENCH_MAX_LATENCY_MS": str(args.max_latency_ms),
            "BENTOML_HOME": str(args.bentoml_venv.resolve().parent / "bentoml-home"),
            "BENTOML_DO_NOT_TRACK": "true",
            "OMP_NUM_THREADS": "1",
        }

        log("[2/6] starting the baselines: mlflow models serve, BentoML, the constant endpoints (1 worker each)")
        names = ("mlflow", "bentoml", "constant", "constant_guarded")
        base = start_baselines(names, 1, model_name, version, env, tmp, procs, bento=(bento_exe, bento_env))
        results["mlflow_ready_s"], results["bentoml"]["ready_s"] = base["mlflow"][2], base["bentoml"][2]
        bento = base.pop("bentoml")
        log(f"ready after {', '.join(f'{k} {v[2]} s' for k, v in {**base, 'bentoml': bento}.items())}")
        # mlflow serve enforces the model's signature (numbers as float64), so it gets the rows already cleaned
        import pandas as pd
        from credit_score.preprocess import clean_raw

        cleaned = clean_raw(pd.DataFrame(rows[:200]))
        ml_rows = cleaned.astype(object).where(cleaned.notna(), None).to_dict("records")
        ml_bodies = [json.dumps({"dataframe_records": [r]}).encode() for r in ml_rows]
        r = httpx.post(
            f"http://127.0.0.1:{base['mlflow'][1]}/invocations",
            content=ml_bodies[0],
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
        if r.status_code != 200:
            raise Missing(f"mlflow models serve refused a row: {r.status_code} {r.text[:300]}")
        bento_url = f"http://127.0.0.1:{bento[1]}"
        results["bentoml"]["same_answers"] = same_answers(api_url, bento_url, single[:20], auth)
        log(f"BentoML and this API agree on {results['bentoml']['same_answers']} rows (class and probabilities)")

        def service(name: str, port: int) -> tuple:
            "What `load` needs for one service: port, path, bodies, headers."
            if name == "mlflow":
                return port, "/invocations", ml_bodies, {}
            if name == "bentoml_batched":
                return port, "/predict_batched", [b"[" + b + b"]" for b in single], {}
            if name == "api_no_reasons":
                return port, "/predict?reasons=false", single, {"X-API-Key": key}
            return port, "/predict", single, ({"X-API-Key": key} if name in ("api", "constant_guarded") else {})

        log(
            f"[3/6] single-row load, 1 worker each, concurrency {args.concurrency}, {args.seconds} s each in {args.rounds} rounds"
        )
        ports = {"api": port, "api_no_reasons": port, "bentoml": bento[1], "bentoml_batched": bento[1]}
        ports.update({k: v[1] for k, v in base.items()})
        services = {name: service(name, ports[name]) for name in LABELS}
        pids = {"api": api.pid, "api_no_reasons": api.pid, "bentoml": bento[0].pid, "bentoml_batched": bento[0].pid}
        pids.update({k: v[0].pid for k, v in base.items()})
        results["one_worker"] = take_turns(services, args.rounds, args.seconds, args.concurrency, log, pids)
        results["api_rss_mb"] = rss_mb(api.pid)
        results["mlflow_rss_mb"] = rss_mb(base["mlflow"][0].pid)
        results["bentoml"]["rss_mb"] = rss_mb(bento[0].pid)
        for proc, _, _ in base.values():
            stop(proc)

        log(f"[4/6] batch: {args.batch_rows} rows through /predict/batch against the bare model, taking turns")
        batch_body = json.dumps(rows[: args.batch_rows]).encode()
        model = unpickle(blob)  # old versions name credit_score.train's classifier: mapped to credit_score.model
        X_rows = rows[: args.batch_rows]
        api_t, bare_t = [], {"default": [], "1": []}
        with httpx.Client(timeout=120) as c:
            c.post(f"{api_url}/predict/batch", content=batch_body, headers=auth)
            for i in range(args.rounds + 2):
                t = time.perf_counter()
                r = c.post(f"{api_url}/predict/batch", content=batch_body, headers=auth)
                api_t.append(time.perf_counter() - t)
                if r.status_code != 200 or r.json()["rows"] != args.batch_rows:
                    raise Missing(f"/predict/batch refused the rows: {r.status_code} {r.text[:300]}")
                for threads in ("default", "1"):  # the bare model at its best: default threads or one
                    with threadpool_limits(None if threads == "default" else 1):
                        t = time.perf_counter()
                        model.predict(frame([raw_row(x) for x in X_rows]))
                        bare_t[threads].append(time.perf_counter() - t)
        best = min(bare_t, key=lambda k: statistics.median(bare_t[k]))
        rps = lambda ts: round(args.batch_rows / statistics.median(ts), 1)
        results["batch"] = {
            "rows": args.batch_rows,
            "api_rows_per_s": rps(api_t),
            "bare_model_rows_per_s": rps(bare_t[best]),
            "bare_model_threads": best,
            "bare_by_threads": {k: rps(v) for k, v in bare_t.items()},
        }
        log(
            f"batch: this API {results['batch']['api_rows_per_s']} rows/s, bare model {results['batch']['bare_model_rows_per_s']}"
        )
        del model
        stop(api)

        log("[5/6] as served: this API, mlflow and the constants with 2 workers; BentoML at its best (1 worker, batching)")
        port2 = free_port()
        p = start(uvicorn_cmd("credit_score.api:create_app", port2, workers=2), env, tmp / "api2.log")
        procs.append(p)
        base2 = start_baselines(("mlflow", "constant", "constant_guarded"), 2, model_name, version, env, tmp, procs)
        try:
            wait_ready(f"http://127.0.0.1:{port2}", timeout=120, proc=p)
        except (RuntimeError, TimeoutError) as e:
            raise Missing(f"this API with 2 workers did not get ready ({e}); its log: {tmp / 'api2.log'}") from None
        time.sleep(4)  # both API workers have loaded the model
        if httpx.get(f"http://127.0.0.1:{port2}/model", headers=auth).json().get("sha256") != sha:
            raise Missing(f"the champion changed during the run (no longer sha256 {sha[:12]}): run the benchmark again")
        ports2 = {"api": port2, "api_no_reasons": port2, "bentoml_batched": bento[1], **{k: v[1] for k, v in base2.items()}}
        served = {name: service(name, ports2[name]) for name in LABELS if name in ports2}
        pids2 = {
            "api": p.pid,
            "api_no_reasons": p.pid,
            "bentoml_batched": bento[0].pid,
            **{k: v[0].pid for k, v in base2.items()},
        }
        results["two_workers"] = take_turns(served, args.rounds, args.seconds, args.concurrency, log, pids2)
        results["api_2_workers_rss_mb"] = rss_mb(p.pid)
        for proc in [p, bento[0], *(b[0] for b in base2.values())]:
            stop(proc)
    except BaseException:
        redis_hits(s.redis_url, prefix, delete=True)  # a failed run leaves no counters behind (its logs stay in tmp)
        raise
    finally:
        for p in procs:
            stop(p)

    log("[6/6] the limiter's Redis counters, the figures and the targets")
    hits = redis_hits(s.redis_url, prefix, delete=True)
    guarded = sum(
        r[k]["requests"]
        for r in (results["one_worker"], results["two_workers"])
        for k in ("api", "api_no_reasons", "constant_guarded")
    )
    statuses = [x["status"] for r in (results["one_worker"], results["two_workers"]) for x in r.values()]
    predict_hits = sum(v for k, v in hits.items() if re.search(r"/predict/\d+/", k))  # /predict's counter (not /model, /batch)
    results["limiter"] = {
        "redis_hits": predict_hits,
        "guarded_requests_measured": guarded,
        "every_request_counted_in_redis": predict_hits >= guarded,
        "answered_429": sum(st.get("429", 0) for st in statuses),
        "counters": hits,
    }
    results["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    api_w = results["api_2_workers_rss_mb"]["workers"] or [results["api_rss_mb"]["parent"]]
    once = {
        "batch_vs_bare": round(results["batch"]["api_rows_per_s"] / results["batch"]["bare_model_rows_per_s"], 3),
        "ready_s": results["ready_s"]["median"],
        "rss_mb_per_worker": max(api_w + [results["api_rss_mb"]["parent"]]),
    }
    results["figures_one_worker"] = setup_figures(results["one_worker"])
    results["figures_two_workers"] = setup_figures(results["two_workers"])
    results["figures_once"] = once
    results["targets"] = judge(results["figures_one_worker"], results["figures_two_workers"], once)
    shutil.rmtree(tmp, ignore_errors=True)  # the servers' logs and the model copy: kept only when a run fails
    return results


def same_answers(api_url: str, bento_url: str, bodies: list[bytes], auth: dict) -> str:
    "On how many rows BentoML (plain and batched) answers this API's class and probabilities: 'n/N'."
    import httpx

    same = 0
    with httpx.Client(timeout=30) as c:
        for b in bodies:
            a = c.post(f"{api_url}/predict?reasons=false", content=b, headers=auth).json()
            p = c.post(f"{bento_url}/predict", content=b, headers={"Content-Type": "application/json"}).json()
            q = c.post(
                f"{bento_url}/predict_batched", content=b"[" + b + b"]", headers={"Content-Type": "application/json"}
            ).json()
            want = (a.get("credit_score"), a.get("probabilities"))
            same += (
                want == (p.get("credit_score"), p.get("probabilities")) == (q[0].get("credit_score"), q[0].get("probabilities"))
            )
    return f"{same}/{len(bodies)}"


# --- figures, targets, report (pure) -------------------------------------------------------------------


def ratio(a: float | None, b: float | None) -> float | None:
    "a ÷ b, rounded; None when either is missing or b is 0."
    return round(a / b, 3) if a is not None and b else None


def setup_figures(r: dict) -> dict:
    "The single-row figures of one set-up (a take_turns result): throughput ratios against the same run's baselines, p99s."
    rps = lambda k: r[k]["rps"] if k in r else None
    p99 = lambda k: r[k]["p99_ms"] if k in r else None
    cpu = lambda k: r[k].get("cpu_ms_per_request") if k in r else None
    rounds = lambda a, b: [ratio(x, y) for x, y in zip(r[a]["rounds_rps"], r[b]["rounds_rps"])] if a in r and b in r else []
    return {
        "no_reasons_vs_bentoml": ratio(rps("api_no_reasons"), rps("bentoml_batched")),
        "reasons_vs_bentoml": ratio(rps("api"), rps("bentoml_batched")),
        "no_reasons_vs_guarded_constant": ratio(rps("api_no_reasons"), rps("constant_guarded")),
        "throughput_vs_mlflow": ratio(rps("api"), rps("mlflow")),
        "p99_ms": p99("api"),
        # for information
        "p99_no_reasons_ms": p99("api_no_reasons"),
        "no_reasons_vs_bentoml_plain": ratio(rps("api_no_reasons"), rps("bentoml")),
        "reasons_vs_bentoml_plain": ratio(rps("api"), rps("bentoml")),
        "reasons_vs_no_reasons": ratio(rps("api"), rps("api_no_reasons")),
        "guarded_constant_vs_constant": ratio(rps("constant_guarded"), rps("constant")),
        "reasons_vs_constant": ratio(rps("api"), rps("constant")),
        "bentoml_batched_vs_plain": ratio(rps("bentoml_batched"), rps("bentoml")),
        # requests per server CPU-second against the same baselines (CPU is what the machine's other load moves least)
        "no_reasons_vs_bentoml_cpu": ratio(cpu("bentoml_batched"), cpu("api_no_reasons")),
        "reasons_vs_bentoml_cpu": ratio(cpu("bentoml_batched"), cpu("api")),
        "no_reasons_vs_guarded_constant_cpu": ratio(cpu("constant_guarded"), cpu("api_no_reasons")),
        "per_round": {
            "no_reasons_vs_bentoml": rounds("api_no_reasons", "bentoml_batched"),
            "reasons_vs_bentoml": rounds("api", "bentoml_batched"),
            "no_reasons_vs_guarded_constant": rounds("api_no_reasons", "constant_guarded"),
        },
    }


def met(op: str, target: float, x: float | None) -> bool | None:
    return None if x is None else (x >= target if op == ">=" else x <= target)


def judge(one: dict, served: dict, once: dict, targets: dict = TARGETS) -> dict:
    """Every target with what was measured and whether it was met (None: not measured).

    "both": judged on one worker each and as served, met only if met in both; "served": judged as served (2 API
    workers), the one-worker figure for information; "once": one figure for the run."""
    out = {}
    for name, (what, op, target, on) in targets.items():
        vals = {"once": once.get(name)} if on == "once" else {"one_worker": one.get(name), "served": served.get(name)}
        judged = {"once": ["once"], "served": ["served"], "both": ["one_worker", "served"]}[on]
        verdicts = {k: met(op, target, vals[k]) for k in judged}
        missed_on = [k for k, v in verdicts.items() if v is False]
        out[name] = {
            "what": what,
            "op": op,
            "target": target,
            "judged_on": on,
            **vals,
            "met": None if None in verdicts.values() else not missed_on,
            "missed_on": missed_on,
        }
    return out


def fmt(name: str, x: float | None) -> str:
    "A figure with its unit, from its name."
    if x is None:
        return "–"
    for end, unit in (("_ms", " ms"), ("_s", " s"), ("_mb_per_worker", " MB")):
        if name.endswith(end):
            return f"{x:g}{unit}"
    return f"{x:.2f}x"


def targets_md(targets: dict) -> list[str]:
    "The targets as a markdown table, then one plain sentence per missed target."
    where = {"one_worker": "with one worker each", "served": "as served", "once": ""}
    lines = [
        "| figure | target | 1 worker each | as served (this API 2 workers, BentoML 1) | verdict |",
        "|---|---|---|---|---|",
    ]
    missed = []
    for name, t in targets.items():
        goal = f"{'≥' if t['op'] == '>=' else '≤'} {fmt(name, t['target'])}"
        if t["judged_on"] == "once":
            cells = [fmt(name, t["once"]), "(one figure for the run)"]
        else:
            cells = [fmt(name, t["one_worker"]), fmt(name, t["served"])]
            if t["judged_on"] == "served":
                cells[0] += " (information)"
        verdict = "not measured" if t["met"] is None else "met" if t["met"] else f"**MISSED** ({', '.join(t['missed_on'])})"
        lines.append(f"| {t['what']} | {goal} | {cells[0]} | {cells[1]} | {verdict} |")
        if t["met"] is False:
            got = "; ".join(f"{fmt(name, t[k])} {where[k]}".strip() for k in t["missed_on"])
            missed.append(f"- Missed: {t['what']}: measured {got}, target {goal}.")
    return lines + [""] + (missed or ["All targets met."])


def service_rows(r: dict, workers: dict) -> list[str]:
    "The table of one set-up: a line per service."
    lines = [
        "| service | workers | req/s | per round | p50 ms | p99 ms | errors | status codes | server CPU ms/request |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, label in LABELS.items():
        if name in r:
            x = r[name]
            lines.append(
                f"| {label} | {workers.get(name, 1)} | {x['rps']} | {x['rounds_rps']} | {x['p50_ms']} | {x['p99_ms']} "
                f"| {x.get('errors', 0)} | {x['status']} | {x.get('cpu_ms_per_request')} |"
            )
    return lines


def contention(machine: dict) -> str | None:
    """A warning when other work competed for the CPUs: the 1-minute load average before the run above half the CPUs.

    (After the run the figure includes the benchmark's own load generator and servers, so it only goes into the text.)"""
    cpus, before = machine.get("cpus") or 1, machine.get("loadavg_before", [0])[0]
    if before <= cpus / 2:
        return None
    return (
        f"**Warning: the machine was busy with other work** (1-minute load average {before} before the run, on {cpus} CPUs; "
        f"{machine.get('loadavg_after', ['?'])[0]} after, the benchmark's own load included): every service got a share of "
        "the CPUs, absolute figures are low and the ratios swing from round to round (below). Treat these verdicts as "
        "provisional and run it again on a quiet machine."
    )


def report_md(r: dict) -> str:
    f1, f2, b, lim = r["figures_one_worker"], r["figures_two_workers"], r["bentoml"], r["limiter"]
    shed = sum(r[k].get("bentoml_batched", {}).get("status", {}).get("503", 0) for k in ("one_worker", "two_workers"))
    shed += r["one_worker"].get("bentoml", {}).get("status", {}).get("503", 0)
    two = {name: 2 for name in ("api", "api_no_reasons", "mlflow", "constant", "constant_guarded")}
    return "\n".join(
        [
            "# Serving benchmark: credit-score API, mlflow models serve, BentoML",
            "",
            f"Produced by `{r['command']}` at {r['started_at']} on {r['machine']['cpus']} CPUs (load average before "
            f"{r['machine']['loadavg_before']}, after {r['machine']['loadavg_after']}). The machine is shared and noisy: "
            "absolute figures move between runs, so the targets are ratios against baselines measured in the same run, "
            "the services taking turns.",
            "",
            *([warning, ""] if (warning := contention(r["machine"])) else []),
            f"Model: `models:/{r['model']}/{r['model_version']}` ({r['model_kind']}, sha256 `{r['model_sha256'][:16]}…`), "
            f"served by this API, by `mlflow models serve` and by BentoML from the same bytes; rows from `{r['rows_from']}` "
            f"({r['rows_refused_422']} of 200 sampled rows refused with 422). Closed-loop keep-alive clients at concurrency "
            f"{r['concurrency']}, {r['seconds']} s per service and set-up in {r['rounds']} rounds in which the services take turns.",
            "",
            f"BentoML {b['version']} in its own venv (`scripts/bench_bentoml_service.py`): 1 worker, async API methods "
            f"(the model runs on the event loop; one native thread), access log and metrics off; adaptive batching with "
            f"max_batch_size {b['max_batch_size']}, max_latency_ms {b['max_latency_ms']}. It answers class and probabilities, "
            f"the same as this API on {b['same_answers']} rows checked. Ready (`/readyz`) {b['ready_s']} s after spawn; "
            f"{shed} requests shed with 503.",
            "",
            f"The limiter: RATE_LIMIT set to 10^9/day so that it never answers 429 (answered: {lim['answered_429']}); Redis "
            f"counted {lim['redis_hits']} hits on `/predict` (this API's and the guarded constant's) against {lim['guarded_requests_measured']} measured requests to the guarded "
            f"endpoints (warm-ups and checks add to the hits): every request did its Redis round trip: "
            f"{lim['every_request_counted_in_redis']}.",
            "",
            "## Targets",
            "",
            *targets_md(r["targets"]),
            "",
            "The throughput ratios round by round (the spread the machine's other load leaves), 1 worker each / as served:",
            "",
            *(
                f"- {r['targets'][k]['what']}: {f1['per_round'].get(k)} / {f2['per_round'].get(k)}"
                for k in ("no_reasons_vs_bentoml", "reasons_vs_bentoml", "no_reasons_vs_guarded_constant")
            ),
            "",
            "## Single-row prediction, one worker each",
            "",
            *service_rows(r["one_worker"], {}),
            "",
            "## As served: 2 workers (BentoML in its best configuration: 1 worker, adaptive batching)",
            "",
            *service_rows(r["two_workers"], two),
            "",
            "## Other ratios (information)",
            "",
            "| ratio | 1 worker each | as served |",
            "|---|---|---|",
            *(
                f"| {what} | {fmt(k, f1.get(k))} | {fmt(k, f2.get(k))} |"
                for k, what in (
                    ("reasons_vs_no_reasons", "`/predict` with reasons ÷ `/predict?reasons=false`"),
                    ("guarded_constant_vs_constant", "guarded constant ÷ bare constant (the guard's cost)"),
                    ("reasons_vs_constant", "`/predict` with reasons ÷ bare constant"),
                    ("bentoml_batched_vs_plain", "BentoML adaptive batching ÷ plain"),
                    ("no_reasons_vs_bentoml_cpu", "`/predict?reasons=false` ÷ BentoML adaptive, requests per server CPU-second"),
                    ("reasons_vs_bentoml_cpu", "`/predict` with reasons ÷ BentoML adaptive, requests per server CPU-second"),
                    (
                        "no_reasons_vs_guarded_constant_cpu",
                        "`/predict?reasons=false` ÷ guarded constant, requests per server CPU-second",
                    ),
                    ("no_reasons_vs_bentoml_plain", "`/predict?reasons=false` ÷ BentoML plain"),
                    ("reasons_vs_bentoml_plain", "`/predict` with reasons ÷ BentoML plain"),
                    ("p99_no_reasons_ms", "p99 of `/predict?reasons=false`"),
                )
            ),
            "",
            "## Batch, start-up, memory",
            "",
            f"- batch of {r['batch']['rows']} rows (JSON) through `/predict/batch`: {r['batch']['api_rows_per_s']} rows/s; "
            f"bare `model.predict` on the same rows (building the frame included; {r['batch']['bare_model_threads']} threads, "
            f"the faster of default/1): {r['batch']['bare_model_rows_per_s']} rows/s (by thread setting: {r['batch']['bare_by_threads']}).",
            f"- cold start, process spawn to `/ready` 200 (model downloaded from MLflow and verified): {r['ready_s']['runs']} s "
            f"(median {r['ready_s']['median']}); `mlflow models serve` to `/ping`: {r['mlflow_ready_s']} s; BentoML to `/readyz`: "
            f"{b['ready_s']} s. A fresh interpreter that only imports what unpickling and serving the pipeline need takes "
            f"{r['import_floor_s']['runs']} s (median {r['import_floor_s']['median']}): the floor under the ready time.",
            f"- resident memory: this API, 1 worker {r['api_rss_mb']['parent']} MB after the load runs; with 2 workers, per worker "
            f"{r['api_2_workers_rss_mb']['workers']} MB (supervisor {r['api_2_workers_rss_mb']['parent']} MB); "
            f"`mlflow models serve` {r['mlflow_rss_mb']}; BentoML {b['rss_mb']} (MB).",
            "",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
