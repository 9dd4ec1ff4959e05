# The two commands: `make dev` serves the app, `make test` runs every test.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PORT ?= 5000
BIN := $(VENV)/bin
export FLASK_APP := app

.PHONY: install dev test system-deps lint bench bench-quick clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

dev: install
	APP_ENV=development $(BIN)/flask db upgrade
	APP_ENV=development $(BIN)/flask demo seed
	APP_ENV=development $(BIN)/flask run --host 127.0.0.1 --port $(PORT)

system-deps:
	bash .ci/system-deps.sh

test: system-deps install
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check app tests
	$(BIN)/ruff format --check app tests

# Benchmarks (see bench/README.md): its own PostgreSQL, Redis, gunicorn and wrk.
bench: install
	bash bench/ensure-wrk.sh
	$(BIN)/python -m bench.run --mode full

bench-quick: install
	bash bench/ensure-wrk.sh
	$(BIN)/python -m bench.run --mode quick

clean:
	rm -rf $(VENV) instance .pytest_cache test-artifacts
