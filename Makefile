# remit: two commands on a fresh Debian machine with Python 3.11.
#   make run   - set up, create the SQLite book with demo data, serve http://127.0.0.1:8000
#   make test  - set up, install what the tests need (PostgreSQL), run the whole suite
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Tools the tests run that cannot share remit's venv (openapi-python-client pins typer < 0.28).
TOOLS_VENV := .venv-tools
OPENAPI_CLIENT := openapi-python-client==0.29.1
TOOLS_STAMP := $(TOOLS_VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
SCALE ?= small
PYTEST_ARGS ?=

.PHONY: run test venv tools sysdeps lint typecheck bench screenshots lock clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "remit needs Python >= 3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

$(TOOLS_STAMP): Makefile
	test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS_VENV)/bin/python -m pip install --quiet '$(OPENAPI_CLIENT)'
	touch $(TOOLS_STAMP)

# The API client generator for tests/test_api_client.py, in a venv of its own.
tools: $(TOOLS_STAMP)

run: venv
	@bash scripts/sysdeps.sh run
	$(BIN)/remit init
	$(BIN)/remit demo seed --if-empty --scale $(SCALE)
	$(BIN)/remit serve --host $(HOST) --port $(PORT)

sysdeps:
	@bash scripts/sysdeps.sh test

test: venv tools sysdeps lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

bench: venv sysdeps
	$(BIN)/python -m bench ledger

# PNGs of the main pages under docs/screenshots/ (a demo book, a local server, chromium).
screenshots: venv sysdeps
	$(BIN)/python scripts/screenshots.py

# Refresh the pinned versions after changing pyproject.toml (run in a clean venv).
lock:
	rm -rf /tmp/remit-lock-venv && $(PYTHON) -m venv /tmp/remit-lock-venv
	/tmp/remit-lock-venv/bin/pip install --quiet '.[dev]'
	/tmp/remit-lock-venv/bin/pip freeze --exclude remit | sort > constraints.txt

clean:
	rm -rf $(VENV) $(TOOLS_VENV) var/remit.db var/remit.db-wal var/remit.db-shm
