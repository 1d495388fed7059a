# Tandem: `make run` installs everything and starts the app; `make test` runs every test.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test sandbox install install-python install-frontend install-toolchain frontend lint test-python test-frontend services bench bench-quick mutation mutation-report

run: install frontend
	$(UV) run tandem serve --host $(HOST) --port $(PORT)

install: install-python install-frontend install-toolchain

install-python:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	# Bytecode compiled here, once: where PYTHONDONTWRITEBYTECODE is set (as on this machine) nothing caches
	# it, and every start compiled ~9,500 modules from source again (a restart took 2.0 s instead of 1.1 s).
	$(UV) sync --locked --compile-bytecode
	$(UV) run --no-sync python -m compileall -q -j 0 src

install-frontend:
	@if [ -f frontend/package.json ]; then npm ci --prefix frontend --no-audit --no-fund; fi

# esbuild and React for the preview's builds of TypeScript/JSX projects (src/tandem/services/bundles.py).
install-toolchain:
	npm ci --prefix toolchain --no-audit --no-fund

frontend:
	@if [ -f frontend/package.json ]; then npm run --prefix frontend build; fi

lint: install-python
	$(UV) run ruff format --check src tests
	$(UV) run ruff check src tests
	$(UV) run mypy

# The suite runs every server test on SQLite and on PostgreSQL + Redis: start them if they are down.
services:
	@redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 \
		--save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
	@pg_isready -h 127.0.0.1 -q || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@for i in $$(seq 30); do pg_isready -h 127.0.0.1 -q && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && exit 0; sleep 1; done; \
		echo "PostgreSQL or Redis did not start" >&2; exit 1

# The Coder's command sandbox (bubblewrap), and pytest inside it for the tests: Debian packages, if missing.
sandbox:
	@sh scripts/ensure-sandbox.sh

# Two workers (pytest-xdist), a test file each at a time: most tests wait on servers and streams, not the CPU.
PYTEST_WORKERS ?= 2

test-python: install-python install-toolchain services sandbox
	$(UV) run pytest -q -n $(PYTEST_WORKERS) --dist loadfile

test-frontend: install-frontend install-toolchain
	@if [ -f frontend/package.json ]; then npm run --prefix frontend api:check && npm run --prefix frontend test && npm run --prefix frontend build && npm run --prefix frontend e2e; fi

test: lint test-python test-frontend

# Streaming benchmarks against a bare-ASGI baseline (bench/README.md). BENCH_ARGS="--backend postgres+redis" etc.
bench: install-python
	$(UV) run python -m bench $(BENCH_ARGS)

bench-quick: install-python
	$(UV) run python -m bench --quick $(BENCH_ARGS)

# Mutation testing of the core modules with the fast tests (docs/testing.md): incremental, results stay in mutants/.
# `make mutation MUTATE=src/tandem/workspace/paths.py` (re)runs one module or folder; too slow for CI.
MUTATE ?=
MUTANTS = $(if $(MUTATE),'$(patsubst %.py,%,$(subst /,.,$(patsubst src/%,%,$(MUTATE:/=))))*')
MUTATION_CHILDREN ?= 2

mutation: install-python services
	nice -n 19 $(UV) run mutmut run --max-children $(MUTATION_CHILDREN) $(MUTANTS)
	$(UV) run python scripts/mutation_report.py

mutation-report:
	$(UV) run python scripts/mutation_report.py --survivors
