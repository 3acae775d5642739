"""Notebooks that stay true: every stage writes its findings from its own outputs, whatever the data.

`01_eda` and `02_preprocess` (no services) run through the stage runner on two datasets, the offline copy of
the real data and one derived here from its rows (fewer customers, a month dropped, other dirt, another label
balance); each executed record must render exactly the findings that its own JSON output gives, and those
must follow the data. The later stages' `findings` are checked on the committed reports, and the hand-written
Markdown of every stage notebook's results must hold no measured number (those come from the outputs).
"""

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import OFFLINE, ROOT
from credit_score.core import QUIET, run_notebook
from credit_score.evaluate import findings as evaluate_findings
from credit_score.findings import eda_findings, number
from credit_score.ingest import read_raw_csv
from credit_score.preprocess import findings as preprocess_findings
from credit_score.register import findings as register_findings
from credit_score.train import findings as train_findings

STAGES = {  # notebook -> its stage in dvc.yaml
    re.search(r"nbs/(\S+\.ipynb)", s["cmd"])[1]: name
    for name, s in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items()
    if re.search(r"nbs/\S+\.ipynb", s["cmd"])
}
RESULTS = re.compile(r"^##\s+(Run|What was found)\b", re.M)  # the heading that opens a notebook's results
# A measured number: 3+ digits, a thousands separator or a decimal point (dates, versions and IDs have none here).
MEASURED = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+\.\d+|\d{3,})(?![\w.])")
NOT_MEASURED: set[str] = set()  # numbers a results section may state by hand (none so far)


# ---- the two datasets, run through the stage runner ----------------------------------------------------------------


def derived(real: pd.DataFrame, seed: int = 7) -> pd.DataFrame:
    """Other data from the real rows: a quarter of the one-month customers, no March, written NA markers, the full
    file's absurd balance, more -500 ages, no `__10000__` filler, and two thirds of the Poor rows gone."""
    rng = np.random.default_rng(seed)
    months = real.groupby("Customer_ID")["Month"].transform("size")
    keep = set(rng.choice(real.loc[months == 1, "Customer_ID"].unique(), 2500, replace=False))
    df = pd.concat([real[(months > 1) & (real["Month"] != "March")], real[real["Customer_ID"].isin(keep)]], ignore_index=True)
    df.loc[df["Amount_invested_monthly"] == "__10000__", "Amount_invested_monthly"] = "120.5"
    cells = rng.choice(len(df), 330, replace=False)
    df.loc[cells[:200], "Monthly_Inhand_Salary"] = "NA"
    df.loc[cells[200:230], "Monthly_Balance"] = "__-333333333333333333333333333__"
    df.loc[cells[230:], "Age"] = "-500"
    poor = df.index[df["Credit_Score"] == "Poor"]
    return df.drop(rng.choice(poor, len(poor) * 2 // 3, replace=False)).reset_index(drop=True)


def stage(notebook: str, out: Path, **params) -> subprocess.CompletedProcess:
    "Run a stage notebook the way dvc.yaml does (`credit-score stage`), its record going to `out`."
    pairs = [x for k, v in params.items() for x in ("-p", k, str(v))]
    cmd = [sys.executable, "-c", "from credit_score.core import main; raise SystemExit(main())", "stage", f"nbs/{notebook}"]
    return subprocess.run([*cmd, *pairs, "--executed-dir", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    "Each dataset's folder after 01_eda and 02_preprocess ran on it: raw/, records/, eda.json, cleaning.json."
    if not (OFFLINE / "train.csv").exists():
        pytest.skip(f"the offline data is not at {OFFLINE}")
    real = read_raw_csv(OFFLINE / "train.csv")
    base = tmp_path_factory.mktemp("findings")
    folders = {}
    for name, df in (("offline", real), ("derived", derived(real))):
        (base / name / "raw").mkdir(parents=True)
        df.to_csv(base / name / "raw" / "train.csv", index=False)
        folders[name] = base / name
    jobs = [
        (d, nb, params)
        for d, f in folders.items()
        for nb, params in (
            ("01_eda.ipynb", {"raw_dir": f / "raw", "figures_dir": f / "figures", "summary_path": f / "eda.json"}),
            ("02_preprocess.ipynb", {"raw_dir": f / "raw", "processed_dir": f / "processed", "report_path": f / "cleaning.json"}),
        )
    ]
    with ThreadPoolExecutor(len(jobs)) as pool:
        done = list(pool.map(lambda j: stage(j[1], folders[j[0]] / "records", **j[2]), jobs))
    for (d, nb, _), res in zip(jobs, done):
        assert res.returncode == 0, f"{nb} on the {d} data: {res.stderr[-2000:]}"
    return folders


def rendered(record: Path) -> list[str]:
    "The findings an executed notebook rendered: Markdown outputs of the cells that call a findings function."
    cells = json.loads(record.read_text())["cells"]
    return [
        "".join(o["data"]["text/markdown"])
        for c in cells
        if c["cell_type"] == "code" and re.search(r"findings\(|found\[", "".join(c["source"]))
        for o in c.get("outputs", [])
        if "text/markdown" in o.get("data", {})
    ]


def streams(record: Path) -> str:
    cells = json.loads(record.read_text())["cells"]
    return "".join("".join(o.get("text", "")) for c in cells for o in c.get("outputs", []) if o.get("output_type") == "stream")


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["offline", "derived"])
def test_records_render_the_findings_of_their_own_outputs(runs, dataset):
    f = runs[dataset]
    eda, cleaning = json.loads((f / "eda.json").read_text()), json.loads((f / "cleaning.json").read_text())
    assert rendered(f / "records/01_eda.ipynb") == list(eda_findings(eda).values())
    assert rendered(f / "records/02_preprocess.ipynb") == [preprocess_findings(cleaning)]
    for nb in ("01_eda.ipynb", "02_preprocess.ipynb"):
        assert not re.search(r"it/s|\d+%\|", streams(f / "records" / nb)), f"{nb}: a progress bar in the executed record"


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["offline", "derived"])
def test_findings_follow_the_data(runs, dataset):
    "Checked against the raw file itself, not the JSON: the records describe the data they ran on."
    f = runs[dataset]
    raw = read_raw_csv(f / "raw/train.csv")
    (dirty, _, _, labels, consistency), (cleaning,) = (
        rendered(f / "records/01_eda.ipynb"),
        rendered(f / "records/02_preprocess.ipynb"),
    )
    counts = raw["Credit_Score"].value_counts()
    assert labels.startswith(f"`{counts.index[0]}` is the majority class with {counts.iloc[0]:,} rows")
    months = raw.groupby("Customer_ID").size()
    single = int((months == 1).sum())
    assert f"{single:,} of the {len(months):,} appear once" in consistency
    assert f"{len(raw) * len(raw.columns):,}" in dirty
    written_na = raw.isin(["NA", "nan", "NaN", "None", "null"]).to_numpy().sum()
    assert ("written markers (`NA`)" in dirty) == bool(written_na) and ("no written missing marker" in dirty) != bool(written_na)
    sentinel = (raw["Monthly_Balance"].str.strip("_") == "-333333333333333333333333333").sum()
    assert ("does not occur in this file" in dirty) == (sentinel == 0)
    assert cleaning.startswith(f"On these {len(raw):,} rows of {len(months):,} customers")
    assert f"the {int((months > 1).sum()):,} customers who have several months" in cleaning


@pytest.mark.slow
def test_the_two_records_differ_where_the_data_does(runs):
    offline, other = (rendered(runs[d] / "records/01_eda.ipynb") for d in ("offline", "derived"))
    assert all(a != b for a, b in zip(offline, other))
    n = len(read_raw_csv(runs["offline"] / "raw/train.csv"))
    assert not any(f"{n:,}" in p for p in [*other, *rendered(runs["derived"] / "records/02_preprocess.ipynb")])


# ---- the later stages, on the committed reports ---------------------------------------------------------------------


def report(name: str) -> dict:
    return json.loads((ROOT / "reports" / name).read_text())


def test_train_findings_tell_the_committed_record():
    rec = report("train_run.json")
    text, cands, winner = train_findings(rec), rec["cv"]["candidates"], rec["candidate"]
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) == len(cands)
    for name, r in cands.items():
        (row,) = [line for line in rows if line.startswith(f"| `{name}`")]
        cell = f"{r['macro_f1_mean']:.3f} ± {r['macro_f1_std']:.3f}"
        assert (f"**{cell}**" if name == winner else cell) in row and row.endswith(f"| {number(r['monotone_violations'])} |")
    best = max(cands, key=lambda n: cands[n]["macro_f1_mean"])
    assert (f"`{winner}` has the best mean macro-F1" in text) == (best == winner)
    assert ("wins although" in text) == (best != winner)


def test_train_findings_follow_the_record_not_the_prose():
    "The same record with another candidate on top: the text must change sides."
    rec = report("train_run.json")
    winner = rec["candidate"]
    rival = next(n for n, r in rec["cv"]["candidates"].items() if n != winner and r["monotone_violations"])
    rec["cv"]["candidates"][rival]["macro_f1_mean"] = 0.99
    text = train_findings(rec)
    assert f"`{winner}` wins although `{rival}` scored a higher mean (0.990)" in text
    assert f"`{winner}` has the best mean" not in text


def test_evaluate_findings_tell_the_committed_metrics():
    m, rec = report("metrics.json"), report("train_run.json")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())["evaluate"]
    slices = report("slices.json") if (ROOT / "reports/slices.json").exists() else None
    text = evaluate_findings(m, rec, params, slices)
    assert f"{m['rows']:,} holdout rows" in text and f"**macro-F1 {m['macro_f1']:.3f}** (accuracy {m['accuracy']:.3f})" in text
    hard = min(m["per_class"], key=lambda c: m["per_class"][c]["f1"])
    assert f"{hard} is the hard class" in text
    cv = rec["cv"]
    assert ("predicted the holdout well" in text) == (abs(m["macro_f1"] - cv["macro_f1_mean"]) <= 2 * cv["macro_f1_std"])
    passed = not any(m["behaviour"]["monotone_violations"].values()) and not any(
        r["rows_changed"] for r in m["behaviour"]["invariance"].values()
    )
    assert ("The behavioural tests pass on every holdout row" in text) == passed
    for c, steps in params["behaviour"]["monotone"].items():
        assert f"`{c}` by up to {number(max(steps))}" in text
    if slices:
        assert "**Slices.**" in text


def test_evaluate_findings_say_when_the_folds_were_optimistic():
    m, rec = report("metrics.json"), report("train_run.json")
    low = {**m, "macro_f1": rec["cv"]["macro_f1_mean"] - 3 * rec["cv"]["macro_f1_std"] - 0.01}
    text = evaluate_findings(low, rec)
    assert "the folds were optimistic" in text and "predicted the holdout well" not in text


def test_register_findings_tell_the_committed_decision():
    d = report("register.json")
    text = register_findings(d)
    assert text.startswith(f"This run's model is version {d['candidate']['version']} of `{d['model_name']}`")
    assert ("**promoted**" in text) == (d["decision"] == "promoted") and ("**kept**" in text) == (d["decision"] == "kept")
    assert f"points to version {d['champion_after']}" in text
    assert f"{d['holdout']['rows']:,} holdout rows of {d['holdout']['customers']:,} customers" in text


def test_register_findings_name_the_version_of_the_record():
    "The stale narrative of 'version 2' must not come back: the version is the record's."
    d = {
        **report("register.json"),
        "decision": "kept",
        "reason": "macro-F1 0.6196 does not beat the champion's 0.6196 on the same holdout by more than 0.0000",
        "champion_before": {"version": 5, "run_id": "r5", "macro_f1": 0.619632, "error": None},
        "champion_after": 5,
    }
    d["candidate"] = {**d["candidate"], "version": 6}
    text = register_findings(d)
    assert "version 6 of" in text and "still points to version 5" in text and "version 2" not in text


# ---- what stays hand-written ----------------------------------------------------------------------------------------


def results_markdown(nb: Path) -> list[str]:
    "The Markdown cells from a notebook's results heading (`## Run...` or `## What was found`) to its end."
    cells = json.loads(nb.read_text())["cells"]
    start = next((i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and RESULTS.search("".join(c["source"]))), None)
    assert start is not None, f"{nb.name}: no '## Run' or '## What was found' section"
    return ["".join(c["source"]) for c in cells[start:] if c["cell_type"] == "markdown"]


@pytest.mark.parametrize("notebook", sorted(STAGES))
def test_hand_written_results_hold_no_measured_number(notebook):
    found = [
        (m, text[max(0, m.start() - 40) : m.end() + 20])
        for text in results_markdown(ROOT / "nbs" / notebook)
        for m in MEASURED.finditer(text)
        if m.group() not in NOT_MEASURED
    ]
    assert not found, f"{notebook}: measured numbers typed by hand (write them from the stage's outputs): " + "; ".join(
        repr(ctx) for _, ctx in found[:8]
    )


def test_the_stage_runner_keeps_progress_bars_out_of_records(tmp_path):
    "tqdm's bars (and its warning that it cannot draw notebook bars) are off in a stage's kernel; the caller's environment is left as it was."
    names = sorted(QUIET)
    code = f"import os\nfrom tqdm.auto import tqdm\nfor _ in tqdm(range(3)): pass\nprint({{k: os.environ.get(k) for k in {names!r}}})"
    nb = {
        "cells": [{"cell_type": "code", "execution_count": None, "id": "a1", "metadata": {}, "outputs": [], "source": code}],
        "metadata": {"kernelspec": {"display_name": "python3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp_path / "quiet.ipynb").write_text(json.dumps(nb))
    before = {k: os.environ.get(k) for k in QUIET}
    out = run_notebook(Path("quiet.ipynb"), {}, root=tmp_path, executed_dir=Path("records"))
    text = streams(out)
    assert "it/s" not in text and "%|" not in text and "TqdmWarning" not in text, text
    assert str({k: os.environ.get(k, QUIET[k]) for k in names}) in text
    assert {k: os.environ.get(k) for k in QUIET} == before
