"""Evaluate: metric and plot-data schemas on small fixtures, the model card, behavioural tests; model tests on the
real champion candidate (reports/train_run.json + data/processed, marked services)."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT
from credit_score.evaluate import (
    age_bands,
    behaviour,
    behaviour_failures,
    calibration_error,
    classification_metrics,
    evaluate,
    flat_metrics,
    load_model,
    model_card,
    plot_data,
    predict,
    slice_metrics,
    write_plot_data,
)
from credit_score.contract import FEATURE_COLUMNS, LABEL, LABELS
from credit_score.train import (
    StageDataError,
    load_params,
    make_estimator,
    make_pipeline_for,
    read_run_record,
    read_split,
    start_tracking,
)
from train_fixtures import demo_frame
from train_helpers import demo_split, log_demo_model

CHECKS = {
    "invariant": {"Name": ["Jane Doe", ""], "SSN": ["000-00-0000"]},
    "monotone": {"Delay_from_due_date": [5, 30], "Outstanding_Debt": [500, 3000]},
}


@pytest.fixture(scope="module")
def fitted():
    train, test = demo_frame(80, seed=1), demo_frame(40, seed=2)
    model = make_pipeline_for(
        make_estimator(
            "ordinal_hgb", {"max_iter": 40}, 0, {"Delay_from_due_date": -1, "Outstanding_Debt": -1, "Debt_to_Income": -1}
        )
    )
    model.fit(train[list(FEATURE_COLUMNS)], train[LABEL])
    return model, test


def test_metrics_schema_and_values(fitted):
    model, test = fitted
    pred, proba = predict(model, test[list(FEATURE_COLUMNS)])
    assert list(proba.columns) == [str(c) for c in model.classes_]
    m = classification_metrics(test[LABEL], pred, proba)
    assert set(m) == {"macro_f1", "accuracy", "rows", "per_class", "roc_auc", "average_precision", "brier", "ece", "confusion"}
    for c in LABELS:
        assert set(m["per_class"][c]) == {"precision", "recall", "f1", "support"}
        assert 0 <= m["roc_auc"][c] <= 1 and 0 <= m["ece"][c] <= 1
    assert sum(m["per_class"][c]["support"] for c in LABELS) == m["rows"] == len(test)
    assert sum(m["confusion"][a][p] for a in LABELS for p in LABELS) == len(test)
    assert m["accuracy"] == pytest.approx((pred == test[LABEL].to_numpy()).mean(), abs=1e-6)
    json.dumps(m)  # serialisable as is


def test_perfect_and_useless_predictions_score_as_expected():
    y = pd.Series(["Good", "Standard", "Poor"] * 10)
    onehot = pd.DataFrame({c: (y == c).astype(float) for c in LABELS})
    perfect = classification_metrics(y, y.to_numpy(), onehot)
    assert perfect["macro_f1"] == 1 and all(v == 1 for v in perfect["roc_auc"].values()) and perfect["ece"]["Good"] == 0
    flat = pd.DataFrame({c: np.full(len(y), 1 / 3) for c in LABELS})
    useless = classification_metrics(y, np.array(["Standard"] * len(y)), flat)
    assert useless["roc_auc"]["Good"] == 0.5 and useless["per_class"]["Good"]["recall"] == 0


def test_calibration_error():
    assert calibration_error(np.array([1, 0, 1, 0]), np.full(4, 0.5)) == pytest.approx(0)
    assert calibration_error(np.array([0, 0, 0, 0]), np.full(4, 0.95)) == pytest.approx(0.95)


def test_plot_data_files_match_the_dvc_plot_declarations(fitted, tmp_path):
    model, test = fitted
    pred, proba = predict(model, test[list(FEATURE_COLUMNS)])
    plots = plot_data(test[LABEL], pred, proba)
    paths = write_plot_data(plots, tmp_path)
    declared = yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    files = {f for p in declared for k, v in p.items() for f in ([k] if k.endswith(".json") else v["y"])}
    assert {f"reports/plots/{p.name}" for p in paths} == files
    for p in declared:  # every declared x/y field exists in the records
        ((key, spec),) = p.items()
        for f, field in ({key: spec["y"]} if key.endswith(".json") else spec["y"]).items():
            rec = json.loads((tmp_path / f.split("/")[-1]).read_text())[0]
            assert field in rec and spec["x"] in rec, (f, field)
    roc = json.loads((tmp_path / "roc_Poor.json").read_text())
    assert len(roc) == 101 and roc[0]["fpr"] == 0 and roc[-1]["tpr"] == 1
    assert all(a["tpr"] <= b["tpr"] for a, b in zip(roc, roc[1:]))


def test_behaviour_passes_for_the_monotone_model_and_catches_a_bad_one(fitted):
    model, test = fitted
    rep = behaviour(model, test[list(FEATURE_COLUMNS)], CHECKS)
    assert behaviour_failures(rep) == [], rep

    class Reads:  # uses the SSN and rewards debt: both tests must fail
        classes_ = np.array(LABELS)

        def predict(self, X):
            good = X["SSN"].astype(str).str.startswith("0") | (pd.to_numeric(X["Outstanding_Debt"]) > 2500)
            return np.where(good, "Good", "Poor")

        def predict_proba(self, X):
            return np.eye(3)[np.where(self.predict(X) == "Good", 0, 2)]

    fails = behaviour_failures(behaviour(Reads(), test, CHECKS))
    assert any(f.startswith("changing SSN changed") for f in fails)
    assert any(f.startswith("more Outstanding_Debt improved") for f in fails)


def test_slices_and_age_bands():
    y = pd.Series(["Good", "Poor", "Poor", "Standard"])
    sl = slice_metrics(y, y.to_numpy(), pd.Series(["Doctor", None, "Doctor", "Writer"]))
    assert list(sl.index) == ["Doctor", "Writer", "unknown"] and sl["rows"].sum() == 4 and (sl["accuracy"] == 1).all()
    bands = age_bands(pd.Series([14, 24.9, 25, 56, None, 100]), [14, 25, 35, 45, 56, 101])
    assert list(bands) == ["14-24", "14-24", "25-34", "56-100", "unknown", "56-100"]


def test_model_card_covers_the_required_sections(fitted):
    model, test = fitted
    pred, proba = predict(model, test[list(FEATURE_COLUMNS)])
    m = {**classification_metrics(test[LABEL], pred, proba), "behaviour": behaviour(model, test[list(FEATURE_COLUMNS)], CHECKS)}
    rec = {
        "run_id": "r",
        "model_uri": "runs:/r/model",
        "git_commit": "c",
        "data_sha256": "d",
        "candidate": "ordinal_hgb",
        "cv": {"macro_f1_mean": 0.6, "macro_f1_std": 0.01, "n_splits": 5, "candidates": {"ordinal_hgb": {}}},
    }
    slices = {
        "age band": slice_metrics(test[LABEL], pred, age_bands(test["Age"], [14, 25, 35, 45, 56, 101])),
        "occupation": slice_metrics(test[LABEL], pred, test["Occupation"]),
    }
    card = model_card(
        rec,
        m,
        slices,
        {
            "train_rows": 1,
            "train_customers": 1,
            "holdout_rows": len(test),
            "holdout_customers": 40,
            "holdout_labels": {"Good": 1},
        },
    )
    for part in (
        "## Model",
        "## Intended use",
        "## Data",
        "## Metrics (holdout customers)",
        "## Behavioural tests",
        "### By age band",
        "### By occupation",
        "## Limits",
        f"Macro-F1 {m['macro_f1']:.4f}",
        "Scientist",
    ):
        assert part in card, part


def test_flat_metrics_for_mlflow():
    assert flat_metrics({"a": 1, "b": {"c": 0.5, "d": "text"}, "e": False}) == {"holdout_a": 1.0, "holdout_b_c": 0.5}


# ---- against the services -------------------------------------------------------------------------------------------


@pytest.mark.services
def test_unknown_run_id_is_a_clear_error(settings):
    start_tracking(settings, None, "evaluate")
    with pytest.raises(StageDataError, match="evaluate: cannot fetch runs:/0123456789abcdef0123456789abcdef/model"):
        load_model("runs:/0123456789abcdef0123456789abcdef/model", "evaluate")


@pytest.mark.services
def test_evaluate_stage_writes_and_logs_everything(tmp_path, settings):
    train_path, holdout_path = demo_split(tmp_path / "processed")
    rec = log_demo_model(train_path, tmp_path / "train_run.json", settings, "ordinal_hgb", {"max_iter": 40})
    params = {**load_params(ROOT / "params.yaml", "evaluate"), "behaviour": CHECKS}
    out = {k: tmp_path / v for k, v in dict(metrics="metrics.json", plots="plots", figures="figures", card="card.md").items()}
    m = evaluate(
        tmp_path / "train_run.json",
        holdout_path,
        params,
        out["metrics"],
        out["plots"],
        out["figures"],
        out["card"],
        {"train_rows": 240, "train_customers": 120},
        settings,
    )
    assert json.loads(out["metrics"].read_text()) == m and m["macro_f1"] > 0.5
    assert len(list(out["plots"].glob("*.json"))) == 10 and len(list(out["figures"].glob("*.png"))) == 4
    from mlflow import MlflowClient

    run = MlflowClient(settings.mlflow_tracking_uri).get_run(rec["run_id"])
    assert run.data.metrics["holdout_macro_f1"] == pytest.approx(m["macro_f1"])
    assert run.data.metrics["holdout_per_class_Good_recall"] == pytest.approx(m["per_class"]["Good"]["recall"])


@pytest.mark.services
def test_evaluate_stops_when_a_behavioural_test_fails(tmp_path, settings):
    "A failed behavioural test fails the stage (so register never runs on the model)."
    train_path, holdout_path = demo_split(tmp_path / "processed")
    log_demo_model(train_path, tmp_path / "train_run.json", settings, "logreg", {"max_iter": 500})
    # negative steps: with 60 days *less* delay the class of a sensible model rises, which the check must report
    params = {
        **load_params(ROOT / "params.yaml", "evaluate"),
        "behaviour": {"invariant": {}, "monotone": {"Delay_from_due_date": [-60, -30]}},
    }
    with pytest.raises(AssertionError, match="evaluate: behavioural test failed: more Delay_from_due_date improved"):
        evaluate(
            tmp_path / "train_run.json",
            holdout_path,
            params,
            tmp_path / "m.json",
            tmp_path / "p",
            tmp_path / "f",
            tmp_path / "c.md",
            {"train_rows": 240, "train_customers": 120},
            settings,
        )
    assert (tmp_path / "m.json").exists(), "the failing model is still documented"


# ---- model tests on the pipeline's real model (after `dvc repro train`) --------------------------------------------


@pytest.fixture(scope="module")
def real_model(settings):
    rec = read_run_record(ROOT / "reports/train_run.json", "model tests")
    start_tracking(settings, None, "model tests")
    model, _ = load_model(rec["model_uri"], "model tests")
    return model, read_split(ROOT / "data/processed/holdout.parquet", "model tests")


@pytest.mark.services
def test_real_model_ignores_name_and_ssn(real_model):
    model, holdout = real_model
    rep = behaviour(
        model,
        holdout[list(FEATURE_COLUMNS)].head(500),
        {"invariant": {"Name": ["Jane Doe", "", "x" * 40], "SSN": ["000-00-0000", "#F%$D@*&8"]}, "monotone": {}},
    )
    assert behaviour_failures(rep) == []


@pytest.mark.services
@pytest.mark.parametrize(
    "column, steps",
    [("Delay_from_due_date", [1, 2, 5, 10, 20, 40, 80]), ("Outstanding_Debt", [10, 100, 1000, 3000, 10000, 50000])],
)
def test_real_model_never_rewards_more_delay_or_debt(real_model, column, steps):
    model, holdout = real_model
    rep = behaviour(model, holdout[list(FEATURE_COLUMNS)], {"invariant": {}, "monotone": {column: steps}})
    assert rep["monotone_violations"][column] == 0


@pytest.mark.services
def test_real_model_clears_the_floor(real_model):
    model, holdout = real_model
    from sklearn.metrics import f1_score

    pred, _ = predict(model, holdout[list(FEATURE_COLUMNS)])
    floor = load_params(ROOT / "params.yaml", "register")["min_macro_f1"]
    assert f1_score(holdout[LABEL], pred, average="macro") >= floor
