# leadwise: `make` alone lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
TRACKING_URI ?= sqlite:///mlflow.db

## help: list the targets
help:
	@grep -E '^## ' $(MAKEFILE_LIST) | sed -e 's/^## //' | awk -F': ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## install: create .venv and install leadwise with its dev tools (re-runs when pyproject.toml changes)
install: $(STAMP)

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
test: $(STAMP)
	$(BIN)/pytest -q

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

.PHONY: help install train serve run test bench mlflow-ui lint
