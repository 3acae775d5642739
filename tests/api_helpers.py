"""Helpers shared by the API tests and scripts/bench_api.py: a fitted contract model, settings, uvicorn started and
stopped through the one process harness (tests/support.py)."""

import subprocess
import sys
from pathlib import Path

import httpx

from credit_score.serving.schema import EXAMPLE, FEATURES, as_text
from credit_score.serving.settings import ApiSettings, new_key
from credit_score.core import project_root
from support import free_port, start, stop_process, wait_http  # noqa: F401 - free_port: the scripts import it from here

ROOT = project_root(Path(__file__).parent)
TESTS = Path(__file__).parent


def reference_row() -> dict:
    "A reference value per feature (what 05_register may ship in model.json): typical training values."
    return {
        "Age": "33",
        "Occupation": "Lawyer",
        "Annual_Income": "37000",
        "Monthly_Inhand_Salary": "3100",
        "Num_Bank_Accounts": "5",
        "Num_Credit_Card": "5",
        "Interest_Rate": "13",
        "Num_of_Loan": "3",
        "Type_of_Loan": "Not Specified",
        "Delay_from_due_date": "20",
        "Num_of_Delayed_Payment": "13",
        "Changed_Credit_Limit": "9.4",
        "Num_Credit_Inquiries": "5",
        "Credit_Mix": "Standard",
        "Outstanding_Debt": "1400",
        "Credit_Utilization_Ratio": "32",
        "Credit_History_Age": "18 Years and 3 Months",
        "Payment_of_Min_Amount": "Yes",
        "Total_EMI_per_month": "70",
        "Amount_invested_monthly": "130",
        "Payment_Behaviour": "Low_spent_Small_value_payments",
        "Monthly_Balance": "330",
    }


def keys(*names: str) -> tuple[dict, str]:
    "Fresh keys for `names`: ({name: key}, API_KEYS spec)."
    made = {n: new_key(n) for n in names}
    return {n: k for n, (k, _) in made.items()}, ",".join(e for _, e in made.values())


def settings(model_dir: Path, spec: str, **kw) -> ApiSettings:
    "Offline settings: local model, in-memory limits, no poller (override with kw)."
    base = dict(
        _env_file=None,
        api_keys=spec,
        model_source="local",
        model_dir=model_dir,
        model_poll_seconds=0,
        redis_url=None,
        mlflow_tracking_uri="http://127.0.0.1:9",
        rate_limit="1000/minute",
        batch_rate_limit="1000/minute",
        prediction_log=False,  # tests that want the log give create_app their own (never the project's spool and bucket)
    )
    return ApiSettings(**{**base, **kw})


def start_uvicorn(
    env: dict,
    port: int,
    workers: int = 1,
    log_config: Path | None = None,
    app: str = "credit_score.api:create_app",
    factory: bool = True,
    log_file: Path | None = None,
) -> subprocess.Popen:
    "Start uvicorn on 127.0.0.1:`port` in its own process group (stop with stop())."
    cmd = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    cmd += ["--factory"] if factory else []
    cmd += ["--log-config", str(log_config)] if log_config else ["--no-access-log"]
    return start(cmd, ROOT, {"PYTHONPATH": str(TESTS), **env}, log_file)


def wait_ready(url: str, timeout: float = 60, path: str = "/ready", proc: subprocess.Popen | None = None) -> float:
    "Poll `url+path` until 200; return the seconds it took (polled every 20 ms: benchmarks time the cold start with it)."
    return wait_http(url + path, proc, timeout, interval=0.02)


def stop(proc: subprocess.Popen) -> None:
    "Stop a process started by start_uvicorn (its whole group: uvicorn's workers too)."
    stop_process(proc)
