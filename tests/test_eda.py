"Code tests for credit_score.eda on small synthetic frames in the raw schema, with the dirt planted on purpose."

import json

import pandas as pd
import pytest

from credit_score.eda import consistency, dirty_counts, dirty_kind, label_balance, numeric_summary, profile, to_number
from credit_score.ingest import RAW_COLUMNS, TRAIN_FILE

CLEAN_ROW = {
    "Name": "Aaron",
    "Age": "23",
    "SSN": "821-00-0265",
    "Occupation": "Scientist",
    "Annual_Income": "19114.12",
    "Monthly_Inhand_Salary": "1824.84",
    "Num_Bank_Accounts": "3",
    "Num_Credit_Card": "4",
    "Interest_Rate": "3",
    "Num_of_Loan": "4",
    "Type_of_Loan": "Auto Loan, and Home Equity Loan",
    "Delay_from_due_date": "3",
    "Num_of_Delayed_Payment": "7",
    "Changed_Credit_Limit": "11.27",
    "Num_Credit_Inquiries": "4.0",
    "Credit_Mix": "Good",
    "Outstanding_Debt": "809.98",
    "Credit_Utilization_Ratio": "26.8",
    "Credit_History_Age": "22 Years and 1 Months",
    "Payment_of_Min_Amount": "No",
    "Total_EMI_per_month": "49.57",
    "Amount_invested_monthly": "80.41",
    "Payment_Behaviour": "High_spent_Small_value_payments",
    "Monthly_Balance": "312.49",
    "Credit_Score": "Good",
}


def raw_frame(customers: int = 3, months=("January", "February", "March", "April")) -> pd.DataFrame:
    "A clean raw frame (all text, 28 Kaggle columns): `customers` x `months` rows."
    rows = [
        {**CLEAN_ROW, "ID": f"0x{100 * i + j:x}", "Customer_ID": f"CUS_{i}", "Month": m}
        for i in range(customers)
        for j, m in enumerate(months)
    ]
    return pd.DataFrame(rows)[list(RAW_COLUMNS)]


PLANTED = [  # (row, column, value, expected kind or "absurd")
    (0, "Age", "23_", "underscored"),
    (1, "Age", "-500", "absurd"),
    (2, "Age", "7580", "absurd"),
    (3, "Annual_Income", "__19114.12__", "underscored"),
    (4, "Occupation", "_______", "placeholder"),
    (5, "Credit_Mix", "_", "placeholder"),
    (6, "Payment_Behaviour", "!@9#%8", "placeholder"),
    (7, "Payment_of_Min_Amount", "NM", "placeholder"),
    (8, "SSN", "#F%$D@*&8", "placeholder"),
    (9, "Monthly_Inhand_Salary", "", "empty"),
    (10, "Monthly_Inhand_Salary", "NA", "NA"),
    (11, "Type_of_Loan", "", "empty"),
    (0, "Amount_invested_monthly", "__10000__", "underscored"),
    (1, "Num_Bank_Accounts", "1500", "absurd"),
    (2, "Monthly_Balance", "-333333333333333333333333333", "absurd"),
    (3, "Num_of_Loan", "-100", "absurd"),
    (4, "Changed_Credit_Limit", "_", "placeholder"),
]


@pytest.fixture
def dirty():
    df = raw_frame()
    for r, c, v, _ in PLANTED:
        df.loc[r, c] = v
    return df


def test_clean_frame_has_no_dirt():
    assert dirty_counts(raw_frame())["dirty"].sum() == 0


def test_dirty_counts_count_exactly_what_was_planted(dirty):
    dc = dirty_counts(dirty)
    assert dc.loc["Age"].to_dict() == {"empty": 0, "NA": 0, "placeholder": 0, "underscored": 1, "absurd": 2, "dirty": 3}
    assert dc.loc["Monthly_Inhand_Salary", ["empty", "NA", "dirty"]].tolist() == [1, 1, 2]
    assert dc["placeholder"].sum() == 6
    assert dc["empty"].sum() == 2
    # __10000__ is underscored and absurd (above the 9,999 plausible maximum): one dirty cell, counted in both kinds
    assert dc.loc["Amount_invested_monthly", ["underscored", "absurd", "dirty"]].tolist() == [1, 1, 1]
    assert dc.loc[["Num_Bank_Accounts", "Monthly_Balance", "Num_of_Loan"], "absurd"].tolist() == [1, 1, 1]
    assert dc["dirty"].sum() == len(PLANTED)


def test_dirty_kind_labels_each_planted_value(dirty):
    for r, c, v, kind in PLANTED:
        expected = "" if kind == "absurd" else kind
        assert dirty_kind(dirty[c]).iloc[r] == expected, (c, v)


def test_underscores_inside_text_are_not_dirt():
    s = pd.Series(["High_spent_Small_value_payments", "Credit-Builder Loan", "CUS_0xd40", "_5", "5_"])
    assert dirty_kind(s).tolist() == ["", "", "", "underscored", "underscored"]


def test_to_number_parses_underscored_and_refuses_text():
    x = to_number(pd.Series(["23_", "__10000__", "-333333333333333333333333333", "_", "", "NA", "22 Years"]))
    assert x.iloc[:3].tolist() == [23.0, 10000.0, -3.333333333333333e26]
    assert x.iloc[3:].isna().all()


def test_numeric_summary_shows_the_outliers(dirty):
    ns = numeric_summary(dirty)
    assert ns.loc["Age", ["min", "median", "max", "absurd"]].tolist() == [-500.0, 23.0, 7580.0, 2]
    assert ns.loc["Monthly_Inhand_Salary", ["parsed", "missing"]].tolist() == [10, 2]


def test_label_balance_counts_and_shares():
    df = raw_frame(3, ("January", "February"))
    df["Credit_Score"] = ["Poor", "Poor", "Poor", "Standard", "Good", "Poor"]
    lb = label_balance(df)
    assert lb["count"].to_dict() == {"Good": 1, "Standard": 1, "Poor": 4}
    assert lb["share"].round(4).tolist() == [0.1667, 0.1667, 0.6667]


def test_consistency_separates_dirt_from_real_change():
    df = pd.concat([raw_frame(4), raw_frame(1, ("August",)).assign(Customer_ID="CUS_single", ID="0xfff")], ignore_index=True)
    df.loc[0, "Occupation"] = "_______"  # customer 0: dirt only -> raw varies, clean constant
    df.loc[5, "Annual_Income"] = "25000.5"  # customer 1: a real change -> varies both ways
    df.loc[9, "Num_Credit_Inquiries"] = "4"  # customer 2: 4 vs 4.0 -> equal as numbers
    df.loc[12, "Age"] = "23_"  # customer 3: underscored -> clean constant
    cons = consistency(df, ["Occupation", "Annual_Income", "Num_Credit_Inquiries", "Age", "Name"])
    assert cons["customers"].unique().tolist() == [4]  # the one-month customer is left out
    assert cons["raw"].tolist() == [0.75, 0.75, 0.75, 0.75, 1.0]
    assert cons["clean"].tolist() == [1.0, 0.75, 1.0, 1.0, 1.0]


def test_profile_writes_figures_and_summary(tmp_path, dirty):
    raw = tmp_path / "raw"
    raw.mkdir()
    dirty.to_csv(raw / TRAIN_FILE, index=False)
    res = profile(raw, tmp_path / "figs", tmp_path / "eda.json")
    summary = json.loads((tmp_path / "eda.json").read_text())
    assert summary == json.loads(json.dumps(res["summary"]))
    assert (summary["rows"], summary["customers"], summary["customers_with_several_months"]) == (12, 3, 3)
    assert summary["dirty"]["Age"] == {"underscored": 1, "absurd": 2, "dirty": 3}
    assert summary["dirty"]["Monthly_Inhand_Salary"] == {"empty": 1, "NA": 1, "dirty": 2}
    assert "Name" not in summary["dirty"]
    assert summary["labels"]["Good"] == {"count": 12, "share": 1.0}
    assert summary["consistency"]["Age"] == {"customers": 3, "raw": pytest.approx(2 / 3, abs=1e-4), "clean": 1.0}
    figs = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert figs == ["consistency.png", "dirty_values.png", "label_balance.png", "numeric_distributions.png", "outliers.png"]
    assert all((tmp_path / "figs" / f).read_bytes()[:4] == b"\x89PNG" for f in figs)
