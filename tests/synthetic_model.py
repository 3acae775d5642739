"""A small *real* sklearn model with the serving contract of the credit-score champion, for API tests and benchmarks.

The serving contract (checked by credit_score.api.check_model): an sklearn Pipeline ("features" -> "model") that takes a DataFrame of the raw
Kaggle feature columns as text (`23_`, `22 Years and 1 Months`, `_______`), has predict_proba and
classes_ == ['Good', 'Poor', 'Standard'], saved as models/model.pkl + models/model.json.
When credit_score.preprocess exists, `build_pipeline()` uses its real `build_features()`; until then (or with
`real=False`) a small stand-in featurizer defined here. This module is imported by pickle as `synthetic_model`,
so the tests directory must be on sys.path (pytest puts it there; subprocesses get PYTHONPATH=tests).
"""

import hashlib
import json
import pickle
import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from credit_score.contract import FEATURE_COLUMNS
from credit_score.contract import NUMERIC_COLUMNS as NUMERIC

CATEGORIES = {
    "Occupation": ("Scientist", "Teacher", "Engineer", "Lawyer", "Doctor", "_______"),
    "Credit_Mix": ("Good", "Standard", "Bad", "_"),
    "Payment_of_Min_Amount": ("Yes", "No", "NM"),
    "Payment_Behaviour": (
        "High_spent_Small_value_payments",
        "Low_spent_Large_value_payments",
        "Low_spent_Small_value_payments",
        "!@9#%8",
    ),
}
MISSING = ("", "NA", "nan", "None", "_")
_HISTORY = re.compile(r"^\s*(\d+)\s+Years?\s+and\s+(\d+)\s+Months?\s*$")


def _number(col: str, v) -> float:
    "Raw text to a number: strip the Kaggle underscores; missing markers are NaN; anything else is refused."
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return np.nan
    s = str(v).strip().strip("_")
    if s in MISSING:
        return np.nan
    try:
        return float(s)
    except ValueError:
        raise ValueError(f"{col}: cannot read {str(v)[:40]!r} as a number") from None


def _history(v) -> float:
    s = "" if v is None else str(v)
    if s.strip() in MISSING:
        return np.nan
    m = _HISTORY.match(s)
    if not m:
        try:
            return float(s)  # already cleaned (months)
        except ValueError:
            raise ValueError(f"Credit_History_Age: cannot read {s[:40]!r}") from None
    return int(m[1]) * 12 + int(m[2])


def synthetic_features(df: pd.DataFrame) -> np.ndarray:
    "The stand-in featurizer: numbers, history months, category codes, loan count. Missing columns are NaN."
    cols = []
    for c in NUMERIC:
        vals = df[c] if c in df else [None] * len(df)
        cols.append([_number(c, v) for v in vals])
    cols.append([_history(v) for v in (df["Credit_History_Age"] if "Credit_History_Age" in df else [None] * len(df))])
    for c, cats in CATEGORIES.items():
        vals = df[c] if c in df else [None] * len(df)
        cols.append([float(cats.index(v)) if v in cats else np.nan for v in vals])
    loans = df["Type_of_Loan"] if "Type_of_Loan" in df else [""] * len(df)
    cols.append([float(len([p for p in re.split(r",\s*(?:and\s+)?", str(v or "")) if p.strip()])) for v in loans])
    return np.asarray(cols, dtype=float).T


def make_rows(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    "Synthetic raw rows (text, with Kaggle-like dirt) and a label that depends on delay, debt and credit mix."
    rng = np.random.default_rng(seed)
    delay, debt = rng.integers(0, 60, n), rng.uniform(0, 5000, n)
    mix = rng.choice(CATEGORIES["Credit_Mix"], n)
    rows = {
        "ID": [f"0x{i:x}" for i in range(n)],
        "Customer_ID": [f"CUS_0x{i:x}" for i in range(n)],
        "Month": rng.choice(["January", "August"], n),
        "Name": [f"Person {i}" for i in range(n)],
        "Age": [f"{a}_" if i % 7 == 0 else str(a) for i, a in enumerate(rng.integers(18, 70, n))],
        "SSN": [f"{rng.integers(100, 999)}-{rng.integers(10, 99)}-{rng.integers(1000, 9999)}" for _ in range(n)],
        "Credit_History_Age": [f"{y} Years and {m} Months" for y, m in zip(rng.integers(0, 30, n), rng.integers(0, 12, n))],
        "Type_of_Loan": rng.choice(["Auto Loan", "Auto Loan, and Personal Loan", "Not Specified", ""], n),
        "Delay_from_due_date": delay.astype(str),
        "Outstanding_Debt": np.round(debt, 2).astype(str),
        "Credit_Mix": mix,
    }
    for c in NUMERIC:
        if c not in rows:
            rows[c] = np.round(rng.uniform(0, 100, n), 2).astype(str)
    for c, cats in CATEGORIES.items():
        if c not in rows:
            rows[c] = rng.choice(cats, n)
    df = pd.DataFrame({c: rows[c] for c in FEATURE_COLUMNS}).astype(str)
    df.loc[rng.random(n) < 0.05, "Monthly_Inhand_Salary"] = ""
    score = delay / 20 + debt / 1500 + (mix == "Bad") * 1.5 - (mix == "Good") * 1.5 + rng.normal(0, 0.5, n)
    y = np.where(score < 1.2, "Good", np.where(score < 2.8, "Standard", "Poor"))
    return df, y


def real_build_features():
    "credit_score.preprocess.build_features when it exists, else None."
    try:
        from credit_score.preprocess import build_features
    except ImportError:
        return None
    return build_features


def real_estimator(seed: int):
    "The champion's kind of estimator (03_train's monotone ordinal HGB with decision thresholds), small; None if absent."
    try:
        from credit_score.train import make_estimator
    except ImportError:
        return None
    return make_estimator(
        "ordinal_hgb",
        {"max_iter": 40, "max_leaf_nodes": 15, "thresholds": [0.4, 0.55]},
        seed,
        monotonic={"Delay_from_due_date": -1, "Outstanding_Debt": -1},
    )


def build_pipeline(real: bool | None = None, seed: int = 0) -> Pipeline:
    "A fitted Pipeline(features -> model) on synthetic rows; `real`: the project's feature step and estimator (default: if present)."
    bf = real_build_features()
    real = bf is not None if real is None else real
    features = bf() if real else FunctionTransformer(synthetic_features)
    est = (real_estimator(seed) if real else None) or HistGradientBoostingClassifier(max_iter=40, max_depth=4, random_state=seed)
    X, y = make_rows(seed=seed)
    return Pipeline([("features", features), ("model", est)]).fit(X, y)


def sha256_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def save_model_dir(model, model_dir: Path, version: str = "1", run_id: str = "local-run", **extra) -> dict:
    "Write model.pkl (plain pickle) and model.json (the 05_register schema) into `model_dir`; return the json."
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    blob = pickle.dumps(model)
    (model_dir / "model.pkl").write_bytes(blob)
    meta = {
        "name": "credit-score",
        "version": str(version),
        "run_id": run_id,
        "model_uri": f"models:/credit-score/{version}",
        "sha256": sha256_bytes(blob),
        "data_sha256": "d" * 64,
        "git_commit": "0" * 40,
        "metrics": {"macro_f1": 0.61},
        "classes": [str(c) for c in model.classes_],
        "input_schema": {c: "number" if c in NUMERIC else "string" for c in FEATURE_COLUMNS},
        "promoted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }
    (model_dir / "model.json").write_text(json.dumps(meta, indent=1))
    return meta


def register(model, name: str, tracking_uri: str, alias: str = "champion", tamper: bool = False) -> dict:
    "Log `model` with mlflow.sklearn, register it as `name`, tag it like 05_register, move `alias`; return info."
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(f"{name}-tests")
    with mlflow.start_run() as run:
        mlflow.log_metric("macro_f1", 0.61)
        info = mlflow.sklearn.log_model(
            model, name="model", serialization_format="pickle", code_paths=[str(Path(__file__))], registered_model_name=name
        )
    client = MlflowClient(tracking_uri)
    mv = client.get_model_version(name, info.registered_model_version)
    local = Path(
        mlflow.artifacts.download_artifacts(artifact_uri=f"{client.get_model_version_download_uri(name, mv.version)}/model.pkl")
    )
    sha = sha256_bytes(local.read_bytes())
    tags = {"sha256": ("0" * 64 if tamper else sha), "data_sha256": "d" * 64, "git_commit": "0" * 40, "macro_f1": "0.61"}
    for k, v in tags.items():
        client.set_model_version_tag(name, mv.version, k, v)
    client.set_registered_model_alias(name, alias, mv.version)
    return {"version": str(mv.version), "run_id": run.info.run_id, "sha256": sha, "path": str(local)}
