"""Model scoring benchmark: the packed tree walk (credit_score.train.PackedTrees) against scikit-learn's
per-tree loop, on the champion and the holdout customers, in one process.

The baseline is scikit-learn's own `predict_proba` of the two boosted models on the same rows in the
same run, so the ratios hold on a noisy machine even when the absolute figures move. It also checks
that both give the same probabilities and classes on every holdout row. One thread (as the API
scores), best of 5 repeats per batch size. Needs models/model.pkl and data/processed/holdout.parquet
(`dvc repro register`); no service.

    scripts/env.sh python scripts/bench_model.py       # writes reports/bench/model.{json,md}
"""

import argparse
import json
import os
import platform
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from credit_score.contract import FEATURE_COLUMNS
from credit_score.model import PACKED_MAX_ROWS
from credit_score.modelfile import unpickle

ROOT = Path(__file__).resolve().parents[1]
SIZES = (1, 23, 64, 128, 184, 256, 512, 1000, 2175)  # 23 = one /predict with its reasons; 184 = 8 of them coalesced


def best_ms(fn, repeats: int = 5, min_seconds: float = 0.2) -> float:
    "The fastest of `repeats` timings of `fn`, each looped long enough to time it, in ms per call."
    fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < min_seconds / repeats:
        fn()
        n += 1
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n * 1000)
    return best


def measure(model_path: Path, holdout_path: Path) -> dict:
    pipe = unpickle(model_path.read_bytes())
    features, est = pipe.steps[0][1], pipe.steps[-1][1]
    X = features.transform(pd.read_parquet(holdout_path)[list(FEATURE_COLUMNS)])
    ref, new = est.sklearn_proba_(X), est.packed_proba_(X)  # the classifier's own two paths, forced
    classes = lambda proba: est._labels(np.minimum.accumulate(proba, axis=1))
    rows = []
    for n in (s for s in SIZES if s <= len(X)):
        part = X.iloc[:n]
        sk, pk = best_ms(lambda: est.sklearn_proba_(part)), best_ms(lambda: est.packed_proba_(part))
        rows.append(
            {
                "rows": n,
                "sklearn_ms": round(sk, 3),
                "packed_ms": round(pk, 3),
                "speedup": round(sk / pk, 2),
                "served_by": "packed" if n <= PACKED_MAX_ROWS else "sklearn",
            }
        )
    return {
        "holdout_rows": len(X),
        "trees": int(sum(len(m._predictors) for m in est.models_)),
        "max_abs_probability_difference": float(np.abs(ref - new).max()),
        "classes_agree": int((classes(ref) == classes(new)).sum()),
        "packed_max_rows": PACKED_MAX_ROWS,
        "sizes": rows,
    }


def markdown(res: dict) -> str:
    lines = [
        "# Model scoring benchmark: packed trees vs scikit-learn\n",
        f"Run {res['measured_at']} by `{res['command']}` on {res['cpus']} CPUs (load average before {res['load_before']}). "
        f"Champion `models/model.pkl` ({res['trees']} trees), holdout rows of `data/processed/holdout.parquet`; "
        "one thread, best of 5. The baseline is scikit-learn's `predict_proba` of the same models on the same rows, in the same run.\n",
        f"Same answers: largest probability difference {res['max_abs_probability_difference']}, classes agree on "
        f"{res['classes_agree']} of {res['holdout_rows']} holdout rows.\n",
        "| rows | scikit-learn ms | packed ms | speed-up | `OrdinalClassifier` uses |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['rows']} | {r['sklearn_ms']} | {r['packed_ms']} | {r['speedup']}x | {r['served_by']} |" for r in res["sizes"]
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=ROOT / "models/model.pkl")
    ap.add_argument("--holdout", type=Path, default=ROOT / "data/processed/holdout.parquet")
    ap.add_argument("--out", type=Path, default=ROOT / "reports/bench/model")
    args = ap.parse_args()
    for p in (args.model, args.holdout):
        if not p.exists():
            raise SystemExit(f"{p} is missing: run 'scripts/env.sh dvc repro register' first")
    warnings.simplefilter("ignore", UserWarning)
    threadpool_limits(1)
    load = [round(x, 2) for x in os.getloadavg()]
    res = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "scripts/env.sh python scripts/bench_model.py",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_before": load,
        **measure(args.model, args.holdout),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
