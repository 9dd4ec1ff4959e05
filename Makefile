# The two commands: `make dev` serves the app, `make test` runs every test.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PORT ?= 5000
BIN := $(VENV)/bin
export FLASK_APP := app

.PHONY: install dev test test-at system-deps lint bench bench-quick lighthouse clean mutate messages translations

PY_VERSION := $(shell $(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# A venv built by another Python (another machine, an upgrade) is rebuilt, not half-used.
VENV_STAMP := $(VENV)/.built-with-python-$(PY_VERSION)

$(VENV_STAMP):
	rm -rf $(VENV)
	$(PY) -m venv $(VENV)
	touch $@

# `make dev` needs only the app; the test tools come with `make test`.
$(VENV)/.installed-app: pyproject.toml $(VENV_STAMP)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV_STAMP)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed-app

install: $(VENV)/.installed translations

# The catalogs (docs/translations.md): `make messages` re-extracts the strings into
# translations/messages.pot and merges them into each .po; `make translations` compiles the
# .po files into the .mo files the app reads (not committed). No line numbers in the
# catalogs: they would change, and conflict, on every edit of the code around a string.
EXTRACT := $(BIN)/pybabel extract -F babel.cfg -k lazy_gettext --no-location --sort-output

messages: $(VENV)/.installed-app
	$(EXTRACT) --omit-header -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --ignore-obsolete --no-fuzzy-matching

translations: $(VENV)/.installed-app
	$(BIN)/pybabel compile -d translations --statistics

dev: $(VENV)/.installed-app translations
	APP_ENV=development $(BIN)/flask db upgrade
	APP_ENV=development PORT=$(PORT) $(BIN)/flask demo seed
	@# The refund worker runs beside the server, so a refund reaches the sandbox provider and
	@# reads "returned"; it stops when the server does.
	APP_ENV=development $(BIN)/flask payments send-outbox --forever & worker=$$!; \
	  trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  APP_ENV=development $(BIN)/flask run --host 127.0.0.1 --port $(PORT)

system-deps:
	bash .ci/system-deps.sh

test: system-deps install translations
	$(BIN)/pytest $(PYTEST_ARGS)

# The whole suite with the clock set to another moment (docs/testing.md): the app and the
# tests see WHEN as "now" (libfaketime; the servers keep the machine's clock).
# make test-at WHEN="2027-01-01 00:00 +08:00"
WHEN ?= 2027-01-01 00:00 +08:00
test-at: system-deps install translations
	@command -v faketime >/dev/null || { echo "test-at needs libfaketime: apt-get install -y faketime" >&2; exit 1; }
	@# An offset, not an absolute start: every process (pytest, gunicorn, the refund workers)
	@# then reads the same moving clock, however late it starts. FORCE_MONOTONIC_FIX=0: with
	@# the fix on, libfaketime ends pthread_cond_timedwait early, so the interpreter's lock
	@# waits spin and a fifty-thread storm runs ten times slower than on the real clock.
	off=$$(( $$(date -u -d '$(WHEN)' +%s) - $$(date -u +%s) )); \
	case $$off in -*) ;; *) off="+$$off" ;; esac; \
	TZ=UTC FAKETIME_DONT_FAKE_MONOTONIC=1 FAKETIME_FORCE_MONOTONIC_FIX=0 PYTHONPATH=$(CURDIR)/tests/support/faketime \
	  faketime -f "$$off" $(BIN)/pytest $(PYTEST_ARGS)

# Each curated mutant of the guarantee's code (mutate/mutants.py) must fail its tests
# (docs/testing.md). Not part of `make test`; about 10 minutes. MUTANTS="a b" runs some.
mutate: system-deps install
	$(BIN)/python -m mutate.run $(MUTANTS)

lint: install
	$(BIN)/ruff check app tests
	$(BIN)/ruff format --check app tests

# Benchmarks (see bench/README.md): its own PostgreSQL, Redis, gunicorn and wrk. Fresh
# consultations are seeded as the measured throughput needs them (bench/plan.py); a run the
# disk cannot hold stops at its start, saying how much space is missing.
bench: install
	bash bench/ensure-wrk.sh
	$(BIN)/python -m bench.run --mode full

bench-quick: install
	bash bench/ensure-wrk.sh
	$(BIN)/python -m bench.run --mode quick

# Lighthouse 12 on the login, checkout, payment and staff invoice pages, mobile and desktop,
# against gunicorn + PostgreSQL + Redis (docs/testing.md). Lighthouse is installed from npm
# into .lighthouse/ (ignored by git); Chromium is CHROME_PATH, /usr/bin/chromium by default.
LIGHTHOUSE_VERSION := 12.8.2

.lighthouse/node_modules/lighthouse/package.json:
	mkdir -p .lighthouse
	cd .lighthouse && npm install --no-audit --no-fund --silent lighthouse@$(LIGHTHOUSE_VERSION)

lighthouse: system-deps install translations .lighthouse/node_modules/lighthouse/package.json
	$(BIN)/python -m bench.lighthouse

clean:
	rm -rf $(VENV) instance .pytest_cache test-artifacts .lighthouse
