"""Train: code tests on small fixtures, and one real run against the local MLflow (marked services)."""

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from credit_score.contract import FEATURE_COLUMNS, LABEL
from credit_score.contract import ORDER
from credit_score.model import PACKED_MAX_ROWS, OrdinalClassifier, PackedTrees
from credit_score.train import (
    StageDataError,
    class_rank,
    cross_validate,
    data_version,
    git_state,
    grouped_folds,
    load_params,
    make_estimator,
    make_pipeline_for,
    monotone_violations,
    read_run_record,
    read_split,
    run_record,
    select,
    summarize,
    train,
    write_json,
)
from train_fixtures import demo_frame
from train_helpers import TEST_EXPERIMENT, demo_split, lineage_files, params


@pytest.fixture(scope="module")
def demo() -> pd.DataFrame:
    return demo_frame(60, months=2, seed=3)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: d.drop(columns=["Outstanding_Debt"]), "train: {p}: missing column(s) Outstanding_Debt"),
        (lambda d: d.head(0), "train: {p}: no rows"),
        (lambda d: d.assign(Credit_Score="Excellent"), "label outside Good, Standard, Poor"),
    ],
)
def test_bad_processed_data_names_the_stage_and_the_problem(tmp_path, demo, damage, message):
    path = tmp_path / "train.parquet"
    damage(demo).to_parquet(path)
    with pytest.raises(StageDataError, match=None) as e:
        read_split(path, "train")
    assert message.format(p=path) in str(e.value)


def test_missing_or_unreadable_file(tmp_path):
    with pytest.raises(StageDataError, match="run the preprocess stage"):
        read_split(tmp_path / "none.parquet")
    (tmp_path / "x.parquet").write_text("not parquet")
    with pytest.raises(StageDataError, match="evaluate: .* not a readable parquet"):
        read_split(tmp_path / "x.parquet", "evaluate")


def test_grouped_folds_never_split_a_customer(demo):
    folds = grouped_folds(demo[LABEL], demo["Customer_ID"], 4, seed=1)
    for tr, va in folds:
        assert not set(demo["Customer_ID"].iloc[tr]) & set(demo["Customer_ID"].iloc[va])
    assert sorted(np.concatenate([va for _, va in folds]).tolist()) == list(range(len(demo)))
    again = grouped_folds(demo[LABEL], demo["Customer_ID"], 4, seed=1)
    assert all((a[1] == b[1]).all() for a, b in zip(folds, again)), "same seed, same folds"
    with pytest.raises(StageDataError, match="fewer than the 500 folds"):
        grouped_folds(demo[LABEL], demo["Customer_ID"], 500, seed=1)


def test_ordinal_model_is_monotone_and_a_proper_classifier(demo):
    X, y = demo[list(FEATURE_COLUMNS)], demo[LABEL]
    model = make_pipeline_for(make_estimator("ordinal_hgb", {"max_iter": 30}, 0, params()["monotonic_cst"])).fit(X, y)
    assert list(model.classes_) == sorted(ORDER)
    proba = model.predict_proba(X)
    assert np.allclose(proba.sum(axis=1), 1) and (proba >= -1e-12).all()
    assert monotone_violations(model, X, "Delay_from_due_date", [1, 5, 20, 60]) == 0
    assert monotone_violations(model, X, "Outstanding_Debt", [100, 1000, 5000]) == 0


def test_packed_trees_give_scikit_learns_answers_on_both_sides_of_the_row_limit():
    "Small batches take the packed walk, large ones scikit-learn's loop: same probabilities, missing values included."
    import pickle

    rng = np.random.default_rng(5)
    X = pd.DataFrame(rng.normal(size=(PACKED_MAX_ROWS + 200, 3)), columns=["delay", "debt", "noise"])
    X = X.mask(rng.random(X.shape) < 0.15)
    y = np.array(ORDER)[np.digitize(X.delay.fillna(0) + X.debt.fillna(0) + rng.normal(0, 0.5, len(X)), [-0.7, 0.7])[::-1]]
    oc = OrdinalClassifier(monotonic={"delay": -1}, params={"max_iter": 25}, random_state=0).fit(X, y)
    blob = pickle.dumps(oc)
    sklearn_cumulative = np.minimum.accumulate(np.column_stack([m.predict_proba(X)[:, 1] for m in oc.models_]), axis=1)
    small = oc.cumulative_(X.head(PACKED_MAX_ROWS))  # the packed walk
    np.testing.assert_allclose(small, sklearn_cumulative[:PACKED_MAX_ROWS], rtol=0, atol=1e-12)
    np.testing.assert_allclose(oc.cumulative_(X), sklearn_cumulative, rtol=0, atol=0)  # scikit-learn itself
    assert oc._packed_ is not None and pickle.dumps(oc) == blob, "packed trees are derived state: never pickled"
    with pytest.raises(ValueError, match="missing feature columns \\['debt'\\]"):
        oc.cumulative_(X.drop(columns="debt").head(3))


def test_packed_trees_follow_splits_on_missing_or_not():
    "A node that splits 'missing or not' has threshold +inf and sends missing values right: the walk must too."
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(3)
    X = rng.normal(size=(600, 3))
    gone = rng.random(600) < 0.4
    X[gone, 0] = np.nan  # missingness tells the class
    y = gone ^ (rng.random(600) < 0.1)
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y)
    trees = [it[0].nodes for it in model._predictors]
    assert sum(int(((t["num_threshold"] == np.inf) & (t["is_leaf"] == 0)).sum()) for t in trees) > 0, "no such split learned"
    assert len({int(t["depth"].max()) for t in trees}) > 1, "trees of several depths (the walk stops each at its own)"
    np.testing.assert_allclose(PackedTrees([model]).raw(X)[:, 0], model._raw_predict(X)[:, 0], rtol=0, atol=1e-12)


def test_unconstrained_or_wrong_models_are_caught(demo):
    class Rising:  # more delay -> better class
        def predict(self, X):
            return np.where(pd.to_numeric(X["Delay_from_due_date"]) > 30, "Good", "Poor")

    assert monotone_violations(Rising(), demo, "Delay_from_due_date", [10, 40]) == int((demo["Delay_from_due_date"] <= 30).sum())
    with pytest.raises(ValueError, match="Debt_Ratio not among"):
        OrdinalClassifier(monotonic={"Debt_Ratio": -1}).fit(demo[["Delay_from_due_date"]].astype(float), demo[LABEL])


def test_class_rank_orders_poor_standard_good():
    assert class_rank(["Poor", "Standard", "Good"]).tolist() == [0, 1, 2]


def test_cross_validate_reports_mean_spread_and_violations(demo):
    folds = grouped_folds(demo[LABEL], demo["Customer_ID"], 3, seed=0)
    cv = cross_validate(
        lambda: make_pipeline_for(make_estimator("logreg", {"max_iter": 500}, 0)),
        demo[list(FEATURE_COLUMNS)],
        demo[LABEL],
        folds,
        {"Delay_from_due_date": [5]},
    )
    assert set(cv) == {"macro_f1_mean", "macro_f1_std", "folds", "monotone_violations"}
    assert len(cv["folds"]) == 3 and cv["macro_f1_mean"] == round(float(np.mean(cv["folds"])), 6)
    assert cv["macro_f1_mean"] > 0.5


def test_selection_prefers_monotone_models_and_needs_one():
    results = {"fast_but_wrong": summarize([0.7, 0.7], 12), "ok": summarize([0.6, 0.62]), "worse": summarize([0.55, 0.6])}
    assert select(results) == "ok"
    assert select(results, require_monotone=False) == "fast_but_wrong"
    with pytest.raises(StageDataError, match="no candidate passed"):
        select({"x": results["fast_but_wrong"]})


def test_unknown_kind_and_missing_section(tmp_path):
    with pytest.raises(ValueError, match="unknown candidate kind 'svm'"):
        make_estimator("svm", {}, 0)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"register": {}}))
    with pytest.raises(StageDataError, match="no `train` section"):
        load_params(tmp_path / "params.yaml", "train")


def test_lineage_reads_manifest_and_dvc_lock(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"dataset_sha256": "abc"}))
    (tmp_path / "dvc.lock").write_text(
        yaml.safe_dump(
            {
                "stages": {
                    "preprocess": {
                        "outs": [{"path": "data/processed", "md5": "123.dir"}, {"path": "reports/cleaning.json", "md5": "x"}]
                    }
                }
            }
        )
    )
    assert data_version(tmp_path / "manifest.json", tmp_path / "dvc.lock") == {"data_sha256": "abc", "processed_md5": "123.dir"}
    with pytest.raises(StageDataError, match="train: .* no dataset_sha256"):
        data_version(tmp_path / "dvc.lock", tmp_path / "dvc.lock")
    g = git_state()
    assert len(g["git_commit"]) == 40 and isinstance(g["git_dirty"], bool)


def test_run_record_contract(tmp_path):
    rec = run_record(
        "r1",
        {"data_sha256": "d", "processed_md5": "m", "git_commit": "c", "git_dirty": True},
        {"seed": 1, "cv_folds": 5},
        "a",
        {"a": summarize([0.6, 0.64])},
    )
    assert {"run_id", "model_uri", "data_sha256", "git_commit", "params", "cv"} <= set(rec)
    assert rec["model_uri"] == "runs:/r1/model" and rec["cv"]["macro_f1_mean"] == 0.62 and rec["cv"]["n_splits"] == 5
    assert read_run_record(write_json(tmp_path / "r.json", rec), "evaluate") == rec
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(StageDataError, match="register: .* not valid JSON"):
        read_run_record(tmp_path / "broken.json", "register")


@pytest.mark.services
def test_train_stage_logs_every_candidate_and_the_winner(tmp_path, settings):
    train_path, _ = demo_split(tmp_path / "processed")
    manifest, lock = lineage_files(tmp_path)
    p = params(
        {
            "ordinal_hgb": {"kind": "ordinal_hgb", "params": {"max_iter": 40}},
            "hgb": {"kind": "hgb", "params": {"max_iter": 40}},
            "logreg": {"kind": "logreg", "params": {"max_iter": 500}},
        }
    )
    rec = train(train_path, p, manifest, lock, tmp_path / "train_run.json", settings, experiment=TEST_EXPERIMENT)
    assert json.loads((tmp_path / "train_run.json").read_text()) == rec
    assert rec["data_sha256"] == json.loads(manifest.read_text())["dataset_sha256"]
    assert set(rec["cv"]["candidates"]) == {"ordinal_hgb", "hgb", "logreg"}
    assert rec["cv"]["candidates"][rec["candidate"]]["monotone_violations"] == 0
    client = MlflowClient(settings.mlflow_tracking_uri)
    run = client.get_run(rec["run_id"])
    assert run.data.tags["data_sha256"] == rec["data_sha256"] and run.data.tags["git_commit"] == rec["git_commit"]
    assert run.data.metrics["cv_macro_f1_mean"] == pytest.approx(rec["cv"]["macro_f1_mean"])
    assert run.data.params["candidate"] == rec["candidate"]
    siblings = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.data.tags['mlflow.parentRunId']}'")
    assert len(siblings) == 3
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    info = mlflow.models.get_model_info(rec["model_uri"])
    assert info.signature is not None and info.flavors["sklearn"]["serialization_format"] == "pickle"
    assert {c["name"] for c in info.signature.inputs.to_dict()} == set(FEATURE_COLUMNS)
