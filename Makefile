# Quire: `make run` serves the app, `make test` runs lint, type checks and the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
INSTALLED := $(VENV)/.installed

.PHONY: run test setup lint typecheck check-python clean screenshots

run: setup
	$(MANAGE) migrate --no-input
	$(MANAGE) demo_workspace
	@echo "Serving on http://localhost:8000 (workspaces at http://<slug>.localhost:8000)"
	$(MANAGE) runserver 127.0.0.1:8000

test: setup lint typecheck
	$(BIN)/pytest

setup: check-python $(INSTALLED)

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Quire needs Python 3.11 or newer; set PYTHON=python3.11")'

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy apps config

screenshots: setup
	$(BIN)/python docs/screenshots/capture.py

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache .mypy_cache *.egg-info
