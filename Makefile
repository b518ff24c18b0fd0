# Two commands on a fresh machine: `make up` and `make test` (see README).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: up test install postgres redis browser bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Reinstall whenever pyproject.toml changes.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

postgres:
	@bash .ci/ensure-postgres

redis:
	@bash .ci/ensure-redis

browser:
	@bash .ci/ensure-browser

up: install
	$(VENV)/bin/hlmm up

# Two pytest workers (pytest-xdist), each test file whole on one worker: most of the suite's time is end-to-end
# tests waiting on real processes and sockets, which overlap well even on 2 cores (802 s → 430 s here).
TEST_WORKERS ?= 2

test: install postgres redis browser
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadfile

bench: install
	$(VENV)/bin/hlmm bench

clean:
	rm -rf $(VENV) var/*.db var/*.db-* .pytest_cache
