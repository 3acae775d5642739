#!/usr/bin/env bash
# Entry point of the jobs image (docker/jobs.Dockerfile). Runs the given command, e.g.
# `dvc repro train` or `credit-score stage nbs/03_train.ipynb -p ...`, after pointing DVC at the
# configured bucket. Environment it reads (all optional):
#   S3_BUCKET            bucket of the DVC remotes (default: the one in .dvc/config)
#   S3_ENDPOINT_URL      S3 endpoint (MinIO locally); empty on AWS
#   PARAMS_OVERRIDE      JSON merged into params.yaml before the command, e.g.
#                        {"ingest": {"source": "s3://bucket/raw/incoming/x.csv"}}
#   PIPELINE_STATE_URI   s3://bucket/prefix/ of a multi-step run (Step Functions): dvc.lock, params.yaml
#                        and every `cache: false` output (run record, metrics, decision, executed
#                        notebooks) are restored from there first, with `dvc pull` of the data they
#                        name; after a successful command `dvc push` runs and all of them are saved
#                        back, so the next step, in a fresh container, continues from this one
#                        (docker/pipeline_state.py).
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

if [ -n "${PIPELINE_STATE_URI:-}" ]; then
  python docker/pipeline_state.py restore
  dvc pull --allow-missing --quiet   # data of earlier steps; a first step finds none of its own (allowed)
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

[ $# -gt 0 ] || set -- dvc repro register
# Long-running services (mlflow, watcher, app) and single commands: exec, so signals reach them.
[ -n "${PIPELINE_STATE_URI:-}" ] || exec "$@"
set +e
"$@"
rc=$?
set -e
if [ $rc -eq 0 ] && [ -n "${PIPELINE_STATE_URI:-}" ]; then
  dvc push --quiet
  python docker/pipeline_state.py save
fi
exit $rc
