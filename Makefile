# Tandem: `make run` installs everything and starts the app; `make test` runs every test.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install install-python install-frontend frontend lint test-python test-frontend services bench

run: install frontend
	$(UV) run tandem serve --host $(HOST) --port $(PORT)

install: install-python install-frontend

install-python:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --locked

install-frontend:
	@if [ -f frontend/package.json ]; then npm ci --prefix frontend --no-audit --no-fund; fi

frontend:
	@if [ -f frontend/package.json ]; then npm run --prefix frontend build; fi

lint: install-python
	$(UV) run ruff format --check src tests
	$(UV) run ruff check src tests
	$(UV) run mypy

test-python: install-python
	$(UV) run pytest -q

test-frontend: install-frontend
	@if [ -f frontend/package.json ]; then npm run --prefix frontend test && npm run --prefix frontend build && npm run --prefix frontend e2e; fi

test: lint test-python test-frontend
