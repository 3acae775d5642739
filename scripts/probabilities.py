"""Probabilities that mean what they say: the served champion against the latest trained candidate on Kaggle's test.csv.

Counts the class probabilities that are exactly zero (the old ordinal model's crossing cumulative probabilities,
clipped) and checks that both models take the same decisions; the holdout's calibration error is in
reports/metrics.json. Needs MLflow (make services-up) and the pipeline's outputs (make run).

    scripts/env.sh python scripts/probabilities.py        # writes reports/bench/probabilities.json
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def zero_counts(model, X) -> dict:
    "Rows, exact zeros per class and the smallest probability of `model` on `X`."
    p = model.predict_proba(X)
    return {
        "rows": len(X),
        "exact_zeros": {str(c): int((p[:, i] == 0).sum()) for i, c in enumerate(model.classes_)},
        "min_probability": float(p.min()),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / "../shared/data/credit-score-classification/test.csv"))
    ap.add_argument("--out", default=str(ROOT / "reports/bench/probabilities.json"))
    args = ap.parse_args()
    from credit_score.contract import FEATURE_COLUMNS
    from credit_score.core import Settings
    from credit_score.ingest import read_raw_csv
    from credit_score.modelfile import unpickle
    from credit_score.train import StageDataError, load_model, start_tracking

    record, champion = ROOT / "reports/train_run.json", ROOT / "models/model.pkl"
    for need in (record, champion, Path(args.data)):
        if not need.exists():
            print(f"missing {need}: run `make run` first (or pass --data)", file=sys.stderr)
            return 1
    start_tracking(Settings(), None)
    try:
        candidate, _ = load_model(json.loads(record.read_text())["model_uri"], stage="probabilities")
    except StageDataError as e:
        print(e, file=sys.stderr)
        return 1
    served = unpickle(champion.read_bytes())
    X = read_raw_csv(args.data)[list(FEATURE_COLUMNS)]
    print(f"scoring {len(X):,} rows with both models ...", flush=True)
    out = {
        "data": str(Path(args.data).name),
        "served_champion": zero_counts(served, X),
        "trained_candidate": zero_counts(candidate, X),
        "same_decisions": float((served.predict(X) == candidate.predict(X)).mean()),
        "calibrated_candidate": getattr(candidate.steps[-1][1], "calibrator_", None) is not None,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
