"""The API through TestClient: every endpoint and every error (no services needed).

The model is a real sklearn Pipeline (credit_score.preprocess.build_features + gradient boosting) fitted on
synthetic rows and saved as models/model.pkl + model.json, the way 05_register does.
"""

import asyncio
import hashlib
import io
import json
import logging
import threading
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from credit_score import contract, modelfile
from credit_score.api import create_app, main
from credit_score.contract import FEATURE_COLUMNS, LABEL
from credit_score.serving import predict, schema
from credit_score.serving import state as serve_state
from credit_score.serving.schema import EXAMPLE, FEATURES
from credit_score.serving.settings import ApiSettings, hash_key
from credit_score.serving.state import ModelState

from api_helpers import keys, reference_row, settings
from serving_fixtures import StandInS3
from synthetic_model import build_pipeline, make_rows, save_model_dir


@pytest.fixture(scope="session")
def fitted():
    return build_pipeline(seed=0), build_pipeline(seed=1)


@pytest.fixture
def model_dir(tmp_path, fitted):
    d = tmp_path / "models"
    save_model_dir(fitted[0], d, version="3", run_id="run-three", reference=reference_row())
    return d


@pytest.fixture
def creds():
    return keys("app", "ops")


def _client(s: ApiSettings):
    app = create_app(s)
    client = TestClient(app, raise_server_exceptions=False)
    return app, client


@pytest.fixture
def client(model_dir, creds):
    app, c = _client(settings(model_dir, creds[1]))
    with c:
        yield c
    app.state.limiter.reset()  # limits never leak from one test into the next


def H(creds, name="app"):
    return {"X-API-Key": creds[0][name]}


def kaggle_csv(n=5, extra_label=True, seed=3) -> bytes:
    df, y = make_rows(n, seed=seed)
    if extra_label:
        df[LABEL] = y
    return df.to_csv(index=False).encode()


# --- probes ---------------------------------------------------------------------------------


def test_health_needs_no_key(client):
    assert client.get("/health").json() == {"status": "ok"}


def test_ready_reports_the_verified_model(client):
    r = client.get("/ready")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "model_version": "3", "source": "local", "registry": "unknown", "detail": None}


def test_not_ready_without_a_model(tmp_path, creds):
    app, c = _client(settings(tmp_path / "nothing", creds[1]))
    with c:
        r = c.get("/ready")
        assert r.status_code == 503 and r.json()["status"] == "not ready"
        assert "could not load" in r.json()["detail"]
        assert c.post("/predict", json=EXAMPLE, headers=H(creds)).status_code == 503
        assert c.get("/model", headers=H(creds)).status_code == 503
        assert c.get("/health").status_code == 200


# --- /model and /predict --------------------------------------------------------------------------


def test_model_lineage(client, creds, model_dir):
    meta = json.loads((model_dir / "model.json").read_text())
    r = client.get("/model", headers=H(creds)).json()
    assert (r["version"], r["run_id"], r["sha256"], r["data_sha256"]) == ("3", "run-three", meta["sha256"], meta["data_sha256"])
    assert r["metrics"] == {"macro_f1": 0.61} and r["classes"] == ["Good", "Poor", "Standard"] and r["source"] == "local"
    assert "reference" not in r


def test_predict_reply_shape(client, creds):
    r = client.post("/predict", json=EXAMPLE, headers=H(creds))
    assert r.status_code == 200, r.text
    body = r.json()
    assert schema.Prediction.model_validate(body).model_dump() == body  # the documented reply model
    assert set(body) == {"credit_score", "probabilities", "model_version", "reasons"}
    assert body["credit_score"] in ("Good", "Poor", "Standard") and body["model_version"] == "3"
    assert set(body["probabilities"]) == {"Good", "Poor", "Standard"}
    assert abs(sum(body["probabilities"].values()) - 1) < 1e-3
    assert body["credit_score"] == max(body["probabilities"], key=body["probabilities"].get)
    assert len(body["reasons"]) == 3 and all(x["feature"] in FEATURES for x in body["reasons"])
    contributions = [x["contribution"] for x in body["reasons"]]
    assert contributions == sorted(contributions, reverse=True)


def test_the_class_is_the_models_own_predict(client, creds, fitted):
    "The class comes from model.predict (threshold rule of the ordinal model), not the arg-max of the probabilities."
    from credit_score.serving.predict import frame
    from credit_score.serving.schema import raw_row

    rows = [{**EXAMPLE, "Delay_from_due_date": d, "Outstanding_Debt": str(60 * d)} for d in range(0, 60, 2)]
    X = frame([raw_row(r) for r in rows])
    expected = fitted[0].predict(X)
    argmax = fitted[0].classes_[fitted[0].predict_proba(X).argmax(axis=1)]
    assert (argmax != expected).any()  # the two rules disagree somewhere in these rows
    got = [client.post("/predict", json=r, headers=H(creds)).json()["credit_score"] for r in rows]
    assert got == list(expected)
    batch = client.post("/predict/batch", json=rows, headers=H(creds)).json()["predictions"]
    assert [p["credit_score"] for p in batch] == list(expected)


def test_reasons_can_be_skipped(client, creds):
    full = client.post("/predict", json=EXAMPLE, headers=H(creds)).json()
    bare = client.post("/predict?reasons=false", json=EXAMPLE, headers=H(creds)).json()
    assert bare["reasons"] == [] and {k: v for k, v in bare.items() if k != "reasons"} == {
        k: v for k, v in full.items() if k != "reasons"
    }


def test_reasons_follow_the_model(client, creds):
    "A very late payer: the delay is the top reason, and it pushes towards Poor."
    r = client.post("/predict", json={**EXAMPLE, "Delay_from_due_date": 59, "Outstanding_Debt": "4900"}, headers=H(creds)).json()
    assert r["credit_score"] == "Poor"
    assert {x["feature"] for x in r["reasons"][:2]} <= {"Delay_from_due_date", "Outstanding_Debt"}
    assert r["reasons"][0]["contribution"] > 0.05


def test_messy_values_are_cleaned_like_training(client, creds):
    "The dataset's dirt is accepted and gives the same answer as the clean spelling."
    clean = client.post("/predict", json={**EXAMPLE, "Age": 23, "Annual_Income": 19114.12}, headers=H(creds)).json()
    dirty = client.post(
        "/predict",
        json={
            **EXAMPLE,
            "Age": "23_",
            "Annual_Income": "19114.12_",
            "Occupation": "_______",
            "Credit_Mix": "_",
            "Payment_Behaviour": "!@9#%8",
            "Monthly_Inhand_Salary": None,
            "Num_of_Loan": "-100",
            "Name": "Aaron",
            "SSN": "#F%$D@*&8",
        },
        headers=H(creds),
    )
    assert dirty.status_code == 200, dirty.text
    with_age = client.post("/predict", json={**EXAMPLE, "Age": "23_", "Annual_Income": "19114.12_"}, headers=H(creds)).json()
    assert with_age["probabilities"] == clean["probabilities"]


def test_concurrent_requests_scored_together_get_their_own_answers(client, creds, monkeypatch):
    "Requests coalesced into one predict_proba call each get exactly the answer they get alone."
    from concurrent.futures import ThreadPoolExecutor

    rows = [{**EXAMPLE, "Delay_from_due_date": d, "Outstanding_Debt": str(50 * d)} for d in range(0, 60, 4)]
    alone = [client.post("/predict", json=r, headers=H(creds)).json() for r in rows]
    sizes = []
    real = predict._score_group
    monkeypatch.setattr(predict, "_score_group", lambda b, parts: sizes.append(len(parts)) or real(b, parts))
    with ThreadPoolExecutor(8) as ex:
        together = list(ex.map(lambda r: client.post("/predict", json=r, headers=H(creds)).json(), rows * 3))
    assert together == alone * 3
    assert max(sizes) > 1  # some calls did carry several requests


def test_predictor_scores_a_loop_turn_in_calls_of_at_most_max_rows(model_dir, monkeypatch):
    "Requests queued in one loop turn share calls of at most max_rows rows; each gets its own rows; a bad one fails alone."
    bundle = serve_state.load_local(model_dir)
    rows = [schema.raw_row({**EXAMPLE, "Delay_from_due_date": d}) for d in range(0, 50, 5)]
    alone = [predict.score(bundle.model, [r]) for r in rows]
    calls, real = [], predict._score_group
    monkeypatch.setattr(predict, "_score_group", lambda b, parts: calls.append([len(p) for p in parts]) or real(b, parts))

    async def together():
        p = predict.Predictor(max_rows=4)
        p.start()
        try:
            return await asyncio.gather(
                *(p.score(bundle, [r]) for r in rows), p.score(bundle, [{"Age": "30"}]), return_exceptions=True
            )
        finally:
            await p.stop()

    *answers, bad = asyncio.run(together())
    assert calls == [[1] * 4, [1] * 4, [1] * 3]  # one loop turn queued all 11, split at 4 rows
    assert isinstance(bad, KeyError)  # the row without its fields fails, alone
    for (labels, proba), (labels1, proba1) in zip(answers, alone):
        assert labels.tolist() == labels1.tolist() and np.allclose(proba, proba1, rtol=0, atol=1e-12)  # ulps: batch vs one row


def test_take_fits_requests_into_one_call():
    q = lambda *sizes: [(None, [{}] * n, None) for n in sizes]
    assert predict._take(q(3, 3, 3), 7) == 2
    assert predict._take(q(9, 1), 7) == 1  # a request bigger than a call still goes, alone
    assert predict._take(q(1, 1), 256) == 2 and predict._take([], 256) == 0


# --- keys ---------------------------------------------------------------------------------------


def test_missing_key_is_401_and_wrong_key_403(client, creds):
    for path, call in (
        ("/predict", lambda h: client.post("/predict", json=EXAMPLE, headers=h)),
        ("/model", lambda h: client.get("/model", headers=h)),
        ("/predict/batch", lambda h: client.post("/predict/batch", json=[EXAMPLE], headers=h)),
    ):
        assert call({}).status_code == 401, path
        assert call({"X-API-Key": ""}).status_code == 401, path
        r = call({"X-API-Key": creds[0]["app"] + "x"})
        assert r.status_code == 403 and r.json() == {"detail": "invalid API key"}, path


def test_every_named_key_works(client, creds):
    for name in ("app", "ops"):
        assert client.post("/predict", json=EXAMPLE, headers=H(creds, name)).status_code == 200


def test_keys_are_stored_hashed(creds):
    s = ApiSettings(_env_file=None, api_keys=creds[1])
    assert creds[0]["app"] not in s.api_keys and hash_key(creds[0]["app"]) in s.api_keys
    with pytest.raises(ValueError, match="name twice"):
        ApiSettings(_env_file=None, api_keys=f"a:{'0' * 64},a:{'1' * 64}")


def test_production_refuses_to_start_without_keys(model_dir):
    with pytest.raises(ValueError, match="API_KEYS is empty"):
        create_app(settings(model_dir, "", app_env="production"))


def test_no_key_or_personal_field_is_logged(client, creds, caplog):
    caplog.set_level(logging.DEBUG)
    secret_name, secret_ssn = "Zebulon Quixote", "987-65-4321"
    client.post("/predict", json={**EXAMPLE, "Name": secret_name, "SSN": secret_ssn}, headers=H(creds))
    client.post("/predict", json={**EXAMPLE, "Name": secret_name, "SSN": secret_ssn, "Age": "abc"}, headers=H(creds))
    client.post("/predict", json=EXAMPLE, headers={"X-API-Key": creds[0]["app"] + "wrong"})
    client.post("/predict/batch", json=[{**EXAMPLE, "Name": secret_name, "SSN": secret_ssn}], headers=H(creds))
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "refused an unknown API key" in text  # something was logged...
    for secret in (creds[0]["app"], creds[0]["ops"], secret_name, secret_ssn):
        assert secret not in text  # ...but never a key or a personal field


# --- 422: field-level --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, field",
    [
        ({"Age": "abc"}, "Age"),
        ({"Occupation": "Astronaut"}, "Occupation"),
        ({"Type_of_Loan": "Moon Loan"}, "Type_of_Loan"),
        ({"Credit_History_Age": "long"}, "Credit_History_Age"),
        ({"Age": True}, "Age"),
        ({"Age": [1]}, "Age"),
        ({"Age": {"x": 1}}, "Age"),
        ({"Occupation": "x" * 301}, "Occupation"),
        ({"Salary": 100}, "Salary"),
        ({"Payment_Behaviour": "Very_spent"}, "Payment_Behaviour"),
    ],
)
def test_bad_fields_are_422_naming_the_field(client, creds, change, field):
    r = client.post("/predict", json={**EXAMPLE, **change}, headers=H(creds))
    assert r.status_code == 422, r.text
    assert [d["loc"] for d in r.json()["detail"]] == [["body", field]]
    assert all(set(d) == {"type", "loc", "msg"} for d in r.json()["detail"])  # the input is not echoed back


def test_missing_field_is_422_naming_it(client, creds):
    r = client.post("/predict", json={k: v for k, v in EXAMPLE.items() if k != "Outstanding_Debt"}, headers=H(creds))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "Outstanding_Debt"]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"[]",
        b"null",
        b"42",
        b'{"Age": NaN}',
        b'{"Age": Infinity}',
        b"\xff\xfe",
        b'{"Age": 1e400}',
        b"\x0b5\xdb\xbd\xff\x12l",
    ],
)  # the last: not UTF-8 (found by schemathesis)
def test_garbage_bodies_are_a_documented_422_on_the_body(client, creds, body):
    r = client.post("/predict", content=body, headers={**H(creds), "Content-Type": "application/json"})
    assert r.status_code == 422 and "Traceback" not in r.text, r.text
    assert r.json()["detail"][0]["loc"][0] == "body"


def test_a_body_that_is_not_utf8_says_so_and_other_http_errors_are_fastapis(client, creds):
    r = client.post("/predict", content=b"\x0b5\xdb\xbd\xff\x12l", headers={**H(creds), "Content-Type": "application/json"})
    assert r.json()["detail"] == [
        {"type": "json_invalid", "loc": ["body"], "msg": "the body is not UTF-8 text: send JSON encoded as UTF-8"}
    ]
    assert client.get("/nowhere").json() == {"detail": "Not Found"} and client.get("/predict").status_code == 405


def test_nan_and_infinity_values_are_refused(client, creds):
    body = json.dumps({**EXAMPLE, "Annual_Income": float("nan")}).encode()  # Python writes NaN
    r = client.post("/predict", content=body, headers={**H(creds), "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "Annual_Income"


# --- 413: body and rows ------------------------------------------------------------------------------


def test_body_over_the_limit_is_413(model_dir, creds):
    app, c = _client(settings(model_dir, creds[1], max_body_bytes=4096))
    with c:
        big = {**EXAMPLE, "Type_of_Loan": "Auto Loan, " * 400}
        assert c.post("/predict", json=big, headers=H(creds)).status_code == 413
        chunks = (b"[" + b" " * 1000 for _ in range(10))  # streamed, no Content-Length
        r = c.post("/predict/batch", content=chunks, headers={**H(creds), "Content-Type": "application/json"})
        assert r.status_code == 413
        r = c.post(
            "/predict",
            content=(json.dumps(EXAMPLE).encode() + b" " * 5000 for _ in range(1)),
            headers={**H(creds), "Content-Type": "application/json"},
        )
        assert r.status_code == 413


def test_batch_over_the_row_limit_is_413(model_dir, creds):
    app, c = _client(settings(model_dir, creds[1], max_batch_rows=4))
    with c:
        assert c.post("/predict/batch", json=[EXAMPLE] * 4, headers=H(creds)).status_code == 200
        r = c.post("/predict/batch", json=[EXAMPLE] * 5, headers=H(creds))
        assert r.status_code == 413 and "at most 4" in r.json()["detail"]
        r = c.post("/predict/batch", files={"file": ("b.csv", kaggle_csv(5), "text/csv")}, headers=H(creds))
        assert r.status_code == 413


# --- batch -------------------------------------------------------------------------------------------


def test_batch_json(client, creds):
    rows = [EXAMPLE, {**EXAMPLE, "ID": "0x2", "Delay_from_due_date": 58, "Outstanding_Debt": "4900"}]
    r = client.post("/predict/batch", json=rows, headers=H(creds))
    assert r.status_code == 200, r.text
    body = r.json()
    assert schema.BatchPrediction.model_validate(body).model_dump() == body
    assert body["rows"] == 2 and body["model_version"] == "3"
    assert [p["row"] for p in body["predictions"]] == [0, 1] and body["predictions"][1]["ID"] == "0x2"
    assert body["predictions"][1]["credit_score"] == "Poor" and body["predictions"][0]["reasons"] is None
    single = client.post("/predict", json=EXAMPLE, headers=H(creds)).json()
    assert body["predictions"][0]["probabilities"] == single["probabilities"]


def test_batch_csv_upload_and_body(client, creds):
    data = kaggle_csv(6)
    up = client.post("/predict/batch", files={"file": ("train.csv", data, "text/csv")}, headers=H(creds))
    assert up.status_code == 200, up.text
    raw = client.post("/predict/batch", content=data, headers={**H(creds), "Content-Type": "text/csv"})
    assert up.json() == raw.json() and up.json()["rows"] == 6
    no_label = client.post(
        "/predict/batch", files={"file": ("test.csv", kaggle_csv(6, extra_label=False), "text/csv")}, headers=H(creds)
    )
    assert no_label.json()["predictions"] == up.json()["predictions"]


def test_batch_reasons_on_request(client, creds):
    r = client.post("/predict/batch?reasons=true", json=[EXAMPLE], headers=H(creds)).json()
    assert len(r["predictions"][0]["reasons"]) == 3


@pytest.mark.parametrize(
    "data, msg",
    [
        (b"", "empty file"),
        (b"Age,Occupation\n23,Scientist\n", "missing column"),
        (b"\xff\xfe\x00A\x00g\x00e", "not UTF-8"),
        (b"\x00\x01\x02\x03", "binary"),
        (",".join(FEATURE_COLUMNS).encode() + b"\n", "no data rows"),
        (",".join(FEATURE_COLUMNS).encode() + b",Extra\n" + b"," * 27 + b"\n", "unexpected column"),
    ],
)
def test_bad_csv_is_422(client, creds, data, msg):
    r = client.post("/predict/batch", files={"file": ("x.csv", data, "text/csv")}, headers=H(creds))
    assert r.status_code == 422, r.text
    assert msg in r.json()["detail"][0]["msg"] and r.json()["detail"][0]["loc"][:2] == ["body", "file"]


def test_ragged_csv_rows_are_located(client, creds):
    data = kaggle_csv(3, extra_label=False).decode().splitlines()
    data[2] = data[2].rsplit(",", 3)[0]  # line 3 cut short
    r = client.post("/predict/batch", content="\n".join(data).encode(), headers={**H(creds), "Content-Type": "text/csv"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "file", "line 3"]


def test_batch_field_errors_name_row_and_field(client, creds):
    r = client.post(
        "/predict/batch", json=[EXAMPLE, {**EXAMPLE, "Age": "old"}, {**EXAMPLE, "Num_Credit_Card": False}], headers=H(creds)
    )
    assert r.status_code == 422
    assert ["body", 2, "Num_Credit_Card"] in [d["loc"] for d in r.json()["detail"]]
    r = client.post("/predict/batch", json=[EXAMPLE, {**EXAMPLE, "Age": "old"}], headers=H(creds))
    assert r.json()["detail"][0]["loc"] == ["body", 1, "Age"]


@pytest.mark.parametrize(
    "kind, body",
    [
        ("application/xml", b"<a/>"),
        ("multipart/form-data; boundary=x", b"--x\r\nbroken"),
        ("application/json", b'{"rows": 3}'),
        ("application/json", b"[1, 2]"),
    ],
)
def test_batch_odd_bodies_are_4xx(client, creds, kind, body):
    r = client.post("/predict/batch", content=body, headers={**H(creds), "Content-Type": kind})
    assert r.status_code == 422, r.text


# --- 429 -------------------------------------------------------------------------------------------


def test_rate_limit_per_key_name_with_retry_after(model_dir, creds):
    app, c = _client(settings(model_dir, creds[1], rate_limit="3/minute", batch_rate_limit="2/minute"))
    with c:
        codes = [c.post("/predict", json=EXAMPLE, headers=H(creds, "app")).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = c.post("/predict", json=EXAMPLE, headers=H(creds, "app"))
        assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 61
        assert "rate limit exceeded" in r.json()["detail"]
        assert c.post("/predict", json=EXAMPLE, headers=H(creds, "ops")).status_code == 200  # another key: its own budget
        assert [c.post("/predict/batch", json=[EXAMPLE], headers=H(creds)).status_code for _ in range(3)] == [200, 200, 429]
        app.state.limiter.reset()
        assert c.post("/predict", json=EXAMPLE, headers=H(creds, "app")).status_code == 200


def test_limit_is_by_key_name_not_client_ip(model_dir, creds):
    "Two clients behind one IP with different keys do not share a budget; one key from two IPs does."
    app, c = _client(settings(model_dir, creds[1], rate_limit="2/minute"))
    with c:
        for ip in ("10.0.0.1", "10.0.0.2"):
            c.post("/predict", json=EXAMPLE, headers={**H(creds), "X-Forwarded-For": ip})
        assert c.post("/predict", json=EXAMPLE, headers=H(creds)).status_code == 429
        assert c.post("/predict", json=EXAMPLE, headers=H(creds, "ops")).status_code == 200


# --- model verification, fallback, hot swap ---------------------------------------------------------------


def test_sha_mismatch_is_refused_not_ready(model_dir, creds, caplog):
    pkl = model_dir / "model.pkl"
    pkl.write_bytes(pkl.read_bytes()[:-1] + b"\x00")
    app, c = _client(settings(model_dir, creds[1]))
    with caplog.at_level(logging.ERROR, logger="credit_score.api"), c:
        r = c.get("/ready")
        assert r.status_code == 503 and "refusing to load" in r.json()["detail"]
        assert c.post("/predict", json=EXAMPLE, headers=H(creds)).status_code == 503
    assert any("MODEL REFUSED" in m and "does not match" in m for m in caplog.messages)


def test_unpickle_happens_only_after_the_hash_check(model_dir, monkeypatch):
    calls = []
    monkeypatch.setattr(modelfile, "unpickle", lambda b: calls.append(b))
    meta = json.loads((model_dir / "model.json").read_text())
    (model_dir / "model.json").write_text(json.dumps({**meta, "sha256": "f" * 64}))
    with pytest.raises(modelfile.ModelIntegrityError):
        serve_state.load_local(model_dir)
    assert calls == []


class FakeRegistry:
    "Stands in for MLflow's REST answers (champion, download) in the offline tests."

    def __init__(self, blobs: dict, alias: str):
        self.blobs, self.alias, self.down, self.tags = blobs, alias, False, {}

    def champion(self, s):
        if self.down:
            raise serve_state.RegistryUnavailable("MLflow at test unreachable (ConnectError)")
        sha = self.tags.get(self.alias) or hashlib.sha256(self.blobs[self.alias]).hexdigest()
        return {
            "version": self.alias,
            "run_id": f"run-{self.alias}",
            "source_uri": "",
            "tags": {"sha256": sha, "data_sha256": "d" * 64},
        }

    def download(self, s, version):
        return self.blobs[version]


@pytest.fixture
def registry(fitted, monkeypatch):
    import pickle

    reg = FakeRegistry({"1": pickle.dumps(fitted[0]), "2": pickle.dumps(fitted[1])}, "1")
    monkeypatch.setattr(serve_state, "champion", reg.champion)
    monkeypatch.setattr(serve_state, "download_model_file", reg.download)
    monkeypatch.setattr(
        serve_state, "run_metrics", lambda *a, **k: (_ for _ in ()).throw(serve_state.RegistryUnavailable("no runs api"))
    )
    return reg


def test_registry_model_is_served_and_fallback_is_degraded(model_dir, creds, registry):
    app, c = _client(settings(model_dir, creds[1], model_source="auto"))
    with c:
        assert c.get("/ready").json() | {"detail": None} == {
            "status": "ready",
            "model_version": "1",
            "source": "mlflow",
            "registry": "ok",
            "detail": None,
        }
        registry.down = True
        app.state.model_state.refresh()  # MLflow down during serving: keep serving, degraded
        r = c.get("/ready").json()
        assert (r["status"], r["model_version"], r["source"]) == ("degraded", "1", "mlflow")
        assert c.post("/predict", json=EXAMPLE, headers=H(creds)).status_code == 200
    app2, c2 = _client(settings(model_dir, creds[1], model_source="auto"))
    with c2:  # MLflow down at start: the DVC-pinned model, degraded
        r = c2.get("/ready").json()
        assert (r["status"], r["model_version"], r["source"]) == ("degraded", "3", "local")
        assert "MLflow unreachable" in r["detail"]
        assert c2.post("/predict", json=EXAMPLE, headers=H(creds)).json()["model_version"] == "3"
        registry.down = False
        app2.state.model_state.refresh()  # MLflow back: the champion replaces the fallback
        assert c2.get("/ready").json()["source"] == "mlflow"


def test_mismatched_new_version_is_refused_and_previous_kept(model_dir, creds, registry, caplog):
    app, c = _client(settings(model_dir, creds[1], model_source="mlflow"))
    with c, caplog.at_level(logging.ERROR, logger="credit_score.api"):
        registry.alias, registry.tags["2"] = "2", "0" * 64
        app.state.model_state.refresh()
        r = c.get("/ready").json()
        assert r["status"] == "ready" and r["model_version"] == "1" and "refused" in r["detail"]
        assert c.post("/predict", json=EXAMPLE, headers=H(creds)).json()["model_version"] == "1"
        app.state.model_state.refresh()  # not downloaded again
        assert sum("MODEL REFUSED" in m for m in caplog.messages) == 1


def test_registry_mismatch_at_start_is_not_ready(model_dir, creds, registry):
    registry.tags["1"] = "0" * 64
    app, c = _client(settings(model_dir, creds[1], model_source="auto"))
    with c:
        r = c.get("/ready")
        assert r.status_code == 503 and "refused" in r.json()["detail"]


def test_hot_swap_under_load_fails_no_request(model_dir, creds, registry):
    app, c = _client(settings(model_dir, creds[1], model_source="mlflow"))
    state: ModelState = app.state.model_state
    results, stop = [], threading.Event()

    def hammer():
        while not stop.is_set():
            r = c.post("/predict", json=EXAMPLE, headers=H(creds))
            results.append((r.status_code, r.json().get("model_version")))

    with c:
        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        for v in ("2", "1", "2", "1", "2"):
            registry.alias = v
            state.refresh()
            assert state.bundle.version == v
            # each version answers before the next swap: on a busy machine all swaps once ended before any reply
            seen, deadline = len(results), time.monotonic() + 30
            while not any(got == v for _, got in results[seen:]) and time.monotonic() < deadline:
                time.sleep(0.01)
        stop.set()
        for t in threads:
            t.join()
    assert results and {code for code, _ in results} == {200}
    assert {v for _, v in results} == {"1", "2"}


def _s3_state(model_dir, creds, bucket: StandInS3, monkeypatch):
    "An app in MODEL_SOURCE=s3 reading `bucket`; any call to the MLflow registry fails the test."
    monkeypatch.setattr(serve_state, "registry", lambda *a, **k: pytest.fail("MODEL_SOURCE=s3 called the MLflow registry"))
    monkeypatch.setattr(serve_state, "champion", lambda *a, **k: pytest.fail("MODEL_SOURCE=s3 asked MLflow for the champion"))
    s = settings(model_dir, creds[1], model_source="s3", s3_bucket="demo")
    state = ModelState(s)
    state.s3 = bucket
    app = create_app(s, state)
    return app, TestClient(app, raise_server_exceptions=False), state


def test_s3_source_without_a_pointer_is_not_ready_and_says_why(model_dir, creds, monkeypatch):
    app, c, state = _s3_state(model_dir, creds, StandInS3(), monkeypatch)
    with c:
        assert c.get("/health").json() == {"status": "ok"}
        r = c.get("/ready")
        assert r.status_code == 503 and r.json()["registry"] == "no champion"
        assert (
            "no champion pointer at s3://demo/models/champion/champion.json (NoSuchKey): no champion promoted yet"
            in r.json()["detail"]
        )
        assert c.post("/predict", json=EXAMPLE, headers=H(creds)).status_code == 503


@pytest.mark.parametrize(
    "pointer, msg",
    [
        (b"[1, 2]", "is not a JSON object"),
        (b"{", "is not a JSON object"),
        (b'{"version": 4, "sha256": ""}', "lacks sha256, model_key, meta_key"),
    ],
)
def test_s3_source_with_an_unusable_pointer_is_not_ready(model_dir, creds, monkeypatch, pointer, msg):
    bucket = StandInS3()
    bucket.objects[modelfile.POINTER_KEY] = pointer
    app, c, state = _s3_state(model_dir, creds, bucket, monkeypatch)
    with c:
        r = c.get("/ready")
        assert r.status_code == 503 and msg in r.json()["detail"]


def test_s3_source_serves_swaps_refuses_and_survives_an_outage(model_dir, creds, fitted, tmp_path, monkeypatch, caplog):
    bucket = StandInS3()
    first = bucket.publish(model_dir, 3)
    app, c, state = _s3_state(model_dir, creds, bucket, monkeypatch)
    with c, caplog.at_level(logging.ERROR, logger="credit_score.api"):
        assert c.get("/ready").json() == {
            "status": "ready",
            "model_version": "3",
            "source": "s3",
            "registry": "ok",
            "detail": None,
        }
        m = c.get("/model", headers=H(creds)).json()
        assert (m["version"], m["sha256"], m["source"], m["model_file"]) == (
            "3",
            first["sha256"],
            "s3",
            "s3://demo/models/champion/3/model.pkl",
        )
        gets = len(bucket.gets)
        state.refresh()  # unchanged: one GET of the pointer, no download
        assert bucket.gets[gets:] == [modelfile.POINTER_KEY]
        # a pointer whose sha256 does not match its file: refused, once, and the old model stays
        other = tmp_path / "other"
        save_model_dir(fitted[1], other, version="4")
        bucket.publish(other, 4)
        bucket.objects["models/champion/4/model.pkl"] += b"\0"
        state.refresh()
        state.refresh()
        r = c.get("/ready").json()
        assert (
            (r["status"], r["model_version"]) == ("ready", "3") and "refused" in r["detail"] and "does not match" in r["detail"]
        )
        assert c.post("/predict", json=EXAMPLE, headers=H(creds)).json()["model_version"] == "3"
        assert sum("MODEL REFUSED s3://demo/models/champion/4/model.pkl" in m for m in caplog.messages) == 1
        # a model.json that describes another model than the pointer: refused too
        bucket.publish(other, 5, sha256="e" * 64)
        state.refresh()
        assert "describes version 5" in c.get("/ready").json()["detail"] and state.bundle.version == "3"
        # S3 unreachable: keep serving, degraded, and say why
        from botocore.exceptions import EndpointConnectionError

        bucket.error = EndpointConnectionError(endpoint_url="http://s3.test")
        state.refresh()
        r = c.get("/ready").json()
        assert (r["status"], r["model_version"], r["registry"]) == ("degraded", "3", "unreachable")
        assert "unreachable (EndpointConnectionError): serving the model loaded before" in r["detail"]
        assert c.post("/predict", json=EXAMPLE, headers=H(creds)).json()["model_version"] == "3"
        # back, with a good new version: swapped
        bucket.error = None
        save_model_dir(fitted[1], other, version="6")
        bucket.publish(other, 6)
        state.refresh()
        assert c.get("/ready").json() == {
            "status": "ready",
            "model_version": "6",
            "source": "s3",
            "registry": "ok",
            "detail": None,
        }
        assert c.post("/predict", json=EXAMPLE, headers=H(creds)).json()["model_version"] == "6"


def test_s3_errors_other_than_403_404_mean_unreachable(model_dir, creds):
    from botocore.exceptions import ClientError

    bucket, s = StandInS3(), settings(model_dir, creds[1], model_source="s3", s3_bucket="demo")
    for status, code in ((403, "AccessDenied"), (404, "NoSuchBucket")):
        bucket.error = ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")
        with pytest.raises(LookupError, match=f"no champion pointer at s3://demo/models/champion/champion.json \\({code}\\)"):
            serve_state.s3_champion(s, bucket)
    bucket.error = ClientError({"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "GetObject")
    with pytest.raises(serve_state.RegistryUnavailable, match="answered SlowDown"):
        serve_state.s3_champion(s, bucket)


# --- OpenAPI, CLI, import ------------------------------------------------------------------------------


def test_openapi_documents_everything(client):
    spec = client.get("/openapi.json").json()
    assert {"/predict", "/predict/batch", "/health", "/ready", "/model"} <= set(spec["paths"])
    assert spec["components"]["schemas"]["Applicant"]["examples"][0]["Age"] == "23"
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    codes = set(spec["paths"]["/predict"]["post"]["responses"])
    assert {"200", "401", "403", "413", "422", "429", "503"} <= codes
    assert {"application/json", "multipart/form-data", "text/csv"} <= set(
        spec["paths"]["/predict/batch"]["post"]["requestBody"]["content"]
    )
    assert client.get("/docs").status_code == 200


def test_hash_key_cli_prints_the_key_once(capsys, monkeypatch):
    assert main(["hash-key", "app"]) == 0
    out = capsys.readouterr().out
    key = out.split("safely): ")[1].split()[0]
    assert f"app:{hash_key(key)}" in out and out.count(key) == 1
    monkeypatch.setattr("sys.stdin", io.StringIO("given-key\n"))
    assert main(["hash-key", "ci", "--stdin"]) == 0
    assert f"ci:{hash_key('given-key')}" in capsys.readouterr().out


def test_import_does_no_work():
    import subprocess
    import sys

    code = (
        "import threading, logging; import credit_score.api as a; "
        "assert threading.active_count() == 1; assert not logging.getLogger().handlers; "
        "assert callable(a.create_app)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"PATH": "/usr/bin", "HOME": "/tmp"})


def test_serving_imports_no_training_evaluation_or_registration():
    "A fresh interpreter that imports the API (and loads nothing) has no training, MLflow or plotting module in sys.modules."
    import subprocess
    import sys

    code = (
        "import sys, credit_score.api, credit_score.serving.routes; "
        "bad = sorted(m for m in sys.modules if m.startswith(('credit_score.train', 'credit_score.evaluate', "
        "'credit_score.register', 'credit_score.eda', 'mlflow', 'matplotlib', 'tqdm'))); "
        "assert not bad, bad"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]


def test_routes_take_their_inputs_from_overridable_dependencies(model_dir, creds):
    "Every input of an endpoint is a dependency: a test swaps the key check, the served model and the scorer without globals."
    from credit_score.serving import routes

    app = create_app(settings(model_dir, creds[1]))
    other = serve_state.load_local(model_dir)
    other = type(other)(other.model, {**other.meta, "version": "override"}, other.reference)
    app.dependency_overrides |= {routes.api_key: lambda: "tester", routes.served_model: lambda: other}
    with TestClient(app) as c:
        r = c.post("/predict", json=EXAMPLE)  # no key sent: the overridden check lets it through
        assert r.status_code == 200 and r.json()["model_version"] == "override"
        app.dependency_overrides.clear()
        assert c.post("/predict", json=EXAMPLE).status_code == 401
        assert c.post("/predict", json=EXAMPLE, headers=H(creds)).json()["model_version"] == "3"
    app.state.limiter.reset()


def test_batch_json_fast_path_reads_values_as_the_checked_path_does():
    "A valid list is validated straight from the bytes; the values must come out as json.loads + validation gives them."
    import json

    odd = [
        {
            **EXAMPLE,
            "Age": 23,
            "Annual_Income": 1e5,
            "Monthly_Inhand_Salary": 1824.8400000000001,
            "Num_of_Loan": None,
            "Occupation": "Scientist \u00e9",
            "Num_Bank_Accounts": -0.0,
            "Interest_Rate": 12345678901234567890,
        },
        EXAMPLE,
    ]
    body = json.dumps(odd).encode()
    rows, err = schema.rows_from_json(body, 10)
    assert err is None
    assert rows == [schema.raw_row(r) for r in schema._rows_adapter.validate_python(json.loads(body))]
    _, err = schema.rows_from_json(body, 1)  # too many rows: still the 413
    assert err.status_code == 413


def test_score_without_a_frame_matches_the_pipeline(fitted):
    "score() hands RawFeatures plain columns instead of a DataFrame: the same classes and probabilities."
    rows = [schema.raw_row({**EXAMPLE, "Age": str(20 + i), "Credit_Mix": ["Good", "_", "Bad"][i % 3]}) for i in range(7)]
    labels, proba = predict.score(fitted[0], rows)
    np.testing.assert_array_equal(proba, fitted[0].predict_proba(predict.frame(rows)))
    np.testing.assert_array_equal(labels, fitted[0].predict(predict.frame(rows)))
    assert {c: list(v) for c, v in predict.columns(rows).items()} == {c: [r[c] for r in rows] for c in contract.FEATURE_COLUMNS}


def test_score_asks_predict_with_proba_when_the_estimator_offers_it(fitted):
    "One estimator pass instead of two when the estimator gives its classes and probabilities together."
    from sklearn.pipeline import Pipeline

    est = fitted[0].steps[-1][1]

    class OnePass:
        classes_ = est.classes_

        def predict_proba(self, X):
            raise AssertionError("predict_proba must not be called")

        def predict(self, X):
            raise AssertionError("predict must not be called")

        def predict_with_proba(self, X):
            proba = est.predict_proba(X)
            return np.asarray(self.classes_)[proba.argmax(axis=1)], proba

    model = Pipeline([("features", fitted[0].steps[0][1]), ("model", OnePass())])
    labels, proba = predict.score(model, [schema.raw_row(EXAMPLE)] * 3)
    assert list(labels) == [est.classes_[proba[0].argmax()]] * 3
