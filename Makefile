# Quire: `make run` serves the app, `make test` runs lint, type checks and the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
INSTALLED := $(VENV)/.installed
# Which system packages .ci/system-packages makes sure of: what serving needs, or (for the
# targets that set it to test) also what the test suite starts. Prerequisites inherit it.
SYSTEM_PACKAGES := run

.PHONY: run serve serve-replicated test setup system-packages lint typecheck check-python \
	clean screenshots client-packages

run: setup
	$(MANAGE) migrate --no-input
	$(MANAGE) demo_workspace
	@echo "Serving on http://localhost:8000 (workspaces at http://<slug>.localhost:8000)"
	@$(MANAGE) run_jobs & JOBS=$$!; \
	trap 'kill $$JOBS 2>/dev/null; wait $$JOBS' EXIT INT TERM; \
	$(MANAGE) runserver 127.0.0.1:8000

# Production settings on this machine, over plain HTTP: DEBUG off, collected and compressed
# static files, gunicorn on 127.0.0.1:8000. A .env DJANGO_SECRET_KEY is used if present.
SERVE_ENV := DJANGO_SETTINGS_MODULE=config.settings.production DJANGO_SECURE_SSL_REDIRECT=false \
	DJANGO_SECURE_COOKIES=false DJANGO_SECURE_HSTS_SECONDS=0 QUIRE_URL_SCHEME=http QUIRE_URL_PORT=8000 \
	DJANGO_SECRET_KEY="$${DJANGO_SECRET_KEY:-$$(grep -s '^DJANGO_SECRET_KEY=' .env | cut -d= -f2- || true)}"

serve: setup
	@test -n "$$($(SERVE_ENV) sh -c 'echo $$DJANGO_SECRET_KEY')" || { echo "Set DJANGO_SECRET_KEY in .env or the environment (see .env.example)"; exit 1; }
	$(SERVE_ENV) $(MANAGE) migrate --no-input
	$(SERVE_ENV) $(MANAGE) collectstatic --no-input -v0
	$(SERVE_ENV) $(MANAGE) demo_workspace
	@$(SERVE_ENV) $(MANAGE) run_jobs & JOBS=$$!; \
	trap 'kill $$JOBS 2>/dev/null; wait $$JOBS' EXIT INT TERM; \
	$(SERVE_ENV) $(BIN)/gunicorn -c config/gunicorn.py config.wsgi

# make serve, plus Litestream replicating every database (QUIRE_REPLICA_* settings; a
# folder by default) and the replica supervisor keeping current the read replicas placed
# on this node that are being read here. Ctrl-C stops gunicorn, Litestream (which syncs
# before it exits), the supervisor (which stops its followers) and the job worker.
LITESTREAM_CONFIG := tenants_data/.litestream.yml

serve-replicated: setup
	@test -n "$$($(SERVE_ENV) sh -c 'echo $$DJANGO_SECRET_KEY')" || { echo "Set DJANGO_SECRET_KEY in .env or the environment (see .env.example)"; exit 1; }
	$(SERVE_ENV) $(MANAGE) migrate --no-input
	$(SERVE_ENV) $(MANAGE) collectstatic --no-input -v0
	$(SERVE_ENV) $(MANAGE) demo_workspace
	$(SERVE_ENV) QUIRE_REPLICATION=true $(MANAGE) litestream_config -o $(LITESTREAM_CONFIG)
	@env -u AWS_CA_BUNDLE $(BIN)/litestream replicate -config $(LITESTREAM_CONFIG) & LITESTREAM=$$!; \
	$(SERVE_ENV) QUIRE_REPLICATION=true $(MANAGE) replica_supervisor & SUPERVISOR=$$!; \
	$(SERVE_ENV) QUIRE_REPLICATION=true $(MANAGE) run_jobs & JOBS=$$!; \
	trap 'kill $$LITESTREAM $$SUPERVISOR $$JOBS 2>/dev/null; wait $$LITESTREAM $$SUPERVISOR $$JOBS' EXIT INT TERM; \
	$(SERVE_ENV) QUIRE_REPLICATION=true $(BIN)/gunicorn -c config/gunicorn.py config.wsgi

test: SYSTEM_PACKAGES := test
test: setup client-packages lint typecheck
	$(BIN)/pytest

setup: check-python system-packages $(INSTALLED)

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Quire needs Python 3.11 or newer; set PYTHON=python3.11")'

# Installs missing Debian packages as root or with passwordless sudo, else says how to.
system-packages: check-python
	@PYTHON=$(PYTHON) .ci/system-packages $(SYSTEM_PACKAGES)

$(INSTALLED): pyproject.toml | check-python system-packages
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The JavaScript libSQL clients that tests/clients and bench/sqlapi.py run with Node, exactly
# as package-lock.json pins them; npm ci again only when the lock changes.
CLIENTS := tests/clients
CLIENTS_INSTALLED := $(CLIENTS)/node_modules/.package-lock.json

client-packages: SYSTEM_PACKAGES := test
client-packages: system-packages $(CLIENTS_INSTALLED)

$(CLIENTS_INSTALLED): $(CLIENTS)/package.json $(CLIENTS)/package-lock.json | system-packages
	cd $(CLIENTS) && npm ci --no-audit --no-fund --loglevel=error

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy apps config

screenshots: SYSTEM_PACKAGES := test
screenshots: setup
	$(BIN)/python docs/screenshots/capture.py

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache .mypy_cache *.egg-info $(CLIENTS)/node_modules
