"""Ingest against the real local S3 server, and DVC round trips through the same bucket."""
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import OFFLINE, make_raw_rows
from credit_score.core import StorageError, upload_new
from credit_score.ingest import ingest, sha256_file

pytestmark = pytest.mark.services


@pytest.fixture
def source(tmp_path) -> Path:
    "The offline copy of the real data when it is beside the project, else a small folder in the raw schema."
    if OFFLINE.is_dir(): return OFFLINE.resolve()
    tmp_path.joinpath("src").mkdir()
    make_raw_rows(20, 3).to_csv(tmp_path / "src/train.csv", index=False)
    return tmp_path / "src"


def _versions(s3, bucket, prefix):
    return s3.list_object_versions(Bucket=bucket, Prefix=prefix).get("Versions", [])


def test_bucket_is_versioned_with_its_prefixes(s3, settings):
    assert s3.get_bucket_versioning(Bucket=settings.s3_bucket).get("Status") == "Enabled"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=settings.s3_bucket, Delimiter="/").get("Contents", [])}
    prefixes = {p["Prefix"] for p in s3.list_objects_v2(Bucket=settings.s3_bucket, Delimiter="/").get("CommonPrefixes", [])}
    assert {"raw/", "processed/", "models/"} <= keys | prefixes


def test_ingest_uploads_a_content_addressed_copy_once(s3, settings, source, tmp_path):
    manifest = ingest(str(source), tmp_path / "raw", upload=True, settings=settings)
    prefix = manifest["uploaded_to"].removeprefix(f"s3://{settings.s3_bucket}/")
    assert prefix == f"raw/ingested/{manifest['dataset_sha256'][:16]}/"
    for name, info in manifest["files"].items():
        head = s3.head_object(Bucket=settings.s3_bucket, Key=prefix + name)
        assert head["Metadata"]["sha256"] == info["sha256"] and head["ContentLength"] == info["bytes"]
    before = len(_versions(s3, settings.s3_bucket, prefix))
    ingest(str(source), tmp_path / "raw2", upload=True, settings=settings)   # same data again
    assert len(_versions(s3, settings.s3_bucket, prefix)) == before, "a re-ingest must not write new versions"


def test_ingest_from_an_s3_prefix_and_from_one_object(s3, settings, tmp_path):
    prefix = f"tests/{uuid.uuid4().hex}/"
    local = tmp_path / "train.csv"
    make_raw_rows(4, 2).to_csv(local, index=False)
    s3.upload_file(str(local), settings.s3_bucket, prefix + "train.csv")
    for uri in (f"s3://{settings.s3_bucket}/{prefix}", f"s3://{settings.s3_bucket}/{prefix}train.csv"):
        out = tmp_path / uuid.uuid4().hex
        manifest = ingest(uri, out, upload=False, settings=settings)
        assert manifest["files"]["train.csv"]["sha256"] == sha256_file(local)
        assert (out / "train.csv").read_bytes() == local.read_bytes()


def test_a_missing_s3_object_is_a_clear_error(settings, tmp_path):
    with pytest.raises(Exception, match=r"s3://.*/train.csv: cannot download"):
        ingest(f"s3://{settings.s3_bucket}/tests/{uuid.uuid4().hex}/", tmp_path / "raw", upload=False, settings=settings)


def test_upload_never_overwrites_other_content(s3, settings, tmp_path):
    key = f"tests/{uuid.uuid4().hex}/a.csv"
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("one"); b.write_text("two")
    assert upload_new(s3, a, settings.s3_bucket, key, sha256_file(a)) is True
    assert upload_new(s3, a, settings.s3_bucket, key, sha256_file(a)) is False
    with pytest.raises(StorageError, match="exists with other content"):
        upload_new(s3, b, settings.s3_bucket, key, sha256_file(b))
    assert s3.get_object(Bucket=settings.s3_bucket, Key=key)["Body"].read() == b"one"


def _run(cmd, cwd):
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(cmd)}: {result.stdout}\n{result.stderr}"
    return result.stdout


def test_dvc_push_and_pull_round_trip(settings, source, tmp_path):
    "A throwaway DVC repo with a remote in the bucket: push, lose the cache and the file, pull it back."
    repo = tmp_path / "repo"
    repo.mkdir()
    _run(["git", "init", "-q"], repo)
    _run(["dvc", "init", "-q"], repo)
    _run(["dvc", "remote", "add", "-d", "s3", f"s3://{settings.s3_bucket}/tests/dvc-{uuid.uuid4().hex}"], repo)
    _run(["dvc", "remote", "modify", "s3", "endpointurl", settings.s3_endpoint_url], repo)
    data = repo / "train.csv"
    shutil.copyfile(source / "train.csv", data)
    digest = sha256_file(data)
    _run(["dvc", "add", "-q", "train.csv"], repo)
    assert "1 file pushed" in _run(["dvc", "push"], repo)
    shutil.rmtree(repo / ".dvc/cache"); data.unlink()
    assert "1 file" in _run(["dvc", "pull"], repo)
    assert sha256_file(data) == digest
    assert "in sync" in _run(["dvc", "status", "-c"], repo)
