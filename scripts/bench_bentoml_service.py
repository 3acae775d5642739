"""The BentoML baseline of scripts/bench_api.py: the same pickle bytes, class and probabilities, one worker.

Runs in its own virtual environment (bentoml is not a dependency of this project); bench_api.py creates it and
starts `bentoml serve bench_bentoml_service:CreditScore --working-dir scripts` with:
  BENCH_MODEL_PKL      path of the model.pkl that this API serves (downloaded from MLflow by the benchmark)
  BENCH_MODEL_SHA256   its registered sha256: the service refuses other bytes
  BENCH_MAX_BATCH_SIZE, BENCH_MAX_LATENCY_MS   adaptive batching of /predict_batched
Endpoints: POST /predict takes one raw row (a JSON object, the body of this API's /predict), one model call per
request; POST /predict_batched takes a JSON list of rows, and BentoML's adaptive batching merges concurrent
requests' lists into one model call. Both answer {"credit_score", "probabilities"} per row.
"""

import hashlib
import os
from pathlib import Path

import bentoml
from threadpoolctl import threadpool_limits

from credit_score.contract import FEATURE_COLUMNS
from credit_score.modelfile import unpickle
from credit_score.preprocess import RawFeatures

MAX_BATCH_SIZE = int(os.environ.get("BENCH_MAX_BATCH_SIZE", "32"))
MAX_LATENCY_MS = int(os.environ.get("BENCH_MAX_LATENCY_MS", "100"))


def score(model, rows: list[dict]) -> tuple:
    "Classes and probabilities of raw rows, featurising once: the fast path of credit_score.serving.predict.score, no frame."
    *steps, (_, last) = model.steps
    X = {c: tuple(r.get(c, "") for r in rows) for c in FEATURE_COLUMNS} if isinstance(steps[0][1], RawFeatures) else None
    if X is None:
        import pandas as pd

        X = pd.DataFrame([[r.get(c, "") for c in FEATURE_COLUMNS] for r in rows], columns=list(FEATURE_COLUMNS), dtype=object)
    for _, step in steps:
        if step not in (None, "passthrough"):
            X = step.transform(X)
    both = getattr(last, "predict_with_proba", None)  # as credit_score.serving.predict.score: one pass, calibrated or not
    if both:
        return both(X)
    return last.predict(X), last.predict_proba(X)


@bentoml.service(
    workers=1,
    traffic={"timeout": 60},
    logging={"access": {"enabled": False}},  # like the API under test (uvicorn --no-access-log)
    metrics={"enabled": False},
)
class CreditScore:
    def __init__(self) -> None:
        blob = Path(os.environ["BENCH_MODEL_PKL"]).read_bytes()
        expected = os.environ.get("BENCH_MODEL_SHA256")
        if expected and hashlib.sha256(blob).hexdigest() != expected:
            raise RuntimeError("BENCH_MODEL_PKL does not match BENCH_MODEL_SHA256")
        threadpool_limits(1)  # one native thread, as the API scores (MODEL_THREADS=1)
        self.model = unpickle(blob)  # maps pickled credit_score.train names to credit_score.model
        self.classes = [str(c) for c in self.model.classes_]

    def answer(self, rows: list[dict]) -> list[dict]:
        labels, proba = score(self.model, rows)
        return [
            {"credit_score": str(label), "probabilities": {c: round(float(x), 4) for c, x in zip(self.classes, p)}}
            for label, p in zip(labels, proba)
        ]

    # async: the ~1 ms model call runs on the event loop; a sync method goes through BentoML's thread pool,
    # which measured slower here (plain 564 against 703 req/s, concurrency 8, same box)
    @bentoml.api
    async def predict(self, row: dict, /) -> dict:
        return self.answer([row])[0]

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH_SIZE, max_latency_ms=MAX_LATENCY_MS)
    async def predict_batched(self, rows: list[dict], /) -> list[dict]:
        return self.answer(rows)
