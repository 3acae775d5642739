#!/usr/bin/env bash
# Entry point of the jobs image (docker/jobs.Dockerfile). Runs the given command, e.g.
# `dvc repro train` or `credit-score stage nbs/03_train.ipynb -p ...`, after pointing DVC at the
# configured bucket. Environment it reads (all optional):
#   S3_BUCKET            bucket of the DVC remotes (default: the one in .dvc/config)
#   S3_ENDPOINT_URL      S3 endpoint (MinIO locally); empty on AWS
#   PARAMS_OVERRIDE      JSON merged into params.yaml before the command, e.g.
#                        {"ingest": {"source": "s3://bucket/raw/incoming/x.csv"}}
#   PIPELINE_STATE_URI   s3://bucket/prefix/ of a multi-step run (Step Functions): dvc.lock and
#                        params.yaml are restored from there first (with `dvc pull` of what they
#                        name), and after a successful command `dvc push` runs and both are saved
#                        back, so the next step, in a fresh container, continues from this one.
# Credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY from the environment, or the task role on AWS.
set -euo pipefail
cd /app

for remote in raw processed models; do
  url=$(dvc config "remote.$remote.url")
  if [ -n "${S3_BUCKET:-}" ]; then
    dvc remote modify --local "$remote" url "$(sed -E "s#^s3://[^/]+#s3://$S3_BUCKET#" <<<"$url")"
  fi
  if [ -n "${S3_ENDPOINT_URL:-}" ]; then
    dvc remote modify --local "$remote" endpointurl "$S3_ENDPOINT_URL"
  fi
done

state() {  # restore|save: copy dvc.lock and params.yaml from/to $PIPELINE_STATE_URI
  python - "$1" <<'PY'
import os, sys
import boto3
from botocore.exceptions import ClientError
from credit_score.core import parse_s3_uri
bucket, prefix = parse_s3_uri(os.environ["PIPELINE_STATE_URI"])
prefix = prefix.rstrip("/") + "/"
s3 = boto3.client("s3", endpoint_url=os.environ.get("S3_ENDPOINT_URL") or None)
for name in ("dvc.lock", "params.yaml"):
    if sys.argv[1] == "save":
        if os.path.exists(name): s3.upload_file(name, bucket, prefix + name)
        continue
    try: s3.download_file(bucket, prefix + name, name); print(f"state: restored {name}")
    except ClientError as e:
        if e.response["Error"]["Code"] not in ("404", "NoSuchKey"): raise
PY
}

if [ -n "${PIPELINE_STATE_URI:-}" ]; then
  state restore
  dvc pull --allow-missing --quiet || true   # outputs of earlier steps; a first step has none
fi

if [ -n "${PARAMS_OVERRIDE:-}" ]; then
  python - <<'PY'
import json, os
import yaml
def merge(a, b):
    for k, v in b.items(): a[k] = merge(a.get(k, {}), v) if isinstance(v, dict) else v
    return a
params = yaml.safe_load(open("params.yaml")) or {}
yaml.safe_dump(merge(params, json.loads(os.environ["PARAMS_OVERRIDE"])), open("params.yaml", "w"), sort_keys=False)
print("params.yaml: merged PARAMS_OVERRIDE")
PY
fi

[ $# -gt 0 ] || set -- dvc repro
# Long-running services (mlflow, watcher, app) and single commands: exec, so signals reach them.
[ -n "${PIPELINE_STATE_URI:-}" ] || exec "$@"
set +e
"$@"
rc=$?
set -e
if [ $rc -eq 0 ] && [ -n "${PIPELINE_STATE_URI:-}" ]; then
  dvc push --quiet
  state save
fi
exit $rc
