"""Test support: the one process harness of the tests, the scripts and nbs/08_e2e.ipynb.

A service started here runs in its own process group (so stopping it stops its children too: uvicorn's
workers, streamlit's server), is waited for over HTTP with one client (a new client per poll costs 30 ms,
which would blur a cold-start time), and fails early when the process dies. `Steps` times the steps of a
run with one status line each; `clean_workspace` is a fresh clone for a run from a clean state.
"""

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from credit_score.core import project_root

ROOT = project_root(Path(__file__).parent)


def free_port() -> int:
    "A free TCP port on loopback."
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], cwd: Path = ROOT, env: dict | None = None, log: Path | None = None) -> subprocess.Popen:
    "Start `cmd` in its own process group, `env` over this process's environment, output to `log` (or nowhere)."
    out = open(log, "wb") if log else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            cmd,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        if log:
            out.close()  # the child has its own copy


def stop_process(proc: subprocess.Popen, timeout: float = 15) -> None:
    "Stop a process started by `start`, with its whole group: SIGTERM, then SIGKILL after `timeout` seconds."
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout)
    except ProcessLookupError:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def _tail(log: Path | None, n: int = 2000) -> str:
    return f"\n{log.read_text(errors='replace')[-n:]}" if log and log.exists() else ""


def wait_http(
    url: str, proc: subprocess.Popen | None = None, timeout: float = 90, log: Path | None = None, interval: float = 0.05
) -> float:
    "Poll `url` until it answers 200; the seconds it took. Fails early if `proc` died; errors carry `log`'s tail."
    t0 = time.perf_counter()
    with httpx.Client(timeout=2) as client:
        while time.perf_counter() - t0 < timeout:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{proc.args[0]} exited ({proc.returncode}) before {url} answered" + _tail(log))
            try:
                if client.get(url).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            time.sleep(interval)
    raise TimeoutError(f"{url} did not answer 200 within {timeout} s" + _tail(log))


class Steps:
    "Timed steps with one status line each; `done` is the list for reports/e2e.json."

    def __init__(self, say=lambda m: print(m, flush=True), tag: str = "e2e"):
        self.done, self.say, self.tag = [], say, tag

    def __call__(self, name: str, fn, *args, **kw):
        t0 = time.monotonic()
        self.say(f"[{self.tag}] {name} ...")
        try:
            out = fn(*args, **kw)
        except BaseException as e:
            secs = time.monotonic() - t0
            self.done.append(
                {"step": name, "status": "failed", "seconds": round(secs, 1), "error": f"{type(e).__name__}: {e}"[:500]}
            )
            self.say(f"[{self.tag}] {name}: FAILED after {secs:.1f} s: {type(e).__name__}: {e}")
            raise
        secs = time.monotonic() - t0
        self.done.append({"step": name, "status": "ok", "seconds": round(secs, 1)})
        self.say(f"[{self.tag}] {name}: ok in {secs:.1f} s")
        return out


def clean_workspace(repo: Path, dest: Path, source: str) -> Path:
    "A fresh clone of `repo`'s HEAD in `dest`, with the DVC remotes' local config, .env and `ingest.source` set."
    from credit_score.watch import set_source

    subprocess.run(["git", "clone", "--quiet", str(repo), str(dest)], check=True)
    for name in (".dvc/config.local", ".env"):  # credentials: git-ignored, so not in the clone
        if (repo / name).exists():
            shutil.copy2(repo / name, dest / name)
    set_source(dest / "params.yaml", source)
    return dest
