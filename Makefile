# ringcache: `make run` starts a local cluster with its REST API; `make test` runs the suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]' ruff
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ringcache start $(ARGS)

test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/pytest

test-fast: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/pytest -m "not ray and not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

bench: $(STAMP)
	$(BIN)/python bench/bench_ring.py
	$(BIN)/python bench/bench_reads.py
	$(BIN)/python bench/bench_rest.py

clean:
	rm -rf $(VENV) .ringcache build src/*.egg-info
