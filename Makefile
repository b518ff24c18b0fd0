# Two commands on a fresh machine: `make up` and `make test` (see README).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: up test install postgres browser bench clean

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

browser:
	@bash .ci/ensure-browser

up: install
	$(VENV)/bin/hlmm up

test: install postgres browser
	$(VENV)/bin/python -m pytest

bench: install
	$(VENV)/bin/hlmm bench

clean:
	rm -rf $(VENV) var/*.db var/*.db-* .pytest_cache
