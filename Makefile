# Two commands on a fresh machine: `make demo` and `make test`. Each creates its own virtualenv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
IMGAUG_VENV ?= .venv-imgaug
MLFLOW_VENV ?= .venv-mlflow
MLFLOW_PORT ?= 5057
PYTEST_ARGS ?=
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install test test-fast test-imgaug test-browser test-slurm test-mlflow lint format demo bench docs clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,export]"
	touch $@

install: $(VENV)/.installed

# mypy's settings (strict on schemas, store, experiment, sweeps, results and the ground modules)
# are in pyproject.toml.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Tests that need a virtualenv or a service of their own run in the targets below.
OWN_TARGETS := imgaug or browser or slurm or mlflow

# The inner loop: no training and no services (not `slow`, not `s3`), on two cores, no lint.
# README.md ("Development") has the measured times.
test-fast: install
	$(PY) -m pytest -n 2 --dist loadfile -m "not slow and not s3 and not ($(OWN_TARGETS))" \
		--durations=20 $(PYTEST_ARGS)

# Everything but the targets below; tests marked s3 start moto's S3 server (the dev extra) on
# 127.0.0.1 themselves and stop it. The 20 slowest tests are printed at the end.
test: lint
	$(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder -m "not ($(OWN_TARGETS))" \
		--durations=20 $(PYTEST_ARGS)

# Sweeps on a real Slurm: a one-node slurmctld + slurmd (+ munge) on this host, installed with
# apt-get when missing, started for the tests and stopped after them (.ci/with-slurm.sh).
test-slurm: install
	.ci/with-slurm.sh $(PY) -m pytest -m slurm $(PYTEST_ARGS)

# The report in a real browser: Debian's headless Chromium, installed when missing.
test-browser: install
	test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)
	$(PY) -m pytest -m browser $(PYTEST_ARGS)

# The optional imgaug backend needs numpy<2, so its tests run in a virtualenv of their own.
$(IMGAUG_VENV)/.installed: pyproject.toml
	test -x $(IMGAUG_VENV)/bin/python || $(PYTHON) -m venv $(IMGAUG_VENV)
	$(IMGAUG_VENV)/bin/python -m pip install -q --upgrade pip
	$(IMGAUG_VENV)/bin/python -m pip install -q -e ".[dev,imgaug]"
	touch $@

test-imgaug: $(IMGAUG_VENV)/.installed
	$(IMGAUG_VENV)/bin/python -m pytest -m imgaug $(PYTEST_ARGS)

# `mlflow sync` against a real tracking server: MLflow in a virtualenv of its own (abyssexp in it
# without TensorFlow: sync never trains), `mlflow server` on 127.0.0.1 with a sqlite backend,
# started and stopped by .ci/with-mlflow.sh; the tests train in the project's virtualenv.
# imagehash: `new` checks near-duplicates across splits.
$(MLFLOW_VENV)/.installed: pyproject.toml Makefile
	test -x $(MLFLOW_VENV)/bin/python || $(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install -q --upgrade pip
	$(MLFLOW_VENV)/bin/python -m pip install -q "mlflow>=2.10" "pytest>=8" "typer>=0.12" \
		"rich>=13" "pydantic>=2.6" "gitpython>=3.1" "pycocotools>=2.0.7" "jinja2>=3.1" \
		"imagehash>=4.3"
	$(MLFLOW_VENV)/bin/python -m pip install -q --no-deps -e .
	touch $@

test-mlflow: install $(MLFLOW_VENV)/.installed
	ABYSSEXP_TRAIN_PYTHON=$(abspath $(PY)) .ci/with-mlflow.sh $(MLFLOW_VENV) $(MLFLOW_PORT) \
		$(MLFLOW_VENV)/bin/python -m pytest -p no:cacheprovider -m mlflow \
		tests/integrations/test_mlflow_mirror.py $(PYTEST_ARGS)

demo: install
	$(VENV)/bin/abyssexp demo --scratch ./demo-scratch

bench: install $(MLFLOW_VENV)/.installed
	$(PY) benchmarks/bench_cli.py
	$(MLFLOW_VENV)/bin/python benchmarks/bench_search_runs.py  # MLflow's search_runs, the peer
	$(MLFLOW_VENV)/bin/python benchmarks/bench_mlflow_sync.py
	$(PY) benchmarks/bench_near_duplicates.py
	$(PY) benchmarks/bench_label_issues.py
	$(PY) benchmarks/bench_pipeline.py
	$(PY) benchmarks/bench_cache.py
	$(PY) benchmarks/bench_data_check.py
	$(PY) benchmarks/bench_augment.py
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_sweeps.py
	$(PY) benchmarks/bench_intervals.py
	$(PY) benchmarks/bench_coverage.py
	$(PY) benchmarks/bench_deploy.py
	$(PY) benchmarks/bench_serve.py
	$(PY) benchmarks/bench_small_data.py
	$(PY) benchmarks/bench_bn_recompute.py
	$(PY) benchmarks/bench_finetune.py
	$(PY) benchmarks/bench_overhead.py
	$(PY) benchmarks/bench_callbacks.py
	$(PY) benchmarks/bench_gpu.py

docs: install
	$(PY) -m abyssexp.schemas.docs > docs/params.md
	$(PY) -m abyssexp.cli.docs > docs/cli.md
	$(PY) docs/output_examples.py  # trains two tiny experiments in /tmp/abyssexp-docs (a minute)

clean:
	rm -rf $(VENV) $(IMGAUG_VENV) $(MLFLOW_VENV) demo-scratch .pytest_cache .ruff_cache
