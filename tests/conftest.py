"""Shared fixtures: small raw files in the exact Kaggle schema (dirt included), and the local services."""

import random
from pathlib import Path

import pandas as pd
import pytest

from credit_score.core import Settings, project_root, s3_client
from credit_score.contract import LABELS, RAW_COLUMNS
from credit_score.contract import MONTHS as CONTRACT_MONTHS

ROOT = project_root(Path(__file__).parent)
OFFLINE = ROOT / "../shared/data/credit-score-classification"

# One real-looking customer month, with the dataset's dirt: '23_', '_______', '!@9#%8', 'NA', empty cells.
BASE_ROW = dict(
    zip(
        RAW_COLUMNS,
        [
            "0x1602",
            "CUS_0xd40",
            "January",
            "Aaron Maashoh",
            "23_",
            "821-00-0265",
            "_______",
            "19114.12",
            "",
            "3",
            "4",
            "3",
            "4",
            "Auto Loan, Credit-Builder Loan, Personal Loan, and Home Equity Loan",
            "3",
            "7",
            "_",
            "4.0",
            "_",
            "809.98",
            "26.822619623699016",
            "NA",
            "NM",
            "49.57494921489417",
            "__10000__",
            "!@9#%8",
            "312.49408867943663",
            "Good",
        ],
    )
)
MONTHS = CONTRACT_MONTHS[:8]  # the eight months of Kaggle's train.csv


def make_raw_rows(customers: int = 6, months: int = 3, seed: int = 0) -> pd.DataFrame:
    "Rows in the raw schema: `customers` x `months`, every value text, labels from LABELS."
    rng = random.Random(seed)
    rows = []
    for c in range(customers):
        for m in range(months):
            rows.append(
                {
                    **BASE_ROW,
                    "ID": f"0x{0x1602 + 12 * c + m:x}",
                    "Customer_ID": f"CUS_0x{c + 1:04x}",
                    "Month": MONTHS[m],
                    "Age": rng.choice(["23_", "34", "-500", "41"]),
                    "Delay_from_due_date": str(rng.randint(-2, 60)),
                    "Outstanding_Debt": f"{rng.uniform(10, 4000):.2f}",
                    "Credit_Score": LABELS[(c + m) % 3],
                }
            )
    return pd.DataFrame(rows, columns=list(RAW_COLUMNS))


@pytest.fixture
def raw_rows() -> pd.DataFrame:
    return make_raw_rows()


@pytest.fixture
def raw_folder(tmp_path, raw_rows) -> Path:
    "A folder laid out like the Kaggle download (train.csv; test.csv without the label)."
    folder = tmp_path / "source"
    folder.mkdir()
    raw_rows.to_csv(folder / "train.csv", index=False)
    raw_rows.drop(columns="Credit_Score").assign(Month="September").to_csv(folder / "test.csv", index=False)
    return folder


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def s3(settings):
    "A client for the real local S3 server; fails (never skips) with the fix when it is down."
    client = s3_client(settings)
    try:
        client.head_bucket(Bucket=settings.s3_bucket)
    except Exception as e:  # noqa: BLE001 - any failure means the same thing here
        pytest.fail(f"S3 at {settings.s3_endpoint_url} is not reachable ({e}); run 'make services-up'")
    return client
