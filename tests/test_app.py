"""The Streamlit app (nbs/07_app.ipynb -> credit_score/app.py), driven by streamlit.testing's AppTest.

The app talks to the API over HTTP, so these tests run a small stand-in API (tests/app_standin.py, same
contract as the real service) on a free loopback port; no model and no services are needed.
"""

import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import app_standin as standin
import credit_score.app as app

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "credit_score" / "app.py"


@pytest.fixture(scope="module")
def api_url():
    url, server = standin.serve()
    yield url
    server.should_exit = True


def page(monkeypatch, url, key) -> AppTest:
    "The app, configured through the environment as scripts/serve.sh does, after its first run."
    monkeypatch.setenv("API_URL", url)
    if key is None:
        monkeypatch.delenv("API_KEY", raising=False)
    else:
        monkeypatch.setenv("API_KEY", key)
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at


def submit(at: AppTest) -> AppTest:
    at.button(key="predict").click().run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    "Everything the page shows as text (markdown, captions, messages, metrics)."
    parts = [e.value for kind in ("markdown", "caption", "error", "warning", "info", "success") for e in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    return "\n".join(map(str, parts))


def test_form_submit_shows_class_chart_reasons_and_lineage(monkeypatch, api_url):
    at = page(monkeypatch, api_url, standin.GOOD_KEY)
    # every field has a default from the typical applicant and a help text
    widgets = [*at.number_input, *at.selectbox, *at.multiselect]
    assert len(widgets) == len(app.FORM_FIELDS) + 1  # Credit_History_Age is years + months
    assert all(w.help for w in widgets)
    assert at.number_input(key="f_Age").value == 34
    assert "version **3**" in texts(at.sidebar)  # lineage in the sidebar before any prediction

    submit(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Credit score"] == "Standard"  # 18 days late: the stand-in's Standard
    assert metrics["Probability"] == "70%" and metrics["Model version"] == "3"
    assert at.get("vega_lite_chart"), "no probability chart"
    reasons = at.main.dataframe[-1].value
    assert reasons["feature"].tolist() == ["Delay_from_due_date", "Credit_Mix"]
    shown = texts(at)
    assert "run `0123456789ab`" in shown and "data `c079c569d44c`" in shown and "commit `6f0bc2c000`" in shown
    assert standin.GOOD_KEY not in shown and "configured (from environment)" in shown


def test_changed_field_changes_prediction(monkeypatch, api_url):
    at = page(monkeypatch, api_url, standin.GOOD_KEY)
    at.number_input(key="f_Delay_from_due_date").set_value(45)
    submit(at)
    assert at.metric[0].value == "Poor"


def test_key_from_streamlit_secrets_wins(monkeypatch, api_url):
    monkeypatch.setenv("API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("API_KEY", "not-this-one")
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.secrets["API_URL"], at.secrets["API_KEY"] = api_url, standin.GOOD_KEY
    at.run()
    assert "configured (from secrets)" in texts(at.sidebar)
    submit(at)
    assert at.metric[0].value == "Standard"
    assert standin.GOOD_KEY not in texts(at)


def test_api_down_message(monkeypatch):
    down = f"http://127.0.0.1:{standin.free_port()}"  # nothing listens there
    at = submit(page(monkeypatch, down, standin.GOOD_KEY))
    assert not at.metric
    assert [e.value for e in at.error] == [
        f"The API at {down} is down (connection refused). Start it with `scripts/serve.sh up`."
    ] * 2  # sidebar and form


def test_wrong_key_message(monkeypatch, api_url):
    at = submit(page(monkeypatch, api_url, "wrong-key"))
    assert not at.metric
    assert "The API refused the API key (403)" in at.error[-1].value
    assert "wrong-key" not in texts(at)


def test_missing_key_message(monkeypatch, api_url):
    at = submit(page(monkeypatch, api_url, None))
    assert "No API key configured" in at.sidebar.warning[0].value
    assert "none was sent: set API_KEY" in at.error[-1].value


def test_rate_limit_message(monkeypatch, api_url):
    at = submit(page(monkeypatch, api_url, standin.LIMITED_KEY))
    assert not at.metric
    assert at.error[-1].value == f"Request limit reached for this key (429): try again in {standin.RETRY_AFTER} s."


CSV = (
    "ID,Customer_ID,Month,Age,Occupation,Delay_from_due_date,Credit_Mix\n"
    "0x1,CUS_1,September,23_,_______,3,Good\n0x2,CUS_2,September,40,Lawyer,18,_\n0x3,CUS_3,September,51,,45,Bad\n"
)


def test_batch_upload_offers_scored_csv(monkeypatch, api_url):
    at = page(monkeypatch, api_url, standin.GOOD_KEY)
    at.file_uploader(key="batch_file").set_value(("applicants.csv", CSV.encode(), "text/csv"))
    at.run()
    at.button(key="score_batch").click().run()
    assert not at.exception and not at.error
    assert "Scored 3 rows" in at.success[0].value
    scored = at.main.dataframe[-1].value
    assert scored["predicted_credit_score"].tolist() == ["Good", "Standard", "Poor"]
    assert scored["Age"].tolist() == ["23_", "40", "51"]  # uploaded values untouched
    assert scored["model_version"].tolist() == ["3"] * 3
    assert at.get("download_button"), "no download button"


def test_batch_errors_name_the_row_and_field(monkeypatch, api_url):
    at = page(monkeypatch, api_url, standin.GOOD_KEY)
    at.file_uploader(key="batch_file").set_value(("bad.csv", CSV.replace("23_", "abc").encode(), "text/csv"))
    at.run()
    at.button(key="score_batch").click().run()
    assert at.error[-1].value == "The API refused the input (422): row 1 Age: Input should be a valid number"
    too_many = CSV + "".join(f"0x{i},CUS_{i},September,30,Lawyer,5,Good\n" for i in range(10, 14))
    at.file_uploader(key="batch_file").set_value(("big.csv", too_many.encode(), "text/csv"))
    at.run()
    at.button(key="score_batch").click().run()
    assert at.error[-1].value.startswith("Too much at once for the API (413): 7 rows: at most 5 per batch")
    assert not at.get("download_button")


def test_client_layer_against_stand_in(api_url):
    cfg = app.ApiConfig(api_url, standin.GOOD_KEY)
    assert app.model_info(cfg)["run_id"] == standin.MODEL["run_id"]
    assert app.predict(cfg, app.TYPICAL_APPLICANT)["credit_score"] == "Standard"
    batch = app.predict_batch(cfg, CSV.encode())
    assert batch["model_version"] == "3"
    assert [p["credit_score"] for p in batch["predictions"]] == ["Good", "Standard", "Poor"]
    with pytest.raises(app.ApiError, match=r"\(422\): Age: Input should be a valid number") as e:
        app.predict(cfg, {**app.TYPICAL_APPLICANT, "Age": "old"})
    assert e.value.status == 422
    with pytest.raises(app.ApiError) as e:
        app.predict(app.ApiConfig(api_url, standin.LIMITED_KEY), {})
    assert (e.value.status, e.value.retry_after) == (429, standin.RETRY_AFTER)


def test_import_does_no_work():
    "Importing the module (package, Jupyter) draws nothing, reads nothing, prints nothing."
    r = subprocess.run([sys.executable, "-c", "import credit_score.app"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stderr
