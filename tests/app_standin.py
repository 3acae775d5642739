"""A tiny stand-in for the credit-score API (contract of nbs/06_api.ipynb), for the app's tests only.

It answers like the real service (same paths, header, reply shapes and error codes) with canned
predictions, so the Streamlit app can be tested without a model:
- key GOOD_KEY: normal answers; LIMITED_KEY: always 429 with Retry-After; any other key 403; none 401;
- `Age` that is not a number (after stripping Kaggle's underscores): 422 naming the field;
- more than MAX_BATCH_ROWS rows: 413.
`serve()` runs it with uvicorn in a thread on a free loopback port and returns its URL.
"""

import csv
import io
import threading
import time

import uvicorn
from fastapi import FastAPI, Header, Request, UploadFile
from fastapi.responses import JSONResponse

from support import free_port

GOOD_KEY, LIMITED_KEY, RETRY_AFTER, MAX_BATCH_ROWS = "good-key-for-tests", "limited-key", 42, 5
MODEL = {
    "name": "credit-score",
    "version": "3",
    "run_id": "0123456789abcdef0123456789abcdef",
    "data_sha256": "c079c569d44cfdf42e9795b373f4e73b3119b38421e20de50ea316c98bcd1ff7",
    "git_commit": "6f0bc2c0000000000000000000000000000000",
    "metrics": {"macro_f1": 0.59},
}


def _score(row: dict) -> dict:
    "A canned, deterministic prediction: more days late means a worse class."
    delay = float(str(row.get("Delay_from_due_date") or 0).strip("_") or 0)
    cls = "Good" if delay < 10 else "Standard" if delay < 30 else "Poor"
    probs = {c: (0.7 if c == cls else 0.15) for c in ("Good", "Poor", "Standard")}
    return {
        "credit_score": cls,
        "probabilities": probs,
        "model_version": MODEL["version"],
        "reasons": [
            {"feature": "Delay_from_due_date", "value": delay, "contribution": 0.08},
            {"feature": "Credit_Mix", "value": row.get("Credit_Mix"), "contribution": -0.03},
        ],
    }


def _bad_fields(row: dict, where: list) -> list:
    age = str(row.get("Age", "")).strip("_")
    try:
        float(age or 0)
        return []
    except ValueError:
        return [{"loc": where + ["Age"], "msg": "Input should be a valid number", "type": "float_parsing"}]


def create_app() -> FastAPI:
    app = FastAPI()

    def auth(key):
        if key is None:
            return JSONResponse({"detail": "Missing API key (X-API-Key header)"}, 401)
        if key == LIMITED_KEY:
            return JSONResponse({"detail": "Rate limit exceeded: 5 per 1 minute"}, 429, headers={"Retry-After": str(RETRY_AFTER)})
        if key != GOOD_KEY:
            return JSONResponse({"detail": "Invalid API key"}, 403)

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.get("/model")
    def model(x_api_key: str | None = Header(None)):
        return auth(x_api_key) or MODEL

    @app.post("/predict")
    async def predict(request: Request, x_api_key: str | None = Header(None)):
        if err := auth(x_api_key):
            return err
        row = await request.json()
        if bad := _bad_fields(row, ["body"]):
            return JSONResponse({"detail": bad}, 422)
        return _score(row)

    @app.post("/predict/batch")
    async def batch(file: UploadFile, x_api_key: str | None = Header(None)):
        if err := auth(x_api_key):
            return err
        rows = list(csv.DictReader(io.StringIO((await file.read()).decode())))
        if len(rows) > MAX_BATCH_ROWS:
            return JSONResponse({"detail": f"{len(rows)} rows: at most {MAX_BATCH_ROWS} per batch"}, 413)
        bad = [e for i, r in enumerate(rows) for e in _bad_fields(r, ["body", i])]
        if bad:
            return JSONResponse({"detail": bad}, 422)
        preds = [
            {"row": i, "ID": r.get("ID"), **{k: v for k, v in _score(r).items() if k != "model_version"}}
            for i, r in enumerate(rows)
        ]
        return {"model_version": MODEL["version"], "rows": len(rows), "predictions": preds}

    return app


def serve() -> tuple[str, uvicorn.Server]:
    "Start the stand-in in a daemon thread; return its URL and the server (set .should_exit to stop)."
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server
