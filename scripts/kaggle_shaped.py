"""Build a Kaggle-shaped benchmark set from real rows: ~8 months per customer, like the real train.csv.

The real train.csv holds 12,500 customers x January..August (100,000 rows). The offline copy holds only
10,875 of its rows (125 customers with 8 months, 9,875 with August alone), but the offline test.csv is
Kaggle's original: the same 12,500 customers x September..December (50,000 rows), with all their dirt.
This script turns those real rows into a labelled panel of the real file's shape:

- Months: each customer's four real rows, in month order, are each used twice: September becomes January
  and February, October March and April, November May and June, December July and August. The customer's
  history keeps its order (nothing runs backwards in time, as it would if the four months were stacked
  twice), every month has one row, and every value is a real one, dirt included. Only `Month` and `ID`
  change; `ID` becomes the row's id in Kaggle's own numbering (each customer owns a block of 12 ids,
  January..December), so it is unique and lies beside, never on, the test.csv ids.
- Labels: every row of a customer gets that customer's **August** label from train.csv: the only month the
  offline copy has for every labelled customer, and the one right before the real September row.
  (In the real file a customer's label can change from month to month; here it does not.)
- Customers without an August row in train.csv (2,500 of the 12,500) are left out: 10,000 customers,
  80,000 rows, or `--customers N` of them drawn with `--seed`.
- test.csv is copied beside it unchanged (`--no-test` leaves it out), as in Kaggle's own download.

No randomness unless `--customers` is given; the same inputs and arguments give the same bytes.
Write it outside the repository (it is data: never commit it), then, e.g.:

    scripts/env.sh python scripts/kaggle_shaped.py --out /tmp/kaggle-shaped
    scripts/env.sh python scripts/bench_pipeline.py --datasets offline,kaggle-shaped
"""

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from credit_score.core import sha256_file

ROOT = Path(__file__).resolve().parents[1]
OFFLINE = ROOT / "../shared/data/credit-score-classification"
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")  # fmt: skip
REAL_MONTHS = MONTHS[8:]  # what test.csv holds
LABEL_MONTH = "August"
LABEL = "Credit_Score"
COPIES = 2  # each real month stands for this many relabelled months: 4 x 2 = 8


class ShapeError(ValueError):
    "The input files are not what this script expects; the message says which file and what."


def read_csv(path: Path) -> pd.DataFrame:
    "A raw Kaggle file with every value as text, exactly as written (empty stays empty, NA stays NA)."
    if not path.is_file():
        raise ShapeError(f"{path}: not found")
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def august_labels(train: pd.DataFrame) -> pd.Series:
    "Customer_ID -> the Credit_Score of that customer's August row in train.csv."
    missing = [c for c in ("Customer_ID", "Month", LABEL) if c not in train]
    if missing:
        raise ShapeError(f"train.csv: no column(s) {', '.join(missing)}")
    aug = train[train["Month"] == LABEL_MONTH]
    dup = aug["Customer_ID"].duplicated()
    if dup.any():
        raise ShapeError(f"train.csv: customer {aug.loc[dup, 'Customer_ID'].iloc[0]} has more than one {LABEL_MONTH} row")
    return aug.set_index("Customer_ID")[LABEL]


def relabel_months(test: pd.DataFrame) -> pd.DataFrame:
    "Each September..December row twice, as the two months it stands for (January..August), with Kaggle-numbered ids."
    bad = ~test["Month"].isin(REAL_MONTHS)
    if bad.any():
        raise ShapeError(
            f"test.csv: month {test.loc[bad, 'Month'].iloc[0]!r} at line {int(np.argmax(bad.to_numpy())) + 2}: expected {', '.join(REAL_MONTHS)}"
        )
    real = test["Month"].map({m: i for i, m in enumerate(MONTHS)}).to_numpy()
    try:
        block = np.array([int(i, 16) for i in test["ID"]]) - real  # the id of the customer's January
    except ValueError as e:
        raise ShapeError(f"test.csv: an ID is not a hexadecimal number ({e})") from e
    test = test.assign(_order=np.arange(len(test)), _real=real, _block=block)
    copies = []
    for k in range(COPIES):
        month = (real - 8) * COPIES + k  # September (8) -> 0, 1; ...; December (11) -> 6, 7
        copies.append(test.assign(Month=[MONTHS[m] for m in month], ID=[hex(b + m) for b, m in zip(block, month)], _month=month))
    out = pd.concat(copies, ignore_index=True)
    out["_first"] = out.groupby("Customer_ID", sort=False)["_order"].transform("min")  # customers in test.csv's order
    out = out.sort_values(["_first", "_month"], kind="stable").drop(columns=["_order", "_real", "_block", "_month", "_first"])
    dup = out["ID"].duplicated()
    if dup.any():
        raise ShapeError(
            f"test.csv: ids do not follow Kaggle's blocks of 12 per customer (relabelled id {out.loc[dup, 'ID'].iloc[0]} twice)"
        )
    return out.reset_index(drop=True)


def build(train: pd.DataFrame, test: pd.DataFrame, customers: int | None = None, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    "The Kaggle-shaped labelled rows (train.csv's columns and order) and what was done, from the two raw frames."
    labels = august_labels(train)
    known = test["Customer_ID"].isin(labels.index)
    chosen = pd.unique(test.loc[known, "Customer_ID"])
    if customers is not None:
        if not 0 < customers <= len(chosen):
            raise ShapeError(f"--customers {customers}: there are {len(chosen)} labelled customers in test.csv")
        keep = set(np.random.default_rng(seed).choice(chosen, size=customers, replace=False))
        chosen = [c for c in chosen if c in keep]  # test.csv's order, whatever the draw's
    rows = relabel_months(test[test["Customer_ID"].isin(set(chosen))])
    rows[LABEL] = rows["Customer_ID"].map(labels)
    rows = rows[[*train.columns]]
    info = {
        "rows": len(rows),
        "customers": int(rows["Customer_ID"].nunique()),
        "rows_per_customer": rows.groupby("Customer_ID").size().value_counts().sort_index().to_dict(),
        "months": [m for m in MONTHS if m in set(rows["Month"])],
        "labels": rows[LABEL].value_counts().to_dict(),
        "label_month": LABEL_MONTH,
        "test_customers": int(test["Customer_ID"].nunique()),
        "unknown_customers_left_out": int(test.loc[~known, "Customer_ID"].nunique()),
        "customers_drawn": None if customers is None else {"n": customers, "seed": seed},
        "scheme": "each September..December row twice: Sep -> Jan, Feb; Oct -> Mar, Apr; Nov -> May, Jun; Dec -> Jul, Aug",
    }
    return rows, info


def refuse_tracked(out: Path) -> None:
    "Refuse a folder inside this repository that git would not ignore: the set is data, never committed."
    try:
        out.resolve().relative_to(ROOT)
    except ValueError:
        return
    probe = out.resolve() / "train.csv"
    ignored = subprocess.run(["git", "check-ignore", "-q", str(probe)], cwd=ROOT, capture_output=True).returncode == 0
    if not ignored:
        raise ShapeError(
            f"{out}: inside the repository and not ignored by git; write the set elsewhere (e.g. /tmp/kaggle-shaped)"
        )


def write(source: Path, out: Path, customers: int | None = None, seed: int = 0, with_test: bool = True, log=print) -> dict:
    "Read `source`/train.csv and test.csv, build the set, write `out`/train.csv (+ test.csv, kaggle_shaped.json)."
    source = Path(source)
    if not source.is_dir():
        raise ShapeError(
            f"the offline Kaggle data is not at {source.resolve()}: it is expected in ../shared/data/credit-score-classification "
            "beside the project (or pass --source DIR holding train.csv and test.csv)"
        )
    refuse_tracked(out)
    log(f"reading {source / 'train.csv'} and {source / 'test.csv'}")
    train, test = read_csv(source / "train.csv"), read_csv(source / "test.csv")
    log(
        f"  train.csv {len(train):,} rows, {train['Customer_ID'].nunique():,} customers; test.csv {len(test):,} rows, {test['Customer_ID'].nunique():,} customers"
    )
    rows, info = build(train, test, customers, seed)
    log(
        f"  {info['rows']:,} rows: {info['customers']:,} customers x {', '.join(info['months'])}; {info['unknown_customers_left_out']:,} unlabelled customers left out"
    )
    out.mkdir(parents=True, exist_ok=True)
    rows.to_csv(out / "train.csv", index=False, lineterminator="\n")
    info["source"] = {n: sha256_file(source / n) for n in ("train.csv", "test.csv")}
    info["files"] = {"train.csv": sha256_file(out / "train.csv")}
    if with_test:
        shutil.copyfile(source / "test.csv", out / "test.csv")
        info["files"]["test.csv"] = info["source"]["test.csv"]
    elif (out / "test.csv").exists():
        (out / "test.csv").unlink()
    (out / "kaggle_shaped.json").write_text(json.dumps(info, indent=2) + "\n")
    log(f"wrote {out / 'train.csv'} (sha256 {info['files']['train.csv'][:12]}){' and test.csv' if with_test else ''}")
    return info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument(
        "--out", type=Path, required=True, help="folder to write train.csv (and test.csv) into; outside the repository"
    )
    ap.add_argument(
        "--source", type=Path, default=OFFLINE, help="folder with Kaggle's train.csv and test.csv (default: %(default)s)"
    )
    ap.add_argument("--customers", type=int, default=None, help="draw this many labelled customers (default: all)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the --customers draw (default: %(default)s)")
    ap.add_argument("--no-test", action="store_true", help="do not copy test.csv beside the new train.csv")
    args = ap.parse_args(argv)
    try:
        write(args.source, args.out, args.customers, args.seed, not args.no_test)
    except ShapeError as e:
        print(f"kaggle_shaped: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
