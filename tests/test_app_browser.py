"""The Streamlit app in a real browser, against the real API (credit_score.api), end to end.

Starts the real API (uvicorn, loopback, a fresh key) and `streamlit run credit_score/app.py` on free loopback
ports, drives Debian's Chromium through Playwright: fill and submit the form, wait for the prediction, score a
CSV and download the scored file. Screenshots go to reports/screenshots/.

The API serves the DVC-pinned champion (`models/model.json`: MLflow's `champion`, or that file when MLflow is
unreachable) when the pipeline has produced one; on a checkout without it, a small real sklearn model with the
same contract (tests/synthetic_model.py) is served from a temporary folder. Which one was used is printed.
"""

import csv
import io
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from support import free_port, start, stop_process, wait_http
from credit_score.api import new_key
from credit_score.contract import FEATURE_COLUMNS, LABELS

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "reports" / "screenshots"
VENV = Path(sys.executable).parent
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

pytestmark = pytest.mark.services
expect.set_options(timeout=30_000)  # a prediction with reasons takes a few hundred ms; page reruns up to seconds


def wait_for(url: str, proc: subprocess.Popen, log: Path, secs: float = 90) -> None:
    "Wait for `url` to answer 200; fail with the log's tail if the process dies or time runs out."
    try:
        wait_http(url, proc, secs, log)
    except (RuntimeError, TimeoutError) as e:
        pytest.fail(str(e))


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    "The real API on a free loopback port with a fresh key; yields (url, key, /model reply)."
    tmp = tmp_path_factory.mktemp("api")
    key, entry = new_key("browser-test")
    env = {"API_KEYS": entry, "PYTHONPATH": str(ROOT / "tests")}
    if (ROOT / "models" / "model.json").exists():
        which = "the champion (MLflow alias, or the DVC-pinned models/)"
    else:
        import synthetic_model

        synthetic_model.save_model_dir(synthetic_model.build_pipeline(), tmp / "model", version="1", run_id="synthetic-run")
        env |= {"MODEL_SOURCE": "local", "MODEL_DIR": str(tmp / "model")}
        which = "a synthetic model (no models/model.json in this checkout)"
    port, log = free_port(), tmp / "api.log"
    proc = start(
        [str(VENV / "uvicorn"), "--factory", "credit_score.api:create_app", "--host", "127.0.0.1", "--port", str(port)],
        ROOT,
        env,
        log,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(f"{url}/ready", proc, log)
        info = httpx.get(f"{url}/model", headers={"X-API-Key": key}).json()
        print(f"API serves {which}: version {info['version']}, source {info.get('source')}")
        yield url, key, info
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def app_url(api, tmp_path_factory):
    "`streamlit run credit_score/app.py` on a free loopback port, pointed at the API through the environment."
    url, key, _ = api
    port, log = free_port(), tmp_path_factory.mktemp("app") / "app.log"
    env = {"API_URL": url, "API_KEY": key}
    proc = start(
        [
            str(VENV / "streamlit"),
            "run",
            "credit_score/app.py",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
            "--client.toolbarMode",
            "minimal",
        ],
        ROOT,
        env,
        log,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/_stcore/health", proc, log, secs=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_url):
    # tall enough that the form, the prediction and the lineage fit in one screenshot
    context = browser.new_context(viewport={"width": 1400, "height": 1900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(app_url)
    page.get_by_role("button", name="Predict credit score").wait_for()  # the first run imports pandas & co.
    yield page
    context.close()


def test_form_prediction_in_chromium(page, api):
    _, key, info = api
    expect(page.get_by_text("API key: configured (from environment)")).to_be_visible()
    expect(page.get_by_text(f"version {info['version']}").first).to_be_visible()  # lineage in the sidebar

    delay = page.get_by_role("spinbutton", name="Delay_from_due_date", exact=True)
    delay.fill("25")
    delay.press("Tab")
    page.get_by_role("button", name="Predict credit score").click()

    value = page.get_by_test_id("stMetricValue")
    expect(value.first).to_have_text(re.compile(f"^({'|'.join(LABELS)})$"))
    assert value.nth(2).inner_text() == str(info["version"])  # the model version metric
    expect(page.get_by_text("Top reasons")).to_be_visible()
    expect(page.locator("[data-testid=stVegaLiteChart] canvas, [data-testid=stVegaLiteChart] svg").first).to_be_visible()
    lineage = page.get_by_test_id("stMarkdownContainer").filter(has_text="commit").last
    expect(lineage).to_contain_text(str(info["run_id"])[:12])
    expect(lineage).to_contain_text(str(info["data_sha256"])[:12])
    assert delay.input_value() == "25"
    assert key not in page.content()  # the key is never on the page
    page.wait_for_timeout(1500)  # let the chart finish its transition before the screenshot
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "app_prediction.png")


def batch_rows(n: int = 8) -> list[list[str]]:
    "The header and the first `n` rows of Kaggle's test.csv (dirt included); typical applicants without the data."
    raw = ROOT / "data" / "raw" / "test.csv"
    if raw.exists():
        return list(csv.reader(io.StringIO(raw.read_text())))[: n + 1]
    import credit_score.app as app

    return [list(FEATURE_COLUMNS)] + [
        [str(app.TYPICAL_APPLICANT.get(c, f"0x{i}" if c == "ID" else "")) for c in FEATURE_COLUMNS] for i in range(n)
    ]


def test_batch_csv_in_chromium(page, tmp_path):
    rows = batch_rows()
    upload = tmp_path / "applicants.csv"
    with open(upload, "w", newline="") as f:
        csv.writer(f).writerows(rows)

    page.get_by_role("tab", name="Batch CSV").click()
    page.locator("input[type=file]").set_input_files(upload)
    page.get_by_role("button", name="Score file").click()
    expect(page.get_by_text(f"Scored {len(rows) - 1} rows")).to_be_visible()
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download scored CSV").click()
    scored = list(csv.DictReader(open(dl.value.path())))
    assert dl.value.suggested_filename == "applicants_scored.csv"
    assert len(scored) == len(rows) - 1
    assert [r["ID"] for r in scored] == [r[0] for r in rows[1:]]  # same rows, same order, values as uploaded
    assert all(r["predicted_credit_score"] in LABELS for r in scored)
    assert all(abs(sum(float(r[f"p_{c}"]) for c in LABELS) - 1) < 1e-3 for r in scored)
    page.wait_for_timeout(500)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "app_batch.png")
