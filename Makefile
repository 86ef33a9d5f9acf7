# leadwise: `make` alone lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The installer: uv at a pinned version, bootstrapped from PyPI by the machine's own pip into .venv-tools/
# (pip --target: just the uv wheel, binary at .venv-tools/bin/uv; no venv to create, which costs 10+ s).
# Nothing installed by hand, nothing outside the project folder but uv's download cache.
UV_VERSION := 0.13.9
TOOLS := .venv-tools
UV := $(TOOLS)/bin/uv
UV_STAMP := $(TOOLS)/.uv-$(UV_VERSION)
# uv uses this Python (3.11 here) and never downloads one of its own.
UV_PY := --python $(PYTHON) --no-python-downloads
HOST ?= 127.0.0.1
PORT ?= 8000
TRACKING_URI ?= sqlite:///mlflow.db

## help: list the targets
help:
	@# The descriptions name make variables ($$(HOST)); they are printed with their values.
	@grep -E '^## ' $(MAKEFILE_LIST) | sed -e 's/^## //' -e 's/\$$(HOST)/$(HOST)/g' -e 's/\$$(PORT)/$(PORT)/g' \
		| awk -F': ' '{printf "  %-10s %s\n", $$1, $$2}'

$(UV_STAMP):
	rm -rf $(TOOLS)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target $(TOOLS) 'uv==$(UV_VERSION)'
	touch $(UV_STAMP)

# .venv gets exactly what uv.lock pins (leadwise itself editable, with the dev extra); --locked refuses a
# uv.lock that no longer matches pyproject.toml instead of re-resolving behind your back. The one sdist,
# ChannelAttribution (test-only), compiles in about 100 s without a cached wheel; -g0 (no debug info, a
# CFLAGS of yours still wins) takes about 30 s off that; uv caches the built wheel for every later install.
$(STAMP): pyproject.toml uv.lock $(UV_STAMP)
	CFLAGS="-g0 $${CFLAGS-}" $(UV) sync --locked --extra dev --quiet $(UV_PY) || { \
		echo "make install: uv sync failed; if pyproject.toml changed, run 'make lock' and commit uv.lock" >&2; exit 1; }
	touch $(STAMP)

## install: create .venv with exactly the versions in uv.lock (re-runs when pyproject.toml or uv.lock changes)
install: $(STAMP)

## lock: re-resolve uv.lock after editing pyproject.toml (keeps every pin that still fits; UPGRADE=1 takes the newest)
lock: $(UV_STAMP)
	$(UV) lock $(UV_PY) $(if $(UPGRADE),--upgrade)

## train: train the three models on the bundled data, log them to MLflow and promote the champion
train: $(STAMP)
	$(BIN)/leadwise train --tracking-uri $(TRACKING_URI)

## serve: serve the HTTP API on $(HOST):$(PORT)
serve: $(STAMP)
	$(BIN)/leadwise serve --host $(HOST) --port $(PORT)

## run: install, train if no champion is registered, then serve the API
run: $(STAMP)
	$(BIN)/leadwise train --if-no-champion --tracking-uri $(TRACKING_URI)
	$(BIN)/leadwise serve --host $(HOST) --port $(PORT)

## test: install, then run the whole test suite
# Two pytest-xdist workers, each taking whole files (a module's server and its tests stay together): the
# suite waits on servers and browsers much of the time, so two workers halve its 11 minutes on 2 cores.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

## bench: run the benchmark scripts (they print measured figures)
bench: $(STAMP)
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

## mlflow-ui: open the MLflow UI on the same store the training uses
mlflow-ui: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri $(TRACKING_URI) --host $(HOST) --port 5000

## lint: check style with ruff and types with mypy (settings in pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

.PHONY: help install lock train serve run test bench mlflow-ui lint
