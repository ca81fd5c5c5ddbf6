# The README's commands. `make demo` makes a video from the sample; `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check --quiet

.PHONY: demo demo-celery stop test test-fast lint format typecheck system-deps test-system-deps install install-dev constraints clean

demo: system-deps install  ## start everything locally and render the sample script
	$(PY) -m tools.demo run

demo-celery: install  ## the same on the CeleryExecutor: two workers (one for renders) on Redis
	@bash tools/system-deps.sh --celery
	$(PY) -m tools.demo run --celery

stop:  ## stop what `make demo` started
	@if [ -x $(PY) ]; then $(PY) -m tools.demo stop; else echo "nothing to stop"; fi

# Two pytest workers: the tests of each Airflow stack share one (started once, run first), the rest spread over both
# (tests/conftest.py schedules them).
PYTEST_WORKERS ?= 2

test: test-system-deps install-dev lint typecheck  ## lint, type checks and the whole test suite
	$(PY) -m pytest -n $(PYTEST_WORKERS)

test-fast: test-system-deps install-dev  ## the edit-test loop: what needs no Airflow stack, injects no fault, is quick
	$(PY) -m pytest -n $(PYTEST_WORKERS) -m "not stack and not fault and not slow" --durations=10

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck: install-dev
	$(VENV)/bin/mypy

system-deps:  ## ffmpeg, espeak-ng, fonts, python3-venv: installed with apt-get when missing
	@bash tools/system-deps.sh

test-system-deps:  ## the same, plus Chromium for the browser tests
	@bash tools/system-deps.sh --test

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt constraints.txt pyproject.toml | $(VENV)/bin/python
	$(PIP) install -r requirements.txt -c constraints.txt
	$(PIP) install --no-deps -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PIP) install -r requirements-dev.txt -c constraints.txt
	touch $@

constraints: install-dev  ## refresh constraints.txt after changing requirements*.txt
	{ head -3 constraints.txt; $(PY) -m pip freeze --exclude-editable | grep -v -E '^(pip|setuptools)=='; } > constraints.new
	mv constraints.new constraints.txt

clean: stop
	rm -rf .local $(VENV) .pytest_cache .mypy_cache .ruff_cache
