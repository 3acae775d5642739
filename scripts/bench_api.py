"""Serving benchmark (issue 4): this API vs `mlflow models serve` of the same registered model vs a constant FastAPI endpoint.

One run, same machine, side by side (all traffic to 127.0.0.1):
- single-row POST /predict: throughput and p50/p99 latency at concurrency 8 (keep-alive connections), one worker each;
- batch: rows/s of POST /predict/batch (JSON, MAX_BATCH_ROWS rows) vs the bare model's predict on the same rows;
- cold start: process spawn until /ready answers 200; resident memory per worker (1 and 2 workers).
For information it also loads /predict?reasons=false and the constant answer behind this API's key check and Redis
limiter, which split the gap to the constant endpoint into the model's share and the guard's.
Writes reports/bench/api.json and reports/bench/api.md. The served model is the registered champion of MODEL_NAME
when one exists, else the contract stand-in (tests/synthetic_model.py: the real preprocess.build_features + gradient
boosting) registered as `credit-score-bench`.

Usage: scripts/env.sh python scripts/bench_api.py [--seconds 10] [--concurrency 8]
"""

import argparse
import asyncio
import json
import os
import platform
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
TARGETS = {
    "throughput_vs_mlflow": 3.0,
    "throughput_vs_constant": 0.5,
    "p99_ms": 25.0,
    "batch_vs_bare": 0.5,
    "ready_s": 3.0,
    "rss_mb_per_worker": 300.0,
}
CONSTANT = {
    "credit_score": "Standard",
    "probabilities": {"Good": 0.2, "Poor": 0.1, "Standard": 0.7},
    "model_version": "0",
    "reasons": [{"feature": "Delay_from_due_date", "value": "3", "contribution": 0.1}],
}


def constant_app():
    "The baseline: a FastAPI endpoint that parses the JSON body and answers a constant (uvicorn --factory)."
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
    "For information: the constant answer behind this API's own key check and Redis-backed limiter, no model."
    from fastapi import Depends, FastAPI, Request
    from credit_score.api import ApiSettings, caller, make_limiter, parse_keys

    s = ApiSettings()
    limiter, auth, app = make_limiter(s), caller(parse_keys(s.api_keys)), FastAPI()
    app.state.limiter = limiter

    @app.post("/predict")
    @limiter.limit(s.rate_limit)
    async def predict(request: Request, payload: dict, name: str = Depends(auth)) -> dict:
        return CONSTANT

    @app.get("/ready")
    async def ready() -> dict:
        return {"status": "ready"}

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
    lat, codes, t_start = [], {}, time.perf_counter()
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
                if t0 >= t_measure:
                    lat.append(t1 - t0)
                    codes[status] = codes.get(status, 0) + 1
                i += concurrency
        finally:
            writer.close()

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return {"lat": lat, "codes": codes, "seconds": seconds}


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
        "rps": round(n / secs, 1),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": round(lat[-1] * 1000, 2) if n else None,
        "status": dict(sorted(codes.items())),
        "rounds_rps": [round(len(r["lat"]) / r["seconds"], 1) for r in runs],
    }


# --- processes -------------------------------------------------------------------------------------


def rss_mb(pid: int) -> dict:
    "Resident memory of a process and of each of its children (uvicorn workers), in MB."
    import psutil

    p = psutil.Process(pid)
    kids = [k for k in p.children(recursive=True) if "resource_tracker" not in " ".join(k.cmdline())]
    return {"parent": round(p.memory_info().rss / 2**20, 1), "workers": [round(k.memory_info().rss / 2**20, 1) for k in kids]}


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


def pick_model(tracking_uri: str, model_name: str, log) -> tuple[str, str]:
    "The registered model to serve: MODEL_NAME@champion if it exists, else the stand-in registered as credit-score-bench."
    import httpx

    alias = lambda name: httpx.get(
        f"{tracking_uri}/api/2.0/mlflow/registered-models/alias", params={"name": name, "alias": "champion"}, timeout=5
    )
    if alias(model_name).status_code == 200:
        return model_name, "the registered champion"
    stand_in = "stand-in (preprocess.build_features + HistGradientBoosting on synthetic rows)"
    if alias("credit-score-bench").status_code == 200:
        return "credit-score-bench", stand_in
    from synthetic_model import build_pipeline, register

    log("no champion registered yet: registering the contract stand-in as credit-score-bench")
    register(build_pipeline(), "credit-score-bench", tracking_uri)
    return "credit-score-bench", stand_in


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


def start_baselines(names: tuple, workers: int, model_name: str, version: str, env: dict, tmp: Path, procs: list) -> dict:
    "Start the named baselines with `workers` workers each and wait until they answer: name -> (process, port, seconds to answer)."
    from api_helpers import free_port, wait_ready

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
    }
    t0, started = time.perf_counter(), {}
    for name in names:
        port = free_port()
        cmd, extra = commands[name](port)
        started[name] = (start(cmd, extra, tmp / f"{name}-{workers}.log"), port)
        procs.append(started[name][0])
    answered = {}
    for name, (proc, port) in started.items():  # all start together, so each one's time counts from the same moment
        wait_ready(f"http://127.0.0.1:{port}", timeout=180, path="/ping" if name == "mlflow" else "/ready", proc=proc)
        answered[name] = (proc, port, round(time.perf_counter() - t0, 2))
    return answered


def take_turns(services: dict, rounds: int, seconds: float, concurrency: int, log) -> dict:
    "Load each service for `seconds` in all, split over `rounds` in which they take turns (drifts in the machine's load hit all alike)."
    runs, per_round = {k: [] for k in services}, seconds / rounds
    for i in range(rounds):
        for name in list(services)[i % len(services) :] + list(services)[: i % len(services)]:
            runs[name].append(load(*services[name], concurrency, per_round, warmup=1.5 if i == 0 else 0.5))
        log("round " + str(i + 1) + ": " + ", ".join(f"{k} {len(v[-1]['lat']) / per_round:.0f} req/s" for k, v in runs.items()))
    return {name: summary(r) for name, r in runs.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=12, help="measured seconds per service (split over the rounds)")
    ap.add_argument("--rounds", type=int, default=3, help="the services take turns this many times (load drifts hit all alike)")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--batch-rows", type=int, default=1000)
    args = ap.parse_args()
    log = lambda m: print(f"[bench {time.strftime('%H:%M:%S')}] {m}", flush=True)

    import httpx
    from threadpoolctl import threadpool_limits
    from api_helpers import free_port, stop, wait_ready
    from credit_score.api import ApiSettings, download_model_file, frame, new_key, raw_row
    from credit_score.modelfile import unpickle

    s = ApiSettings()
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-api-"))
    model_name, model_kind = pick_model(s.mlflow_tracking_uri, s.model_name, log)
    rows, rows_from = sample_rows(max(args.batch_rows, 200))
    key, entry = new_key("bench")
    env = {
        "API_KEYS": entry,
        "MODEL_NAME": model_name,
        "MODEL_SOURCE": "mlflow",
        "RATE_LIMIT": "100000000/minute",
        "BATCH_RATE_LIMIT": "100000000/minute",
        "RATE_LIMIT_PREFIX": f"bench-{os.getpid()}",
        "MODEL_POLL_SECONDS": "30",
        "MAX_BATCH_ROWS": str(args.batch_rows),
        "MAX_BODY_BYTES": str(50_000_000),
        "PYTHONPATH": str(ROOT / "tests"),
    }
    single = [json.dumps(r).encode() for r in rows[:200]]
    auth = {"X-API-Key": key, "Content-Type": "application/json"}
    results = {
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
        "redis_limits": bool(s.redis_url),
    }
    procs = []
    try:
        # cold start: spawn until /ready (3 times; the last one stays up for the load runs)
        readies = []
        for i in range(3):
            if procs:
                stop(procs[-1])
            port, t0 = free_port(), time.perf_counter()
            api = start(uvicorn_cmd("credit_score.api:create_app", port), env, tmp / f"api{i}.log")
            procs.append(api)
            wait_ready(f"http://127.0.0.1:{port}", timeout=120, proc=api)
            readies.append(time.perf_counter() - t0)
        results["ready_s"] = {"runs": [round(x, 2) for x in readies], "median": round(statistics.median(readies), 2)}
        results["import_floor_s"] = import_floor()
        log(f"api ready in {results['ready_s']}")
        api_url = f"http://127.0.0.1:{port}"
        version = httpx.get(f"{api_url}/ready").json()["model_version"]
        results["model_version"] = version
        results["rows_refused_422"] = sum(
            httpx.post(f"{api_url}/predict", content=b, headers=auth).status_code != 200 for b in single
        )

        # the baselines, up at the same time (idle while the others are measured)
        base = start_baselines(("mlflow", "constant", "constant_guarded"), 1, model_name, version, env, tmp, procs)
        results["mlflow_ready_s"] = base["mlflow"][2]
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
        assert r.status_code == 200, r.text[:300]

        def service(name: str, port: int) -> tuple:
            "What `load` needs for one service: port, path, bodies, headers."
            if name == "mlflow":
                return port, "/invocations", ml_bodies, {}
            return port, "/predict", single, ({"X-API-Key": key} if name in ("api", "constant_guarded") else {})

        # single-row load, one worker each, the services taking turns
        services = {
            "api": service("api", port),
            "mlflow": service("mlflow", base["mlflow"][1]),
            "constant": service("constant", base["constant"][1]),
            "api_no_reasons": (port, "/predict?reasons=false", single, {"X-API-Key": key}),
            "constant_guarded": service("constant_guarded", base["constant_guarded"][1]),
        }
        results.update(take_turns(services, args.rounds, args.seconds, args.concurrency, log))
        results["api_rss_mb"] = rss_mb(api.pid)
        results["mlflow_rss_mb"] = rss_mb(base["mlflow"][0].pid)
        for proc, _, _ in base.values():
            stop(proc)

        # batch vs the bare model on the same rows, taking turns too
        batch_body = json.dumps(rows[: args.batch_rows]).encode()
        blob = download_model_file(ApiSettings(model_name=model_name), version)
        model = unpickle(blob)  # old versions name credit_score.train's classifier: mapped to credit_score.model
        X_rows = rows[: args.batch_rows]
        api_t, bare_t = [], {"default": [], "1": []}
        with httpx.Client(timeout=120) as c:
            c.post(f"{api_url}/predict/batch", content=batch_body, headers=auth)
            for i in range(args.rounds + 2):
                t = time.perf_counter()
                r = c.post(f"{api_url}/predict/batch", content=batch_body, headers=auth)
                api_t.append(time.perf_counter() - t)
                assert r.status_code == 200 and r.json()["rows"] == args.batch_rows, r.text[:300]
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
        log(f"batch: {results['batch']}")
        del model
        stop(api)

        # as served (scripts/serve.sh and the API image run 2 workers): the same comparison with 2 workers each
        port2 = free_port()
        p = start(uvicorn_cmd("credit_score.api:create_app", port2, workers=2), env, tmp / "api2.log")
        procs.append(p)
        base2 = start_baselines(("mlflow", "constant"), 2, model_name, version, env, tmp, procs)
        wait_ready(f"http://127.0.0.1:{port2}", timeout=120, proc=p)
        time.sleep(4)  # both API workers have loaded the model
        served = {"api": service("api", port2), **{name: service(name, b[1]) for name, b in base2.items()}}
        results["two_workers"] = take_turns(served, args.rounds, args.seconds, args.concurrency, log)
        results["api_2_workers_rss_mb"] = rss_mb(p.pid)
        for proc in [p, *(b[0] for b in base2.values())]:
            stop(proc)
    finally:
        for p in procs:
            stop(p)
    results["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    api_w = results["api_2_workers_rss_mb"]["workers"] or [results["api_rss_mb"]["parent"]]
    figures = {
        **single_row_figures(results),
        "batch_vs_bare": round(results["batch"]["api_rows_per_s"] / results["batch"]["bare_model_rows_per_s"], 3),
        "ready_s": results["ready_s"]["median"],
        "rss_mb_per_worker": max(api_w + [results["api_rss_mb"]["parent"]]),
    }
    lower_is_better = {"p99_ms", "ready_s", "rss_mb_per_worker"}
    results["figures"] = figures
    results["figures_two_workers"] = single_row_figures(results["two_workers"])
    met = lambda k, x: (x <= TARGETS[k]) if k in lower_is_better else (x >= TARGETS[k])
    results["targets"] = {k: {"target": v, "measured": figures[k], "met": met(k, figures[k])} for k, v in TARGETS.items()}
    results["targets_two_workers"] = {
        k: {"target": TARGETS[k], "measured": x, "met": met(k, x)} for k, x in results["figures_two_workers"].items()
    }
    (OUT / "api.json").write_text(json.dumps(results, indent=2) + "\n")
    (OUT / "api.md").write_text(report_md(results))
    print((OUT / "api.md").read_text())
    return 0


def single_row_figures(r: dict) -> dict:
    "The single-row figures of one set-up: throughput against each baseline, and the p99."
    return {
        "throughput_vs_mlflow": round(r["api"]["rps"] / max(r["mlflow"]["rps"], 1e-9), 2),
        "throughput_vs_constant": round(r["api"]["rps"] / max(r["constant"]["rps"], 1e-9), 3),
        "p99_ms": r["api"]["p99_ms"],
    }


def report_md(r: dict) -> str:
    t = r["targets"]
    t2 = r["targets_two_workers"]
    mark = lambda k: "met" if t[k]["met"] else "**missed**"
    mark2 = lambda k: "met" if t2[k]["met"] else "**missed**"
    row = lambda name, x: f"| {name} | {x['rps']} | {x.get('rounds_rps')} | {x['p50_ms']} | {x['p99_ms']} | {x['status']} |"
    return "\n".join(
        [
            "# Serving benchmark: credit-score API",
            "",
            f"Run {r['started_at']} by `scripts/env.sh python scripts/bench_api.py` on {r['machine']['cpus']} CPUs "
            f"(load average before {r['machine']['loadavg_before']}, after {r['machine']['loadavg_after']}; the machine is shared, so "
            "absolute figures move between runs, the ratios measured in the same run much less).",
            "",
            f"Model: `models:/{r['model']}/{r['model_version']}` ({r['model_kind']}); rows from `{r['rows_from']}` "
            f"({r['rows_refused_422']} of 200 sampled rows refused with 422). One uvicorn worker per service (and 2 each as served, below), "
            f"closed-loop keep-alive clients at concurrency {r['concurrency']}, {r['seconds']} s per service in {r['rounds']} rounds "
            f"in which the services take turns; "
            f"this API with its Redis-backed limiter ({r['redis_limits']}) and occlusion reasons on every reply.",
            "",
            "## Single-row prediction",
            "",
            "| service | req/s | per round | p50 ms | p99 ms | status codes |",
            "|---|---|---|---|---|---|",
            row("this API `POST /predict` (class + probabilities + reasons)", r["api"]),
            row(
                "`mlflow models serve` `POST /invocations` (class only, rows pre-cleaned to fit its signature; OMP_NUM_THREADS=1)",
                r["mlflow"],
            ),
            row("constant FastAPI endpoint (parses the body, fixed answer)", r["constant"]),
            row("this API `POST /predict?reasons=false` (1 row through the model; for information)", r["api_no_reasons"]),
            row(
                "constant endpoint behind this API's key check and Redis limiter (no model; for information)",
                r["constant_guarded"],
            ),
            "",
            "### As served: 2 workers each",
            "",
            "`scripts/serve.sh` and the API image run 2 uvicorn workers; the same load against the same three services, each with 2 workers:",
            "",
            "| service | req/s | per round | p50 ms | p99 ms | status codes |",
            "|---|---|---|---|---|---|",
            row("this API `POST /predict` (class + probabilities + reasons)", r["two_workers"]["api"]),
            row("`mlflow models serve -w 2`", r["two_workers"]["mlflow"]),
            row("constant FastAPI endpoint, 2 workers", r["two_workers"]["constant"]),
            "",
            "## Batch, start-up, memory",
            "",
            f"- batch of {r['batch']['rows']} rows (JSON) through `/predict/batch`: {r['batch']['api_rows_per_s']} rows/s; "
            f"bare `model.predict` on the same rows (building the frame included; {r['batch']['bare_model_threads']} threads, the faster of default/1): {r['batch']['bare_model_rows_per_s']} rows/s "
            f"(by thread setting: {r['batch']['bare_by_threads']}).",
            f"- cold start, process spawn to `/ready` 200 (model downloaded from MLflow and verified): {r['ready_s']['runs']} s "
            f"(median {r['ready_s']['median']}); `mlflow models serve` to `/ping`: {r['mlflow_ready_s']} s. "
            f"A fresh interpreter that only imports what unpickling and serving the pipeline need ({r['import_floor_s']['modules']}) "
            f"takes {r['import_floor_s']['runs']} s (median {r['import_floor_s']['median']}): the floor under the ready time.",
            f"- resident memory: 1 worker {r['api_rss_mb']['parent']} MB after the load runs; with 2 workers, per worker {r['api_2_workers_rss_mb']['workers']} MB "
            f"(supervisor {r['api_2_workers_rss_mb']['parent']} MB); `mlflow models serve` {r['mlflow_rss_mb']}.",
            "",
            "## Against the targets",
            "",
            "The single-row figures are given for both set-ups; the first (one worker each) is the strict one.",
            "",
            "| figure | target | 1 worker each | | 2 workers each (as served) | |",
            "|---|---|---|---|---|---|",
            f"| throughput vs mlflow serve | >= {t['throughput_vs_mlflow']['target']}x | {t['throughput_vs_mlflow']['measured']}x | {mark('throughput_vs_mlflow')} "
            f"| {t2['throughput_vs_mlflow']['measured']}x | {mark2('throughput_vs_mlflow')} |",
            f"| throughput vs constant endpoint | >= {t['throughput_vs_constant']['target']:.0%} | {t['throughput_vs_constant']['measured']:.1%} | {mark('throughput_vs_constant')} "
            f"| {t2['throughput_vs_constant']['measured']:.1%} | {mark2('throughput_vs_constant')} |",
            f"| p99 latency | <= {t['p99_ms']['target']} ms | {t['p99_ms']['measured']} ms | {mark('p99_ms')} | {t2['p99_ms']['measured']} ms | {mark2('p99_ms')} |",
            f"| batch vs bare model | >= {t['batch_vs_bare']['target']:.0%} | {t['batch_vs_bare']['measured']:.1%} | {mark('batch_vs_bare')} | | |",
            f"| ready | <= {t['ready_s']['target']} s | {t['ready_s']['measured']} s | {mark('ready_s')} | | |",
            f"| memory per worker | <= {t['rss_mb_per_worker']['target']:.0f} MB | {t['rss_mb_per_worker']['measured']} MB | {mark('rss_mb_per_worker')} | | |",
            "",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
