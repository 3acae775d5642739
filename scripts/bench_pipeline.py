"""Pipeline benchmark: wall time and peak memory of every stage, on the offline data and on a
100,000-row dataset built by resampling its customers.

Each stage runs exactly as dvc.yaml runs it (`credit-score stage ...` with the same parameters),
but with every data/reports/models path moved into a scratch folder and a throwaway registered
model name, so the workspace, DVC and the real `champion` are never touched. Needs the local
services (make services-up).

A baseline is measured in the same run: the stage runner executing an empty notebook (kernel
start, papermill, nothing else). Figures are reported as seconds and MB, and as ratios: each stage
against that baseline, and the 100k dataset against the offline one.

    scripts/env.sh python scripts/bench_pipeline.py            # writes reports/bench/pipeline.{json,md}
    scripts/env.sh python scripts/bench_pipeline.py --rows 20000 --skip-large
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import nbformat
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
OFFLINE = ROOT / "../shared/data/credit-score-classification"
SKIP_STAGES = {"e2e"}  # the end-to-end proof is not a data stage
MOVED = ("data/", "reports/", "models/")

# Run a command, then print the peak resident memory of all its (waited-for) descendants, in KB.
RUSAGE_WRAPPER = (
    "import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
    "print('MAXRSS', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(rc)"
)


def stage_commands(scratch: Path) -> list[tuple[str, list[str]]]:
    "The stages of dvc.yaml in order, their `${...}` filled from params.yaml, their paths moved into `scratch`."
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    params = yaml.safe_load((ROOT / "params.yaml").read_text())

    def value(match):
        v = params
        for k in match[1].split("."):
            v = v[k]
        return str(v).lower() if isinstance(v, bool) else str(v)

    out = []
    for name, stage in stages.items():
        if name in SKIP_STAGES:
            continue
        cmd = re.sub(r"\$\{([^}]+)\}", value, " ".join(stage["cmd"].split())).split()
        cmd = [str(scratch / a) if a.startswith(MOVED) else a for a in cmd]
        out.append((name, cmd + ["--executed-dir", str(scratch / "executed")]))
    return out


def set_param(cmd: list[str], name: str, value: str) -> list[str]:
    "Replace the value of `-p name ...` in a stage command."
    i = [j for j in range(len(cmd) - 2) if cmd[j] == "-p" and cmd[j + 1] == name]
    if not i:
        raise ValueError(f"no parameter {name!r} in {' '.join(cmd)}")
    return cmd[: i[0] + 2] + [value] + cmd[i[0] + 3 :]


def measure(cmd: list[str], env: dict) -> dict:
    "Wall seconds and peak RSS (MB) of `cmd` and its descendants; raises with the stage's own message."
    t0 = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", RUSAGE_WRAPPER, *cmd], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip().splitlines()[-3:])
    kb = int(re.search(r"MAXRSS (\d+)", result.stderr)[1])
    return {"seconds": round(seconds, 2), "peak_mb": round(kb / 1024, 1)}


def resample_customers(train: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    "A dataset of about `rows` rows: whole customers drawn with replacement, each copy a new customer."
    groups = [g for _, g in train.groupby("Customer_ID", sort=False)]
    rng = pd.Series(range(len(groups))).sample(n=rows, replace=True, random_state=seed).tolist()
    parts, total = [], 0
    for copy, i in enumerate(rng):
        g = groups[i].copy()
        g["Customer_ID"] = f"CUS_r{copy:06x}"
        parts.append(g)
        total += len(g)
        if total >= rows:
            break
    out = pd.concat(parts, ignore_index=True)
    out["ID"] = [f"0x{0x100000 + k:x}" for k in range(len(out))]  # IDs stay unique
    return out


def empty_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]})]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "python3", "language": "python"}
    nbformat.write(nb, path)
    return path


def run_dataset(label: str, source: Path, scratch: Path, env: dict) -> dict:
    "Every stage on one dataset, in order."
    results, total = {}, 0.0
    for name, cmd in stage_commands(scratch):
        if name == "ingest":
            cmd = set_param(set_param(cmd, "source", str(source)), "upload", "false")
        print(f"  {label}: {name} ...", end="", flush=True)
        results[name] = measure(cmd, env)
        total += results[name]["seconds"]
        print(f" {results[name]['seconds']} s, {results[name]['peak_mb']} MB", flush=True)
    return {"stages": results, "total_seconds": round(total, 2), "peak_mb": max(r["peak_mb"] for r in results.values())}


def report_md(figures: dict) -> str:
    lines = [
        "# Pipeline benchmark",
        "",
        f"Machine: {figures['machine']}. Command: `{figures['command']}`.",
        "",
        f"Baseline (the stage runner on an empty notebook): {figures['baseline']['seconds']} s, "
        f"{figures['baseline']['peak_mb']} MB.",
        "",
    ]
    sets = list(figures["datasets"])
    lines += [
        "| stage | "
        + " | ".join(f"{s} s | {s} MB | {s} x baseline" for s in sets)
        + (" | 100k / offline time |" if len(sets) > 1 else " |"),
        "|---" * (1 + 3 * len(sets) + (1 if len(sets) > 1 else 0)) + "|",
    ]
    for stage in figures["datasets"][sets[0]]["stages"]:
        cells = []
        for s in sets:
            r = figures["datasets"][s]["stages"][stage]
            cells += [str(r["seconds"]), str(r["peak_mb"]), f"{r['vs_baseline']:.1f}"]
        if len(sets) > 1:
            cells.append(f"{figures['scaling'][stage]:.2f}")
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    for s in sets:
        d = figures["datasets"][s]
        lines.append(
            f"\n**{s}** ({d['rows']:,} rows, {d['customers']:,} customers): full pipeline "
            f"{d['total_seconds']} s, peak {d['peak_mb']} MB."
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000, help="rows of the resampled dataset (default %(default)s)")
    ap.add_argument("--skip-large", action="store_true", help="only the offline data")
    ap.add_argument("--out", type=Path, default=ROOT / "reports/bench", help="where pipeline.json/.md go")
    args = ap.parse_args(argv)
    if not (OFFLINE / "train.csv").exists():
        sys.exit(f"the offline data is not at {OFFLINE}: this benchmark measures on it")

    env = {**os.environ, "MODEL_NAME": f"credit-score-bench-{uuid.uuid4().hex[:8]}"}  # never the real champion
    figures = {
        "machine": f"{platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "command": "scripts/env.sh python scripts/bench_pipeline.py " + " ".join(argv or sys.argv[1:]),
        "model_name": env["MODEL_NAME"],
        "datasets": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        tmp = Path(tmp)
        print("baseline: the stage runner on an empty notebook")
        nb = empty_notebook(tmp / "empty.ipynb")
        figures["baseline"] = measure(["credit-score", "stage", str(nb), "--executed-dir", str(tmp / "executed")], env)
        sources = {"offline": OFFLINE.resolve()}
        if not args.skip_large:
            big = tmp / "large"
            big.mkdir()
            train = pd.read_csv(OFFLINE / "train.csv", dtype=str, keep_default_na=False)
            resample_customers(train, args.rows).to_csv(big / "train.csv", index=False)
            sources[f"resampled {args.rows // 1000}k"] = big
        for label, source in sources.items():
            scratch = tmp / re.sub(r"\W", "_", label)
            rows = pd.read_csv(source / "train.csv", usecols=["Customer_ID"])
            print(f"{label}: {len(rows):,} rows")
            d = run_dataset(label, source, scratch, env)
            d.update(rows=len(rows), customers=int(rows["Customer_ID"].nunique()))
            for r in d["stages"].values():
                r["vs_baseline"] = round(r["seconds"] / figures["baseline"]["seconds"], 2)
            figures["datasets"][label] = d
    if len(figures["datasets"]) > 1:
        small, large = figures["datasets"].values()
        figures["scaling"] = {s: round(large["stages"][s]["seconds"] / small["stages"][s]["seconds"], 2) for s in small["stages"]}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "pipeline.json").write_text(json.dumps(figures, indent=2) + "\n")
    (args.out / "pipeline.md").write_text(report_md(figures))
    print(report_md(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
