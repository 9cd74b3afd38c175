# OPTIMA Referrals - the two commands of the README, and a few helpers.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1:8000

.PHONY: run test setup demo worker beat lint messages clean lock

# Installs the exact versions in requirements-dev.lock (the ones that passed the tests), then the project
# itself without resolving anything again. `make lock` refreshes the lock files from pyproject.toml.
$(VENV)/.installed: pyproject.toml requirements.lock requirements-dev.lock
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PYTHON) not found). Set PYTHON=/path/to/python3.11."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

setup: $(VENV)/.installed
	$(PY) manage.py migrate --noinput -v0

## Command 1: set up and run the app with demo data on http://127.0.0.1:8000
run: setup
	$(PY) manage.py load_demo
	$(PY) manage.py load_fee_defaults
	@echo ""
	@echo "OPTIMA runs on http://$(HOST)/  (stop with Ctrl+C)"
	$(PY) manage.py runserver $(HOST)

## Command 2: the whole test suite (PostgreSQL/Redis tests run when those are reachable)
test: setup
	$(VENV)/bin/python scripts/run_tests.py

worker: setup
	$(VENV)/bin/celery -A optima worker --loglevel=info

beat: setup
	$(VENV)/bin/celery -A optima beat --loglevel=info

lint: setup
	$(VENV)/bin/ruff check .

messages: setup
	$(PY) manage.py makemessages -l de_CH -l fr_CH -l it_CH --ignore=.venv --ignore=staticfiles --no-obsolete
	$(PY) scripts/translations.py || true
	$(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles test-artifacts

## Refresh the lock files after a change of the dependencies in pyproject.toml (needs network access to PyPI)
lock:
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --python-version 3.11 --quiet -o requirements.lock
	$(VENV)/bin/uv pip compile pyproject.toml --python-version 3.11 --quiet --extra dev -o requirements-dev.lock
