#!/bin/sh
# One-shot set-up of the compose MinIO (service minio-init in compose.yaml); safe to run again.
#  1. the app's S3 user (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY of .env) with rights on the bucket only;
#  2. the bucket S3_BUCKET with versioning;
#  3. a webhook target `watcher` (http://watcher:8080/events, bearer WATCHER_TOKEN, queued on disk while
#     the watcher is down) and an event rule: every object created under raw/incoming/ is sent to it.
#     Only raw/incoming/: DVC pushes to raw/dvc/ must not trigger a retraining loop.
set -eu
: "${MINIO_ROOT_USER:?set MINIO_ROOT_USER in .env}"
: "${MINIO_ROOT_PASSWORD:?set MINIO_ROOT_PASSWORD in .env}"
: "${AWS_ACCESS_KEY_ID:?set AWS_ACCESS_KEY_ID in .env}"
: "${AWS_SECRET_ACCESS_KEY:?set AWS_SECRET_ACCESS_KEY in .env}"
: "${WATCHER_TOKEN:?set WATCHER_TOKEN in .env}"
BUCKET=${S3_BUCKET:-credit-score}

mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null

cat >/tmp/credit-score-rw.json <<JSON
{"Version": "2012-10-17",
 "Statement": [
  {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketLocation",
                                 "s3:GetBucketVersioning", "s3:PutBucketVersioning"],
   "Resource": ["arn:aws:s3:::$BUCKET"]},
  {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject",
                                 "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
   "Resource": ["arn:aws:s3:::$BUCKET/*"]}]}
JSON
mc admin policy create local credit-score-rw /tmp/credit-score-rw.json
mc admin user add local "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >/dev/null
mc admin policy attach local credit-score-rw --user "$AWS_ACCESS_KEY_ID" >/dev/null 2>&1 || true  # already attached

mc mb --ignore-existing "local/$BUCKET"
mc version enable "local/$BUCKET"

mc admin config set local notify_webhook:watcher endpoint="http://watcher:8080/events" \
  auth_token="$WATCHER_TOKEN" queue_dir="/queue" queue_limit="10000"
mc admin service restart local --json >/dev/null
i=0; until mc ready local >/dev/null 2>&1; do i=$((i + 1)); [ $i -lt 60 ] || exit 1; sleep 1; done
mc event add "local/$BUCKET" arn:minio:sqs::watcher:webhook --event put --prefix raw/incoming/ --ignore-existing
mc event ls "local/$BUCKET"
echo "minio-init: bucket $BUCKET ready (versioning on, raw/incoming/ -> watcher)"
