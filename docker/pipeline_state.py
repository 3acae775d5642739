"""Carry a multi-step pipeline run's files between fresh containers (docker/jobs-entrypoint.sh).

Each Step Functions task (deploy/aws/pipeline.asl.json) is a new container of the jobs image. DVC moves
the cached outputs (data/raw, data/processed, models/) through its remotes, but the `cache: false`
outputs (the run record reports/train_run.json, reports/metrics.json, reports/register.json, the executed
notebooks, plots) and dvc.lock/params.yaml exist only in the container that wrote them. `save` copies all
of them under PIPELINE_STATE_URI after a step succeeds; `restore` brings them back before the next one.

Usage: python docker/pipeline_state.py save|restore   (in the repository root; PIPELINE_STATE_URI set)
"""
import os
import sys
from pathlib import Path

import boto3
import yaml

ALWAYS = ("dvc.lock", "params.yaml")


def uncached_outputs(dvc_yaml: Path = Path("dvc.yaml")) -> list[str]:
    "Every path declared `cache: false` (outs, metrics, plots) by a stage of dvc.yaml."
    paths = []
    for stage in (yaml.safe_load(dvc_yaml.read_text()) or {}).get("stages", {}).values():
        for section in ("outs", "metrics", "plots"):
            for entry in stage.get(section, []):
                if isinstance(entry, dict):
                    paths += [path for path, opts in entry.items() if (opts or {}).get("cache") is False]
    return paths


def files_of(paths) -> list[Path]:
    "The files at `paths`: a file itself, every file below a folder; missing paths are skipped."
    found = []
    for p in map(Path, paths):
        found += [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
    return found


def split(uri: str) -> tuple[str, str]:
    "s3://bucket/prefix -> (bucket, 'prefix/')."
    if not uri.startswith("s3://"): sys.exit(f"PIPELINE_STATE_URI must be s3://bucket/prefix/, not {uri!r}")
    bucket, _, prefix = uri[5:].partition("/")
    return bucket, prefix.rstrip("/") + "/"


def main(action: str) -> None:
    bucket, prefix = split(os.environ["PIPELINE_STATE_URI"])
    s3 = boto3.client("s3", endpoint_url=os.environ.get("S3_ENDPOINT_URL") or None)
    if action == "save":
        files = files_of([*ALWAYS, *uncached_outputs()])
        for f in files: s3.upload_file(str(f), bucket, prefix + f.as_posix())
        print(f"state: saved {len(files)} files to s3://{bucket}/{prefix}")
    elif action == "restore":
        n = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                path = Path(obj["Key"][len(prefix):])
                if path.is_absolute() or ".." in path.parts: sys.exit(f"state: refusing {obj['Key']}: outside the repository")
                path.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, obj["Key"], str(path))
                n += 1
        print(f"state: restored {n} files from s3://{bucket}/{prefix}" if n else "state: none yet (first step of the run)")
    else:
        sys.exit("usage: pipeline_state.py save|restore")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
