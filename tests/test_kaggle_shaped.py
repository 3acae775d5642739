"""scripts/kaggle_shaped.py: the Kaggle-shaped benchmark set, built here from a few customers' real rows."""

import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import OFFLINE, ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import kaggle_shaped  # noqa: E402

MONTHS8 = list(kaggle_shaped.MONTHS[:8])


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    "Real rows of 8 customers: 3 with all 8 labelled months, 3 with August only, 2 with no label at all."
    if not (OFFLINE / "test.csv").is_file():
        pytest.skip(f"the offline Kaggle files are not at {OFFLINE.resolve()}")
    test = pd.read_csv(OFFLINE / "test.csv", dtype=str, keep_default_na=False, nrows=4 * 130)
    train = pd.read_csv(OFFLINE / "train.csv", dtype=str, keep_default_na=False)
    customers = pd.unique(test["Customer_ID"])[[0, 1, 2, 125, 126, 127, 128, 129]]
    src = tmp_path_factory.mktemp("src")
    test[test["Customer_ID"].isin(customers)].to_csv(src / "test.csv", index=False)
    train[train["Customer_ID"].isin(customers)].to_csv(src / "train.csv", index=False)
    return src


def read(folder: Path, name: str = "train.csv") -> pd.DataFrame:
    return pd.read_csv(folder / name, dtype=str, keep_default_na=False)


def test_eight_months_of_real_rows_per_labelled_customer(sample, tmp_path):
    info = kaggle_shaped.write(sample, tmp_path, log=lambda *_: None)
    train, test, out = read(sample), read(sample, "test.csv"), read(tmp_path)
    labelled = set(train.loc[train["Month"] == "August", "Customer_ID"])
    assert len(labelled) == 6 and test["Customer_ID"].nunique() == 8
    assert set(out["Customer_ID"]) == labelled  # the 2 customers without a label are left out
    assert info["rows"] == len(out) == 48 and info["unknown_customers_left_out"] == 2
    assert list(out.columns) == list(train.columns)
    for customer, rows in out.groupby("Customer_ID", sort=False):
        assert rows["Month"].tolist() == MONTHS8
        real = test[test["Customer_ID"] == customer].set_index("Month")
        for month, copies in zip(
            kaggle_shaped.REAL_MONTHS, (("January", "February"), ("March", "April"), ("May", "June"), ("July", "August"))
        ):
            same = rows[rows["Month"].isin(copies)].drop(columns=["ID", "Month", "Credit_Score"])
            assert (same == real.loc[month].drop("ID")).all(axis=None)  # the real row's text, dirt and all
        august = train[(train["Customer_ID"] == customer) & (train["Month"] == "August")]["Credit_Score"].item()
        assert set(rows["Credit_Score"]) == {august}
        first = int(real.loc["September", "ID"], 16) - 8  # Kaggle's id of the customer's January
        assert rows["ID"].tolist() == [hex(first + m) for m in range(8)]
    assert out["ID"].is_unique and not set(out["ID"]) & set(test["ID"])
    assert (tmp_path / "test.csv").read_bytes() == (sample / "test.csv").read_bytes()


def test_the_set_is_deterministic(sample, tmp_path):
    quiet = dict(log=lambda *_: None)
    kaggle_shaped.write(sample, tmp_path / "a", **quiet)
    kaggle_shaped.write(sample, tmp_path / "b", **quiet)
    assert (tmp_path / "a/train.csv").read_bytes() == (tmp_path / "b/train.csv").read_bytes()
    kaggle_shaped.write(sample, tmp_path / "c", customers=3, seed=7, **quiet)
    kaggle_shaped.write(sample, tmp_path / "d", customers=3, seed=7, **quiet)
    assert (tmp_path / "c/train.csv").read_bytes() == (tmp_path / "d/train.csv").read_bytes()
    assert read(tmp_path / "c")["Customer_ID"].nunique() == 3


def test_clear_errors(tmp_path, capsys):
    assert kaggle_shaped.main(["--source", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "../shared/data/credit-score-classification" in err
    with pytest.raises(kaggle_shaped.ShapeError, match="inside the repository"):
        kaggle_shaped.write(tmp_path, ROOT / "scripts" / "set", log=lambda *_: None)
    bad = pd.DataFrame({"ID": ["0x1602"], "Customer_ID": ["CUS_1"], "Month": ["January"]})
    with pytest.raises(kaggle_shaped.ShapeError, match="month 'January'"):
        kaggle_shaped.relabel_months(bad)
    with pytest.raises(SystemExit) as e:
        kaggle_shaped.main(["--help"])
    assert e.value.code == 0 and "--customers" in capsys.readouterr().out
