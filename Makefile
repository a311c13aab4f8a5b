# samenwijk — `make run` starts the embedded stack and the demo; `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test test-unit test-integration bench schemas clean help trace rebuild-reporting

help:
	@echo "make run     - embedded broker + PostgreSQL + the four services + demo (Ctrl-C stops)"
	@echo "make test    - the whole test suite (starts its own broker and PostgreSQL)"
	@echo "make bench   - pipeline benchmark on the embedded stack"
	@echo "make schemas - export JSON Schemas and the AsyncAPI document from contracts/"
	@echo "make rebuild-reporting - rebuild reporting's projections from the event log (against make run)"
	@echo "make clean   - remove all local state (.run/)"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

.run/.postgres-ok: $(STAMP) scripts/ensure-postgres.sh
	@mkdir -p .run
	@scripts/ensure-postgres.sh $(PY)
	@touch $@

# Debian's chromium for the dashboard's browser test (Playwright drives it; never a browser download).
.run/.browser-ok:
	@mkdir -p .run
	@scripts/ensure-chromium.sh
	@touch $@

run: $(STAMP) .run/.postgres-ok
	$(PY) -m samenwijk_dev run

test: $(STAMP) .run/.postgres-ok .run/.browser-ok
	$(PY) -m pytest

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit

test-integration: $(STAMP) .run/.postgres-ok .run/.browser-ok
	$(PY) -m pytest tests/integration

bench: $(STAMP) .run/.postgres-ok
	$(PY) -m bench.pipeline

rebuild-reporting: $(STAMP)
	$(PY) -m services.reporting.rebuild

schemas: $(STAMP)
	$(PY) -m contracts.export

clean:
	-@test -x $(PY) && $(PY) -m samenwijk_dev clean || rm -rf .run

trace: $(STAMP)
	@test -n "$(CASE)" || (echo "usage: make trace CASE=<case-id>" && exit 2)
	$(PY) -m samenwijk_dev trace $(CASE)
