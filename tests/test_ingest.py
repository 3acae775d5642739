"""Ingest: the schema contract, every kind of bad input, and the all-or-nothing write of data/raw."""

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, make_raw_rows
from credit_score.ingest import RawDataError, ingest, resolve_source, s3_source, validate_raw


def snapshot(folder: Path) -> dict:
    "Every file under `folder` with its sha256 and mode: equal snapshots mean byte-identical folders."
    return {
        str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mode)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def raw_dir(tmp_path, raw_folder) -> Path:
    "data/raw as a previous good ingest left it."
    out = tmp_path / "data" / "raw"
    ingest(str(raw_folder), out, upload=False)
    return out


def test_good_folder_is_copied_unchanged_with_manifest(raw_folder, raw_dir):
    for name in ("train.csv", "test.csv"):
        assert (raw_dir / name).read_bytes() == (raw_folder / name).read_bytes()
    manifest = json.loads((raw_dir / "manifest.json").read_text())
    train = manifest["files"]["train.csv"]
    assert (train["rows"], train["customers"]) == (18, 6)
    assert train["months"] == ["January", "February", "March"]
    assert train["sha256"] == hashlib.sha256((raw_folder / "train.csv").read_bytes()).hexdigest()
    assert sum(train["labels"].values()) == 18 and len(manifest["dataset_sha256"]) == 64


def test_dirt_is_kept_as_text(raw_dir):
    df = validate_raw(raw_dir / "train.csv")
    assert set(df["Occupation"]) == {"_______"} and set(df["Credit_History_Age"]) == {"NA"}
    assert set(df["Monthly_Inhand_Salary"]) == {""} and "23_" in set(df["Age"])


def _write(folder: Path, text: str | bytes) -> Path:
    folder.mkdir(exist_ok=True)
    p = folder / "train.csv"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return folder


def _good_text() -> str:
    return make_raw_rows(customers=3, months=2).to_csv(index=False)


BAD_INPUTS = {
    "missing file": (lambda d: d / "nowhere", "source not found"),
    "missing column": (
        lambda d: _write(d, make_raw_rows(3, 2).drop(columns="Annual_Income").to_csv(index=False)),
        "missing column(s) Annual_Income",
    ),
    "renamed column": (
        lambda d: _write(d, _good_text().replace("Num_Credit_Card", "Credit_Cards", 1)),
        "unexpected column(s) Credit_Cards",
    ),
    "empty file": (lambda d: _write(d, ""), "file is empty"),
    "header only": (lambda d: _write(d, _good_text().splitlines()[0] + "\n"), "no data rows"),
    "truncated": (lambda d: _write(d, _good_text()[:-40]), "truncated"),
    "unknown label": (
        lambda d: _write(d, _good_text().replace(",Good\n", ",Excellent\n", 1)),
        "unknown label 'Excellent' in column Credit_Score at line",
    ),
    "duplicate IDs": (lambda d: _write(d, _good_text().replace("0x1603", "0x1602")), "duplicate ID '0x1602'"),
    "not CSV (zip)": (lambda d: _write(d, b"PK\x03\x04" + bytes(range(256)) * 4), "binary"),
    "not CSV (semicolons)": (lambda d: _write(d, _good_text().replace(",", ";")), "not comma-separated"),
    "not UTF-8": (lambda d: _write(d, _good_text().replace("Aaron", "Aar\xf3n").encode("latin-1")), "not UTF-8"),
    "UTF-16": (lambda d: _write(d, _good_text().encode("utf-16")), "not"),
    "formula injection": (
        lambda d: _write(d, _good_text().replace("Aaron Maashoh", "=cmd|' /C calc'!A0", 1)),
        "column Name: \"=cmd|' /C calc'!A0\" looks like a spreadsheet formula",
    ),
    "formula with @": (lambda d: _write(d, _good_text().replace("821-00-0265", "@SUM(1+1)*cmd", 1)), "spreadsheet formula"),
    "infinite number": (
        lambda d: _write(d, _good_text().replace("49.57494921489417", "1e999", 1)),
        "column Total_EMI_per_month: '1e999' is not a finite number",
    ),
    "shifted column": (
        lambda d: _write(d, _good_text().replace("19114.12", "Scientist")),
        "column Annual_Income: 6 of 6 values are not numbers",
    ),
    "a 1 GB file": (lambda d: _sparse(d, 1 << 30), "1,074 MB is over the 500 MB limit"),
}


def _sparse(folder: Path, size: int) -> Path:
    "A file of `size` bytes that takes no disk space: a valid header, then holes."
    _write(folder, _good_text())
    with open(folder / "train.csv", "r+b") as f:
        f.truncate(size)
    return folder


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_named_and_data_raw_untouched(case, tmp_path, raw_dir):
    make, expected = BAD_INPUTS[case]
    source = make(tmp_path / "bad")
    before = snapshot(raw_dir)
    with pytest.raises(RawDataError) as err:
        ingest(str(source), raw_dir, upload=False)
    assert expected in str(err.value)
    assert str(source) in str(err.value) or "train.csv" in str(err.value)  # the file is named
    assert snapshot(raw_dir) == before
    assert not list(raw_dir.parent.glob(".raw-*")), "no temporary folder may be left behind"


def test_unlabelled_test_file_is_checked_too(tmp_path, raw_folder, raw_dir):
    (raw_folder / "test.csv").write_text("ID,Customer_ID\n1,2\n")
    before = snapshot(raw_dir)
    with pytest.raises(RawDataError, match="test.csv: missing column"):
        ingest(str(raw_folder), raw_dir, upload=False)
    assert snapshot(raw_dir) == before


def test_a_single_csv_file_is_the_training_file(tmp_path, raw_folder):
    out = tmp_path / "raw"
    manifest = ingest(str(raw_folder / "train.csv"), out, upload=False)
    assert set(manifest["files"]) == {"train.csv"}


def test_auto_source_prefers_the_offline_copy(tmp_path):
    assert resolve_source("auto", tmp_path) == "kaggle"  # no ../shared beside tmp_path
    (tmp_path / "shared/data/credit-score-classification").mkdir(parents=True)
    assert resolve_source("auto", tmp_path / "project") == str((tmp_path / "shared/data/credit-score-classification").resolve())
    assert resolve_source("s3://b/raw/", tmp_path) == "s3://b/raw/"


def test_kaggle_source_goes_through_kagglehub(monkeypatch, tmp_path, raw_folder):
    "The Kaggle path is real code; only the download itself is replaced (no internet here)."
    import kagglehub

    calls = []
    monkeypatch.setattr(kagglehub, "dataset_download", lambda name: calls.append(name) or str(raw_folder))
    manifest = ingest("kaggle", tmp_path / "raw", upload=False)
    assert calls == ["parisrohan/credit-score-classification"]
    assert manifest["resolved_source"] == "kaggle" and manifest["files"]["train.csv"]["rows"] == 18


def _run_stage(source: str, raw_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            "credit-score",
            "stage",
            "nbs/00_ingest.ipynb",
            "-p",
            "source",
            source,
            "-p",
            "raw_dir",
            str(raw_dir),
            "-p",
            "upload",
            "false",
            "--executed-dir",
            str(raw_dir.parent / "executed"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_stage_cli_refuses_a_removed_column_with_one_clear_line(tmp_path, raw_dir):
    bad = _write(tmp_path / "bad", make_raw_rows(3, 2).drop(columns="Outstanding_Debt").to_csv(index=False))
    before = snapshot(raw_dir)
    result = _run_stage(str(bad), raw_dir)
    assert result.returncode != 0
    assert "stage 00_ingest failed: RawDataError" in result.stderr
    assert "missing column(s) Outstanding_Debt" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(raw_dir) == before


def test_reingesting_the_same_data_is_byte_identical(raw_folder, raw_dir):
    before = snapshot(raw_dir)
    ingest(str(raw_folder), raw_dir, upload=False)
    assert snapshot(raw_dir) == before, "same data, same source: same bytes (DVC sees no new version)"


@pytest.mark.parametrize(
    "uri, expected",
    [
        ("s3://b/raw/incoming/x.csv", ("b", ["raw/incoming/x.csv"], None)),
        (
            "s3://b/raw/incoming/new%20data.csv?versionId=3/L4kqtJl.x_Y",
            ("b", ["raw/incoming/new data.csv", "raw/incoming/new%20data.csv"], "3/L4kqtJl.x_Y"),
        ),
        ("s3://b/raw/incoming/new+data.csv?versionId=v", ("b", ["raw/incoming/new+data.csv", "raw/incoming/new data.csv"], "v")),
        ("s3://b/raw/incoming/a%2Bb.csv?versionId=null", ("b", ["raw/incoming/a+b.csv", "raw/incoming/a%2Bb.csv"], "null")),
        ("s3://b/raw/100%.csv", ("b", ["raw/100%.csv"], None)),
        ("s3://b/raw/incoming/?versionId=", ("b", ["raw/incoming/"], None)),
    ],
)
def test_s3_source_splits_off_the_version_and_decodes_the_key(uri, expected):
    assert s3_source(uri) == expected


def test_a_version_of_a_prefix_is_refused(tmp_path):
    with pytest.raises(RawDataError, match=r"s3://b/raw/\?versionId=v1: a versionId names one object"):
        ingest("s3://b/raw/?versionId=v1", tmp_path / "raw", upload=False)
