"Stand-ins for the serving notebooks and tests: a tiny real pipeline on made-up rows, and an S3 client holding objects in a dict."

import hashlib
import io
import json
import pickle
from pathlib import Path

import numpy as np
from botocore.exceptions import ClientError
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline

from credit_score import preprocess as pp
from credit_score.modelfile import POINTER_KEY
from credit_score.serving.predict import frame
from credit_score.serving.schema import EXAMPLE, as_text


def demo_model_dir(d: Path) -> Path:
    "Fit a tiny real pipeline on synthetic rows and write models/model.pkl + model.json into `d`."
    rng = np.random.default_rng(0)
    rows = [
        {
            **{k: as_text(v) for k, v in EXAMPLE.items()},
            "Delay_from_due_date": str(int(x)),
            "Outstanding_Debt": f"{y:.2f}",
            "Credit_Mix": m,
            "Age": str(int(age)),
        }
        for x, y, m, age in zip(
            rng.integers(0, 60, 300),
            rng.uniform(0, 5000, 300),
            rng.choice(["Good", "Bad", "Standard"], 300),
            rng.integers(18, 70, 300),
        )
    ]
    X = frame(rows)
    s = X["Delay_from_due_date"].astype(float) / 20 + X["Outstanding_Debt"].astype(float) / 1500
    y = np.where(s < 1.2, "Good", np.where(s < 2.8, "Standard", "Poor"))
    model = Pipeline([("features", pp.build_features()), ("model", HistGradientBoostingClassifier(max_iter=20))]).fit(X, y)
    blob = pickle.dumps(model)
    (d / "model.pkl").write_bytes(blob)
    meta = {
        "name": "credit-score",
        "version": "1",
        "run_id": "demo",
        "sha256": hashlib.sha256(blob).hexdigest(),
        "data_sha256": "d" * 64,
        "metrics": {"macro_f1": 0.6},
        "classes": ["Good", "Poor", "Standard"],
        "reference": {"Delay_from_due_date": "20", "Outstanding_Debt": "1500"},
    }
    (d / "model.json").write_text(json.dumps(meta))
    return d


class StandInS3:
    "Objects in a dict, answered like S3's get_object (404 NoSuchKey when missing; `error`, when set, for every call)."

    def __init__(self, objects=None):
        self.objects, self.error, self.gets = dict(objects or {}), None, []

    def get_object(self, Bucket, Key):
        self.gets.append(Key)
        if self.error:
            raise self.error
        if Key not in self.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey"}, "ResponseMetadata": {"HTTPStatusCode": 404}}, "GetObject")
        return {"Body": io.BytesIO(self.objects[Key])}

    def publish(self, model_dir: Path, version: int, **changes) -> dict:
        "model_dir's files under models/champion/<version>/, then the pointer to them (with `changes` applied to it)."
        meta = {**json.loads((model_dir / "model.json").read_text()), "version": version}
        folder = f"models/champion/{version}/"
        self.objects[folder + "model.pkl"] = (model_dir / "model.pkl").read_bytes()
        self.objects[folder + "model.json"] = json.dumps(meta).encode()
        pointer = {
            "name": "credit-score",
            "version": version,
            "sha256": meta["sha256"],
            "model_key": folder + "model.pkl",
            "meta_key": folder + "model.json",
            "promoted_at": "2026-01-01T00:00:00+00:00",
            **changes,
        }
        self.objects[POINTER_KEY] = json.dumps(pointer).encode()
        return pointer
