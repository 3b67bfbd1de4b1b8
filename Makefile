PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# What running needs (the server extra), without the dev tools; `make test` installs .[dev].
SERVER_STAMP := $(VENV)/.installed-server
HOST ?= 127.0.0.1
PORT ?= 8400

.PHONY: run test lint typecheck pytest bench screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

$(SERVER_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[server]'
	touch $(SERVER_STAMP)

## Start the server on the embedded SQLite store, with demo data and the dashboard.
run: $(SERVER_STAMP)
	$(BIN)/margin serve --demo --host $(HOST) --port $(PORT)

## Lint, type-check and run the whole test suite.
test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# Three processes (the suite waits on servers and subprocesses as much as it computes). The
# browser tests are collected last, so a process that has started Playwright's event loop and
# Chromium runs nothing else after them. Tests are handed out one at a time in that order, the
# long ones and the groups that one process runs together first (tests/xdist_groups.py).
# Bytecode is written even where the environment says not to (PYTHONDONTWRITEBYTECODE): each
# test process and each server or CLI it starts then reads the compiled tests (pytest's
# rewritten asserts) and sources instead of compiling them again.
pytest: $(STAMP)
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n 3 --dist loadgroup $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/pricing.py
	$(BIN)/python bench/sdk_overhead.py
	$(BIN)/python bench/otlp_ingest.py
	$(BIN)/python bench/reports.py

## Rewrite the README's dashboard screenshots (docs/screenshots/; needs Chromium).
screenshots: $(STAMP)
	MARGIN_UPDATE_SCREENSHOTS=1 MARGIN_REQUIRE_BROWSER=1 $(BIN)/python -m pytest tests/dashboard/test_browser.py \
		tests/dashboard/test_first_day.py tests/dashboard/test_manage_browser.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
