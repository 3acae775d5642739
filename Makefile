# credit_score: `make help` lists the targets. The two that matter: `make run` and `make test`.
SHELL := /bin/bash
ENV := scripts/env.sh

.DEFAULT_GOAL := help
.PHONY: help images containers-up containers-down reliability bench bench-api e2e watch lock setup services-up services-down status pipeline serve serve-down stop run test export check-nbs clean-nbs lab

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: ## create .venv (uv, pinned requirements.lock), .env with fresh secrets, system packages
	bash scripts/setup.sh

services-up: ## start S3 (SeaweedFS), MLflow and Redis on loopback
	bash scripts/services.sh up

services-down: ## stop the local services, leaving no process behind
	bash scripts/services.sh down

status: ## what is up, and where (MLflow UI, S3 endpoint, Redis)
	bash scripts/services.sh status

pipeline: services-up ## dvc repro (every stage, via papermill), then dvc push to the bucket
	$(ENV) dvc repro
	$(ENV) dvc push

serve: ## start the API (uvicorn, 2 workers) and the Streamlit app on loopback; prints their URLs
	bash scripts/serve.sh up

serve-down: ## stop the API and the app
	bash scripts/serve.sh down

stop: serve-down services-down ## stop everything this project started

run: setup pipeline serve ## THE MAIN JOB: set up, start services, run the pipeline, serve the API and the app
	@bash scripts/services.sh status

test: ## THE TEST COMMAND: set up, start services, bring the pipeline up to date, run all tests, stop services
	bash scripts/test.sh

lock: ## re-resolve requirements.lock (dev) and requirements.runtime.lock (jobs image) after changing the pins in settings.ini
	uv pip compile setup.py --extra dev --python-version 3.11 -o requirements.lock --quiet
	uv pip compile setup.py --python-version 3.11 -c requirements.lock -o requirements.runtime.lock --quiet

export: ## export the notebooks into the credit_score package (nbdev_export), then clean them
	$(ENV) nbdev_export
	$(ENV) nbdev_clean

check-nbs: ## fail if the package and the notebooks disagree, or a notebook has outputs
	$(ENV) pytest tests/test_notebooks.py -q

e2e: services-up ## the whole chain from a clean clone on the real services, lineage checked (reports/e2e.json)
	$(ENV) dvc repro e2e

watch: services-up ## retrain and redeploy on new raw files under s3://<bucket>/raw/incoming/ (runs in a clone)
	@test -d .services/watch-repo || git clone -q . .services/watch-repo
	@git -C .services/watch-repo pull -q --ff-only && cp .dvc/config.local .services/watch-repo/.dvc/
	$(ENV) credit-score-watch --repo .services/watch-repo --state .services/watch/state.json \
	  --audit .services/watch/audit.jsonl

images: ## build the API, jobs, MLflow and S3 images with podman (base images pulled, or stand-ins built here)
	bash scripts/containers.sh build
	bash scripts/containers.sh sizes

containers-up: ## the whole stack in containers (compose.yaml with podman-compose), waits until healthy
	bash scripts/containers.sh up

containers-down: ## stop the compose stack (volumes kept; scripts/containers.sh down --volumes drops them)
	bash scripts/containers.sh down

reliability: services-up ## the full reliability suite: load, fuzzing, faults, security (reports/reliability.md)
	$(ENV) python scripts/reliability.py

bench: services-up ## benchmarks: pipeline stages (offline and Kaggle-shaped, 10,000 customers x 8 months), model scoring, serving (reports/bench/)
	$(ENV) python scripts/bench_pipeline.py
	$(ENV) python scripts/bench_model.py
	$(ENV) python scripts/bench_api.py

bench-api: services-up ## serving only: this API vs mlflow serve, BentoML (own venv in .cache/bench) and guarded constant
	$(ENV) python scripts/bench_api.py

lab: ## JupyterLab on the notebooks (loopback only)
	$(ENV) jupyter lab --ip=127.0.0.1 --notebook-dir=nbs $$([ "$$(id -u)" = 0 ] && echo --allow-root)
