# Platewatch: every set-up step lives here, so a fresh machine needs only `make demo` or `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KAFKA := deploy/kafka/kafka.sh
PG := deploy/postgres/pg.sh
export PG_PORT ?= 55432
export KAFKA_PORT ?= 9092
export KAFKA_BOOTSTRAP ?= 127.0.0.1:$(KAFKA_PORT)
PYTEST_ARGS ?=

.PHONY: help venv tools demo test test-only lint typecheck bench bench-peers chaos kafka-up kafka-down \
        kafka-status kafka-log cluster-up cluster-down clean

help:
	@echo "make demo        run Platewatch on its embedded default (no services to install)"
	@echo "make test        install, start Kafka, lint, type-check, run every test, stop Kafka"
	@echo "make bench       run the benchmarks and compare with the committed baseline"
	@echo "make bench-peers the same reads through faust, Quix Streams, confluent-kafka and the JVM consumer"
	@echo "make chaos       inject faults into two workers on a 3-broker cluster; check every alert (~15 min)"
	@echo "make kafka-up    start the local Apache Kafka broker (127.0.0.1:$(KAFKA_PORT))"
	@echo "make kafka-down  stop it and remove its data"
	@echo "make cluster-up  start a 3-node KRaft cluster on 127.0.0.1:29092-29094"
	@echo "make lint        ruff, mypy and the import contracts"

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	@t=$$(date +%s); \
	$(PYTHON) -m venv $(VENV) && \
	$(PY) -m pip install --quiet --upgrade pip && \
	$(PY) -m pip install --quiet -e '.[test,bench]' && \
	touch $(STAMP) && \
	echo "make: installing the Python packages took $$(( $$(date +%s) - t )) s"

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/platewatch demo $(DEMO_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check streams tests benchmarks chaos
	$(VENV)/bin/ruff format --check streams tests benchmarks chaos
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# promtool (Debian package prometheus) unit-tests the alert rules in deploy/prometheus; PostgreSQL (Debian
# package postgresql) is the audit store's production database, started by deploy/postgres/pg.sh for the tests;
# chromium and chromium-driver open the HTML audit report in a headless browser (tests/test_audit_report_browser.py)
tools:
	@t=$$(date +%s); missing=""; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	{ command -v chromium && command -v chromedriver; } >/dev/null || missing="$$missing chromium chromium-driver"; \
	if [ -n "$$missing" ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi; \
	echo "make: the Debian tools (promtool, PostgreSQL, Chromium) took $$(( $$(date +%s) - t )) s$${missing:+ (installed$$missing)}"
	@promtool --version | head -1
	@"$$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/postgres" --version
	@chromedriver --version | cut -d' ' -f1-2

# Starts the broker and PostgreSQL, runs lint and every test, and stops both whatever happened; says how
# long each stage took.
test: $(STAMP) tools
	@rc=0; t=$$(date +%s%N); \
	took() { local now; now=$$(date +%s%N); echo "make test: $$1 took $$(( (now - t) / 1000000 )) ms"; t=$$now; }; \
	stop() { $(PG) down || true; $(KAFKA) down || true; took "stopping PostgreSQL and Kafka"; }; \
	trap 'stop; exit 130' INT TERM; \
	$(KAFKA) up || { $(KAFKA) down; exit 1; }; \
	took "starting Kafka"; \
	url=$$($(PG) up) || { stop; exit 1; }; \
	took "starting PostgreSQL"; \
	$(MAKE) --no-print-directory lint || rc=$$?; \
	took "lint"; \
	if [ $$rc = 0 ]; then \
	  PLATEWATCH_TEST_POSTGRES_URL=$$url $(VENV)/bin/pytest -m "not kafka" $(PYTEST_ARGS) || rc=$$?; \
	  took "the tests without a broker (unit, property, database, browser)"; \
	  PLATEWATCH_TEST_POSTGRES_URL=$$url $(VENV)/bin/pytest -m kafka $(PYTEST_ARGS) || rc=$$?; \
	  took "the tests on the broker (plain and secured)"; \
	fi; \
	trap - INT TERM; stop; \
	exit $$rc

test-only: lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# the plaintext broker for every row; the run starts the SASL_SSL broker (kafka.sh secure-up) for its
# own row once the others are done, and stops it (even when interrupted: benchmarks/run.py)
bench: $(STAMP)
	@rc=0; \
	stop() { $(KAFKA) down || true; }; \
	trap 'stop; exit 130' INT TERM; \
	$(KAFKA) up || { $(KAFKA) down; exit 1; }; \
	$(PY) -m benchmarks.run --secure-broker --plaintext-down $(BENCH_ARGS) || rc=$$?; \
	trap - INT TERM; stop; \
	exit $$rc

# the systems a user would pick instead, on one topic with one timing window (benchmarks/peers/run.py);
# the Quix Streams peer gets its own virtualenv (it pins an older confluent-kafka)
bench-peers: $(STAMP)
	benchmarks/peers/setup_venvs.sh
	@rc=0; $(KAFKA) up || { $(KAFKA) down; exit 1; }; \
	$(PY) -m benchmarks.peers.run --bootstrap $(KAFKA_BOOTSTRAP) $(PEERS_ARGS) || rc=$$?; \
	$(KAFKA) down; exit $$rc

# the chaos suite starts and stops its own three-node cluster (chaos/run.py); CHAOS_ARGS=--short is CI's
chaos: $(STAMP)
	$(PY) -m chaos.run $(CHAOS_ARGS)

kafka-up:
	$(KAFKA) up

kafka-down:
	$(KAFKA) down

kafka-status:
	$(KAFKA) status

kafka-log:
	$(KAFKA) log

cluster-up:
	$(KAFKA) cluster-up

cluster-down:
	$(KAFKA) cluster-down

clean:
	rm -rf $(VENV) .venv-peers .mypy_cache .ruff_cache .pytest_cache deploy/kafka/.jars

# The secured broker (TLS, SCRAM-SHA-512, ACLs enforced by the broker; deploy/kafka/kafka.sh says more):
# clients on 127.0.0.1:9093 (KAFKA_SECURE_PORT); it prints the PLATEWATCH_* variables that reach it.
.PHONY: kafka-up-secure kafka-down-secure kafka-status-secure cluster-up-secure cluster-down-secure
kafka-up-secure:
	$(KAFKA) secure-up

kafka-down-secure:
	$(KAFKA) secure-down

kafka-status-secure:
	$(KAFKA) secure-status

cluster-up-secure:
	$(KAFKA) cluster-up-secure

cluster-down-secure:
	$(KAFKA) cluster-down-secure
