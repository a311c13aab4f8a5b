# samenwijk — `make run` starts the embedded stack and the demo; `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# make run BROKER=kafka: the demo on a 3-node Apache Kafka KRaft cluster instead of Tansu
BROKER ?= tansu

.PHONY: run test test-unit test-integration bench chaos schemas clean help trace rebuild-reporting kafka

help:
	@echo "make run     - embedded broker + PostgreSQL + the four services + demo (Ctrl-C stops)"
	@echo "make run BROKER=kafka - the same on a 3-node Apache Kafka KRaft cluster"
	@echo "make test    - the whole test suite, integration tests on Tansu and on Apache Kafka"
	@echo "make kafka   - fetch the Apache Kafka jars from Maven Central (cached in ~/.cache/samenwijk)"
	@echo "make bench   - pipeline benchmark on the embedded stack"
	@echo "make chaos   - faults under load, then a loss/duplicate/order check (CASES= RATE= BROKER= SCHEDULE=)"
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

# Checks the cache first, so it costs nothing once the jars are there.
kafka: $(STAMP)
	@scripts/ensure-kafka.sh $(PY)

run: $(STAMP) .run/.postgres-ok $(if $(filter kafka,$(BROKER)),kafka)
	$(PY) -m samenwijk_dev run --broker $(BROKER)

test: $(STAMP) .run/.postgres-ok .run/.browser-ok kafka
	$(PY) -m pytest

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit

test-integration: $(STAMP) .run/.postgres-ok .run/.browser-ok kafka
	$(PY) -m pytest tests/integration

bench: $(STAMP) .run/.postgres-ok $(if $(filter kafka,$(BROKER)),kafka)
	$(PY) -m bench.pipeline --broker $(BROKER)

# Quick smoke by default; the full run: make chaos CASES=10000 RATE=30 BROKER=kafka SCHEDULE=full
CASES    ?= 600
RATE     ?= 20
SCHEDULE ?= quick
chaos: $(STAMP) .run/.postgres-ok $(if $(filter kafka,$(BROKER)),kafka)
	$(PY) -m bench.chaos --cases $(CASES) --rate $(RATE) --broker $(BROKER) --schedule $(SCHEDULE)

rebuild-reporting: $(STAMP)
	$(PY) -m services.reporting.rebuild

schemas: $(STAMP)
	$(PY) -m contracts.export

clean:
	-@test -x $(PY) && $(PY) -m samenwijk_dev clean || rm -rf .run

trace: $(STAMP)
	@test -n "$(CASE)" || (echo "usage: make trace CASE=<case-id>" && exit 2)
	$(PY) -m samenwijk_dev trace $(CASE)
