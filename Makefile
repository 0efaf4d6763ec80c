# The one task runner. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SERVICES := deploy/local/services.sh
# Ports of the local Kafka and OpenSearch started by $(SERVICES).
export SOC_LOCAL_KAFKA_PORT ?= 19092
export SOC_LOCAL_OPENSEARCH_PORT ?= 19200

.PHONY: help venv run test test-unit test-browser browser lint audit bench bench-events soak soak-load services-up services-down clean fuzz soak-faults

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

$(BIN)/soc: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[server,dev]'
	@touch $@

venv: $(BIN)/soc ## Create the virtual environment and install the project

run: venv ## Run the whole pipeline on 127.0.0.1:8000 on the embedded default, with a sample replayed
	SOC_ENV=development SOC_SAMPLE__REPLAY_ON_START=true $(BIN)/soc run

test: venv browser lint audit ## Lint, audit the dependencies, start the local Kafka and OpenSearch, run every test, stop them
	@set -o pipefail; bash $(SERVICES) up || exit 1; \
	  status=0; \
	  SOC_TEST_KAFKA=127.0.0.1:$(SOC_LOCAL_KAFKA_PORT) \
	  SOC_TEST_OPENSEARCH=http://127.0.0.1:$(SOC_LOCAL_OPENSEARCH_PORT) \
	    $(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS) || status=$$?; \
	  bash $(SERVICES) down; exit $$status

test-unit: venv ## Run the tests that need no Kafka or OpenSearch
	$(BIN)/pytest -q -m "not kafka and not opensearch" $(PYTEST_ARGS)

browser: ## Install Debian's Chromium for the browser tests, if missing (needs root or sudo)
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; }

test-browser: venv browser ## Run the browser tests (tests/browser) in headless Chromium
	$(BIN)/pytest -q tests/browser $(PYTEST_ARGS)

lint: venv ## ruff format --check, ruff check, mypy, the import layers (lint-imports)
	$(BIN)/ruff format --check soc connectors tests bench
	$(BIN)/ruff check soc connectors tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

audit: venv ## Known vulnerabilities in the installed dependencies (pip-audit; .ci/audit.py lists the ignored ones)
	$(BIN)/python .ci/audit.py

bench: venv ## Measure ingest-to-alert, detection on one core, the connector, the alert queue (needs services-up)
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/detect.py
	$(BIN)/python bench/connector.py
	$(BIN)/python bench/alert_queue.py

# Events loaded for bench-events (at least 2,000,000 for the issue's figures); e.g.
# `make bench-events BENCH_EVENTS=20000` for a quick look.
BENCH_EVENTS ?= 2000000

bench-events: venv ## Every event stored: its cost on both pairs and layouts, then search latencies on SQLite and OpenSearch (needs services-up; long)
	$(BIN)/python bench/pipeline.py --keep-events both --detectors 2 --runs 3 --events 50000
	$(BIN)/python bench/event_search.py --store sqlite --events $(BENCH_EVENTS) --api
	$(BIN)/python bench/event_search.py --store opensearch --events $(BENCH_EVENTS) --api --writers 2

# The soak's length and rate (events/s); e.g. `make soak SOAK_MINUTES=5 SOAK_RATE=100`.
SOAK_MINUTES ?= 30
SOAK_RATE ?= 700

soak: soak-load soak-faults ## The long runs: the 30-minute load (soak-load), then the faults under load, long (soak-faults)

soak-load: venv ## Sustained load on the production path: connectors, soc api, 2 soc detect, soc correlate, OpenSearch (starts and stops the local services; 30 min)
	@set -o pipefail; bash $(SERVICES) up || exit 1; \
	  status=0; \
	  SOC_TEST_KAFKA=127.0.0.1:$(SOC_LOCAL_KAFKA_PORT) \
	  SOC_TEST_OPENSEARCH=http://127.0.0.1:$(SOC_LOCAL_OPENSEARCH_PORT) \
	    $(BIN)/python bench/soak.py --minutes $(SOAK_MINUTES) --rate $(SOAK_RATE) $(SOAK_ARGS) || status=$$?; \
	  bash $(SERVICES) down; exit $$status

# Seconds each fuzz target runs in `make fuzz` (make test runs them all briefly).
FUZZ_SECONDS ?= 60

fuzz: venv ## Fuzz every input boundary under atheris, FUZZ_SECONDS (60) each; crashes in .soc/fuzz/crashes
	$(BIN)/python -m tests.fuzz run --seconds $(FUZZ_SECONDS)
	SOC_FUZZ_RANDOM=1 $(BIN)/pytest -q -p no:cacheprovider tests/fuzz/test_properties.py

# The fault tests (tests/e2e/faults) long: 5 minutes of load each, OpenSearch down 2 minutes.
soak-faults: venv ## The faults under load, long (each starts its own Kafka and OpenSearch; ~35 min)
	@set -o pipefail; bash $(SERVICES) up || exit 1; status=0; \
	  SOC_FAULT_LOAD_S=300 SOC_FAULT_OUTAGE_S=120 \
	  SOC_TEST_KAFKA=127.0.0.1:$(SOC_LOCAL_KAFKA_PORT) \
	  SOC_TEST_OPENSEARCH=http://127.0.0.1:$(SOC_LOCAL_OPENSEARCH_PORT) \
	    $(BIN)/pytest -q -s -p no:cacheprovider tests/e2e/faults $(PYTEST_ARGS) || status=$$?; \
	  bash $(SERVICES) down; exit $$status

services-up: ## Fetch (first time) and start Kafka and OpenSearch on 127.0.0.1
	bash $(SERVICES) up

services-down: ## Stop the local Kafka and OpenSearch
	bash $(SERVICES) down

clean: ## Remove the virtual environment and local data (keeps the services cache)
	rm -rf $(VENV) .soc
