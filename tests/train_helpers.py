"""Small real runs for the train/evaluate/register tests: synthetic processed data, a throwaway MLflow experiment."""

import json
import uuid
from pathlib import Path

import mlflow
import pandas as pd

from credit_score.contract import FEATURE_COLUMNS, LABEL
from credit_score.train import (
    log_model,
    make_estimator,
    make_pipeline_for,
    run_record,
    start_tracking,
    summarize,
    write_json,
)
from train_fixtures import demo_frame

TEST_EXPERIMENT = "credit-score-test"  # never the real experiment


def demo_split(folder: Path, seed: int = 0) -> tuple[Path, Path]:
    "train.parquet / holdout.parquet of synthetic customers (disjoint), like data/processed."
    folder.mkdir(parents=True, exist_ok=True)
    train, holdout = demo_frame(120, seed=seed), demo_frame(60, seed=seed + 1)
    holdout["Customer_ID"] = "H" + holdout["Customer_ID"]
    train.to_parquet(folder / "train.parquet", index=False)
    holdout.to_parquet(folder / "holdout.parquet", index=False)
    return folder / "train.parquet", folder / "holdout.parquet"


def params(candidates: dict | None = None) -> dict:
    "A `train` params section small enough for a test."
    return {
        "seed": 0,
        "cv_folds": 3,
        "require_monotone": True,
        "monotonic_cst": {"Delay_from_due_date": -1, "Outstanding_Debt": -1, "Debt_to_Income": -1},
        "monotone_checks": {"Delay_from_due_date": [5, 30], "Outstanding_Debt": [500, 3000]},
        "candidates": candidates or {"ordinal_hgb": {"kind": "ordinal_hgb", "params": {"max_iter": 40}}},
    }


def lineage_files(folder: Path) -> tuple[Path, Path]:
    "A manifest with a data hash, and no dvc.lock."
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps({"dataset_sha256": "test-" + uuid.uuid4().hex}))
    return folder / "manifest.json", folder / "dvc.lock"


def log_demo_model(train_path: Path, record_path: Path, settings, kind: str, est_params: dict) -> dict:
    "Fit one pipeline on the demo data, log it to the test experiment, write its run record (no CV)."
    df = pd.read_parquet(train_path)
    X, y = df[list(FEATURE_COLUMNS)], df[LABEL]
    model = make_pipeline_for(make_estimator(kind, est_params, 0, params()["monotonic_cst"])).fit(X, y)
    start_tracking(settings, TEST_EXPERIMENT)
    with mlflow.start_run(run_name=f"test-{kind}") as run:
        pass
    log_model(model, X, run.info.run_id)
    lineage = {"data_sha256": "test-data", "processed_md5": None, "git_commit": "0" * 40, "git_dirty": False}
    rec = run_record(run.info.run_id, lineage, {**params(), "cv_folds": 3}, kind, {kind: summarize([0.5])}, TEST_EXPERIMENT)
    write_json(record_path, rec)
    return rec
