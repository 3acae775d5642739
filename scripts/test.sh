#!/usr/bin/env bash
# The test command (README, .ci/run): set up, start the local services, bring the pipeline up to date,
# run every test, stop the services.
# Extra arguments go to pytest, e.g. scripts/test.sh -k ingest
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/services.sh up
# The container tests run their compose stack as project credit-score-ci and take it down themselves; the
# trap also does, should pytest be interrupted.
trap 'COMPOSE_PROJECT_NAME=credit-score-ci bash scripts/containers.sh down --volumes >/dev/null 2>&1 || true
      bash scripts/serve.sh down >/dev/null 2>&1 || true; bash scripts/services.sh down' EXIT
# The model tests check the model this code makes, on the data it makes: bring the pipeline up to date first
# (a no-op when nothing changed; on a fresh clone the whole chain on the offline data, about 3 minutes).
scripts/env.sh dvc repro eda register
set +e
scripts/env.sh pytest "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then echo "pytest collected no test: that is a failure here" >&2; fi
exit $rc
