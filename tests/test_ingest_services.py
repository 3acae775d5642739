"""Ingest against the real local S3 server, and DVC round trips through the same bucket."""

import shutil
import subprocess
import uuid
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from conftest import OFFLINE, make_raw_rows
from credit_score.core import StorageError, upload_new
from credit_score.ingest import RawDataError, ingest, sha256_file

pytestmark = pytest.mark.services


@pytest.fixture
def source(tmp_path) -> Path:
    "The offline copy of the real data when it is beside the project, else a small folder in the raw schema."
    if OFFLINE.is_dir():
        return OFFLINE.resolve()
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
    ingest(str(source), tmp_path / "raw2", upload=True, settings=settings)  # same data again
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


def _put_twice(s3, bucket: str, key: str, tmp_path: Path) -> tuple[list[str], list[Path]]:
    "Upload two different CSVs under `key`; return their version ids and local files, first upload first."
    versions, files = [], []
    for i, rows in enumerate((make_raw_rows(3, 2, seed=1), make_raw_rows(5, 2, seed=2))):
        files.append(tmp_path / f"upload{i}.csv")
        rows.to_csv(files[-1], index=False)
        versions.append(s3.put_object(Bucket=bucket, Key=key, Body=files[-1].read_bytes())["VersionId"])
    return versions, files


@pytest.mark.parametrize("encode", [quote, quote_plus], ids=["percent-encoded", "space-as-plus"])
def test_ingest_reads_the_exact_version_of_an_encoded_key(s3, settings, tmp_path, encode):
    "As the state machine names an upload: s3://bucket/<encoded key>?versionId=<id>, and the key was overwritten since."
    key = f"tests/{uuid.uuid4().hex}/raw/incoming/new data (1).csv"
    (first, latest), (first_file, latest_file) = _put_twice(s3, settings.s3_bucket, key, tmp_path)
    uri = f"s3://{settings.s3_bucket}/{encode(key, safe='/')}?versionId={first}"
    assert " " not in uri and "(" not in uri
    manifest = ingest(uri, tmp_path / "raw", upload=False, settings=settings)
    assert manifest["source"] == uri
    assert manifest["files"]["train.csv"]["sha256"] == sha256_file(first_file) != sha256_file(latest_file)
    assert manifest["files"]["train.csv"]["rows"] == 6  # the first upload's rows, not the latest's 10
    assert (tmp_path / "raw/train.csv").read_bytes() == first_file.read_bytes()
    plain = ingest(f"s3://{settings.s3_bucket}/{quote(key)}", tmp_path / "latest", upload=False, settings=settings)
    assert plain["files"]["train.csv"]["sha256"] == sha256_file(latest_file)  # without a version: the latest


def test_a_missing_version_is_a_clear_error(s3, settings, tmp_path):
    key = f"tests/{uuid.uuid4().hex}/new data.csv"
    _put_twice(s3, settings.s3_bucket, key, tmp_path)
    uri = f"s3://{settings.s3_bucket}/{quote(key)}?versionId=0123456789abcdef"
    with pytest.raises(RawDataError) as e:
        ingest(uri, tmp_path / "raw", upload=False, settings=settings)
    assert str(e.value).startswith(f"{uri}: version 0123456789abcdef of s3://{settings.s3_bucket}/{key} not found")
    assert not (tmp_path / "raw").exists()


def test_a_missing_s3_object_is_a_clear_error(settings, tmp_path):
    with pytest.raises(Exception, match=r"s3://.*/train.csv: cannot download"):
        ingest(f"s3://{settings.s3_bucket}/tests/{uuid.uuid4().hex}/", tmp_path / "raw", upload=False, settings=settings)


def test_upload_never_overwrites_other_content(s3, settings, tmp_path):
    key = f"tests/{uuid.uuid4().hex}/a.csv"
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("one")
    b.write_text("two")
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
    shutil.rmtree(repo / ".dvc/cache")
    data.unlink()
    assert "1 file" in _run(["dvc", "pull"], repo)
    assert sha256_file(data) == digest
    assert "in sync" in _run(["dvc", "status", "-c"], repo)
