"The training notebooks' and tests' synthetic fixture: cleaned rows in the processed schema whose label follows delay and debt."

import numpy as np
import pandas as pd

from credit_score.contract import FEATURE_COLUMNS, LABEL


def demo_frame(n_customers: int = 60, months: int = 2, seed: int = 0) -> pd.DataFrame:
    "Synthetic cleaned rows in the processed schema; the label follows payment delay and debt (demos and tests)."
    rng = np.random.default_rng(seed)
    n = n_customers * months
    u = lambda lo, hi: rng.uniform(lo, hi, n).round(2)
    delay, debt = rng.integers(0, 60, n).astype(float), u(0, 5000)
    score = delay / 60 + debt / 5000 + rng.normal(0, 0.15, n)
    df = pd.DataFrame(
        {
            "ID": [f"0x{i:x}" for i in range(n)],
            "Customer_ID": [f"CUS_{i // months}" for i in range(n)],
            "Month": "August",
            "Name": "A Name",
            "Age": rng.integers(18, 60, n).astype(float),
            "SSN": "821-00-0265",
            "Occupation": rng.choice(["Scientist", "Teacher", "Lawyer"], n),
            "Annual_Income": u(1e4, 1e5),
            "Monthly_Inhand_Salary": u(800, 8000),
            "Num_Bank_Accounts": rng.integers(0, 10, n).astype(float),
            "Num_Credit_Card": rng.integers(0, 10, n).astype(float),
            "Interest_Rate": rng.integers(1, 30, n).astype(float),
            "Num_of_Loan": rng.integers(0, 5, n).astype(float),
            "Type_of_Loan": rng.choice(["Auto Loan", "Payday Loan,Auto Loan", ""], n),
            "Delay_from_due_date": delay,
            "Num_of_Delayed_Payment": rng.integers(0, 25, n).astype(float),
            "Changed_Credit_Limit": u(-5, 30),
            "Num_Credit_Inquiries": rng.integers(0, 15, n).astype(float),
            "Credit_Mix": rng.choice(["Good", "Standard", "Bad"], n),
            "Outstanding_Debt": debt,
            "Credit_Utilization_Ratio": u(20, 45),
            "Credit_History_Age": rng.integers(1, 400, n).astype(float),
            "Payment_of_Min_Amount": rng.choice(["Yes", "No"], n),
            "Total_EMI_per_month": u(0, 300),
            "Amount_invested_monthly": u(0, 500),
            "Payment_Behaviour": rng.choice(["Low_spent_Small_value_payments", "High_spent_Large_value_payments"], n),
            "Monthly_Balance": u(0, 800),
        }
    )
    df[LABEL] = np.where(score < 0.7, "Good", np.where(score < 1.3, "Standard", "Poor"))
    return df[[*FEATURE_COLUMNS, LABEL]]


# %% ../nbs/03_train.ipynb #8cd4ca21
