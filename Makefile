# The two commands of the README: `make run` and `make test`. Each installs what it needs on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install system-deps run cluster seed bench-quick bench-compare bench-metrics bench-inserts bench-ab bench-decide bench-cluster test lint typecheck generate check-generated lint-migrations clean
SYSTEM_PACKAGES := wrk pgbouncer haproxy

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the load, PgBouncer and cluster tests drive: wrk (load generator), pgbouncer (transaction pooler),
# haproxy (the front door of `make cluster`).
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do command -v $$p >/dev/null || [ -x /usr/sbin/$$p ] || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else echo "warning: missing$$missing (install them: apt-get install$$missing)"; fi; \
	fi

# Without DATABASE_URL, devdb starts a real PostgreSQL in ./.data and stops it when this command ends.
# WORKER_CLASS=asyncio runs the standard event loop instead of hypercorn.toml's uvloop.
run: $(STAMP)
	$(BIN)/python -m devdb run -- sh -c '$(BIN)/alembic upgrade head && exec $(BIN)/python -m service.quart_app.serve --config hypercorn.toml --bind $(HOST):$(PORT) $(if $(WORKER_CLASS),--worker-class $(WORKER_CLASS)) "service.quart_app:create_app()"'

# The scale-out topology of docker-compose.yml as local processes (no Docker): PostgreSQL primary + streaming standby,
# PgBouncer, 3 async replicas and the twin behind HAProxy (front doors :8080 and :8081, stats :8404/stats). Prints
# every address; Ctrl-C stops it all and removes its data. ARGS: e.g. --replicas 5, --front-port 0 (any free port).
cluster: $(STAMP) system-deps
	$(BIN)/python -m cluster $(ARGS)

# Fill a database for load tests through the bulk (COPY) path; re-runnable. Embedded PostgreSQL without DATABASE_URL.
USERS ?= 10000
NOTIFICATIONS ?= 20000
PRODUCTS ?= 1000
seed: $(STAMP)
	$(BIN)/python -m devdb run -- sh -c '$(BIN)/alembic upgrade head && exec $(BIN)/python -m service.seed --users $(USERS) --notifications $(NOTIFICATIONS) --products $(PRODUCTS)'

# The load comparison (async service vs the Flask twin, wrk): --quick takes ~2 minutes, the full run ~20.
bench-quick: $(STAMP) system-deps
	$(BIN)/python -m bench compare --quick

bench-compare: $(STAMP) system-deps
	$(BIN)/python -m bench compare --out docs/loadtest

bench-metrics: $(STAMP) system-deps
	$(BIN)/python -m bench metrics_cost

# Interleaved A/B (servers side by side, alternating wrk bursts, CPU per request): PRESET=main|loop|ping|sync-latency.
PRESET ?= main
bench-ab: $(STAMP) system-deps
	$(BIN)/python -m bench ab --preset $(PRESET)

# Where async wins and where sync does (goals in two passes, the latency sweep, slow clients, memory): ~45 minutes.
bench-decide: $(STAMP) system-deps
	$(BIN)/python -m bench decide --out docs/loadtest

# 1 async replica vs 3 through the cluster's front door (HAProxy), interleaved rounds: ~4 minutes.
bench-cluster: $(STAMP) system-deps
	$(BIN)/python -m bench cluster --out docs/loadtest

bench-inserts: $(STAMP)
	$(BIN)/python -m bench inserts --rows 10000 --rounds 3

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint Dockerfile

typecheck: $(STAMP)
	$(BIN)/mypy

generate: $(STAMP)
	$(BIN)/python scripts/generate_sync.py

check-generated: $(STAMP)
	$(BIN)/python scripts/generate_sync.py --check

lint-migrations: $(STAMP)
	$(BIN)/pytest -q tests/migrations/test_lint.py

test: $(STAMP) system-deps lint typecheck check-generated
	$(BIN)/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
