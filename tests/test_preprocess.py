"""Preprocess: code tests on planted dirt, data tests on the real rows (split by customer, labels)."""

import pickle
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from conftest import OFFLINE, make_raw_rows
from credit_score.ingest import FEATURE_COLUMNS, LABEL, LABELS, read_raw_csv
from credit_score.preprocess import (
    BOUNDS,
    FEATURE_NAMES,
    RawFeatures,
    check_disjoint,
    clean_raw,
    encode,
    load_processed,
    prepare,
    repair_by_customer,
    write_processed,
)


@pytest.fixture(scope="module")
def real_raw() -> pd.DataFrame:
    "The offline copy of Kaggle's train.csv when present, else synthetic rows in the same schema."
    return read_raw_csv(OFFLINE / "train.csv") if OFFLINE.is_dir() else make_raw_rows(200, 3)


def test_counts_are_exactly_the_planted_dirt():
    raw = make_raw_rows(4, 2)  # every row: Age from a dirty pool, '_______', '!@9#%8', '__10000__', 'NM', '_'
    counts = Counter()
    clean = clean_raw(raw, counts)
    assert counts["Occupation: placeholder -> missing"] == 8 == clean["Occupation"].isna().sum()
    assert counts["Payment_Behaviour: placeholder -> missing"] == 8
    assert counts["Amount_invested_monthly: placeholder -> missing"] == 8
    assert counts["Changed_Credit_Limit: placeholder -> missing"] == 8
    assert counts["Age: outside (14, 100) -> missing"] == (raw["Age"] == "-500").sum()
    assert counts["Age: strip underscores"] == (raw["Age"] == "23_").sum()
    assert counts["Credit_History_Age: text -> months"] == 0  # the planted value is 'NA': missing, no rule
    assert np.isnan(clean["Monthly_Inhand_Salary"]).all()  # '' is missing, not a change


def test_bounds_are_enforced_on_the_real_rows(real_raw):
    clean = clean_raw(real_raw)
    for col, (lo, hi) in BOUNDS.items():
        values = clean[col].dropna()
        assert values.between(lo, hi).all(), col
    assert (
        clean["Total_EMI_per_month"].dropna()
        <= clean["Monthly_Inhand_Salary"].fillna(np.inf)[clean["Total_EMI_per_month"].notna()]
    ).all()


def test_cleaning_is_idempotent_and_serving_matches_training(real_raw):
    clean = clean_raw(real_raw[list(FEATURE_COLUMNS)])
    pd.testing.assert_frame_equal(clean_raw(clean), clean)
    features = RawFeatures()
    pd.testing.assert_frame_equal(features.transform(real_raw[list(FEATURE_COLUMNS)]), encode(clean))
    # one raw applicant at a time gives the same features as the batch
    one = real_raw[list(FEATURE_COLUMNS)].iloc[[7]]
    pd.testing.assert_frame_equal(features.transform(one), encode(clean).iloc[[7]])


def test_columns_given_as_a_dict_give_the_frames_features_and_counts(real_raw):
    "The API hands RawFeatures plain columns (no frame): same features; repeated values counted once per row."
    raw = real_raw[list(FEATURE_COLUMNS)].head(300)
    as_dict = {c: raw[c].tolist() for c in raw.columns}
    expected = RawFeatures().transform(raw).reset_index(drop=True)
    pd.testing.assert_frame_equal(RawFeatures().transform(as_dict), expected)
    once, twice = Counter(), Counter()
    clean_raw(raw, once)
    clean_raw(pd.concat([raw, raw]), twice)  # every value seen twice: the rules run once, the counts double
    assert once and twice == Counter({k: 2 * v for k, v in once.items()})


def test_features_have_the_declared_names_and_survive_pickle(real_raw):
    X = RawFeatures().fit_transform(real_raw)
    assert list(X.columns) == list(FEATURE_NAMES) and X.dtypes.eq("float64").all()
    again = pickle.loads(pickle.dumps(RawFeatures()))
    pd.testing.assert_frame_equal(again.transform(real_raw.head(20)), X.head(20))


def test_identity_fields_do_not_change_features(real_raw):
    rows = real_raw.head(50)
    other = rows.assign(Name="Someone Else", SSN="000-00-0000", ID="0xffff", Customer_ID="CUS_x")
    pd.testing.assert_frame_equal(RawFeatures().transform(rows), RawFeatures().transform(other))


def test_repair_fills_only_from_the_same_customer():
    raw = make_raw_rows(2, 3)
    raw.loc[0, "Occupation"], raw.loc[1, "Occupation"] = "Teacher", "Teacher"  # customer 1: 2 of 3 known
    repaired = repair_by_customer(clean_raw(raw))
    assert (repaired.loc[:2, "Occupation"] == "Teacher").all()
    assert repaired.loc[3:, "Occupation"].isna().all()  # customer 2 had none to copy


def test_split_keeps_every_customer_on_one_side(real_raw, tmp_path):
    train, holdout, report = prepare(real_raw, 0.2, seed=42)
    check_disjoint(train, holdout)
    assert not set(train["Customer_ID"]) & set(holdout["Customer_ID"])
    assert len(train) + len(holdout) == len(real_raw)
    assert set(train[LABEL]) | set(holdout[LABEL]) <= set(LABELS)
    customers = real_raw["Customer_ID"].nunique()
    assert abs(holdout["Customer_ID"].nunique() - 0.2 * customers) <= 1
    write_processed(train, holdout, report, tmp_path / "processed", tmp_path / "cleaning.json")
    back = load_processed(tmp_path / "processed", "holdout")
    assert back["Customer_ID"].tolist() == holdout["Customer_ID"].tolist()


def test_a_different_seed_gives_a_different_split(real_raw):
    a = set(prepare(real_raw, 0.2, seed=1)[1]["Customer_ID"])
    b = set(prepare(real_raw, 0.2, seed=2)[1]["Customer_ID"])
    assert a != b


def test_bad_processed_data_is_named(tmp_path):
    (tmp_path / "p").mkdir()
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "p/train.parquet")
    with pytest.raises(ValueError, match="train.parquet: missing column"):
        load_processed(tmp_path / "p", "train")
    with pytest.raises(FileNotFoundError, match="dvc repro preprocess"):
        load_processed(tmp_path / "p", "holdout")
    with pytest.raises(ValueError, match="no Credit_Score column"):
        prepare(make_raw_rows(3, 1).drop(columns=LABEL))
