"""The process harness of the tests (tests/support.py): a started service is stopped with all its children, a wait
fails early when the process dies, and a timed step records its failure."""

import os
import sys
import time

import pytest

from support import Steps, free_port, start, stop_process, wait_http

# A parent that starts a child in its group, prints both pids, then serves HTTP (so wait_http has something to wait for).
FAMILY = """
import http.server, os, subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
print(os.getpid(), child.pid, flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler).serve_forever()
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    return status != "Z"  # a zombie waits for its parent (init) to reap it: it is dead


def test_a_started_service_is_waited_for_and_stopped_with_its_children(tmp_path):
    port, log = free_port(), tmp_path / "family.log"
    proc = start([sys.executable, "-c", FAMILY, str(port)], tmp_path, {"MARK": "x"}, log)
    try:
        assert wait_http(f"http://127.0.0.1:{port}/", proc, 30) < 30
        parent, child = map(int, log.read_text().split()[:2])
        assert _alive(child)
    finally:
        stop_process(proc)
    assert proc.returncode is not None
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the child outlived its process group"
    stop_process(proc)  # stopping twice is harmless


def test_a_wait_fails_early_when_the_process_dies_and_shows_its_log(tmp_path):
    log = tmp_path / "dead.log"
    proc = start([sys.executable, "-c", "print('cannot start: no model'); raise SystemExit(3)"], tmp_path, log=log)
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match=r"exited \(3\)[\s\S]*cannot start: no model"):
        wait_http(f"http://127.0.0.1:{free_port()}/", proc, timeout=60, log=log)
    assert time.monotonic() - t0 < 10


def test_a_wait_on_nothing_times_out():
    with pytest.raises(TimeoutError, match="did not answer 200 within 0.3 s"):
        wait_http(f"http://127.0.0.1:{free_port()}/", timeout=0.3)


def test_steps_time_each_step_and_record_a_failure():
    lines = []
    steps = Steps(say=lines.append, tag="t")
    assert steps("add", lambda a, b: a + b, 1, 2) == 3
    with pytest.raises(ZeroDivisionError):
        steps("boom", lambda: 1 / 0)
    assert [(d["step"], d["status"]) for d in steps.done] == [("add", "ok"), ("boom", "failed")]
    assert steps.done[1]["error"] == "ZeroDivisionError: division by zero"
    assert lines[0] == "[t] add ..." and lines[-1].startswith("[t] boom: FAILED after")
