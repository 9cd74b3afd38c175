# OPTIMA Referrals - the two commands of the README, and a few helpers.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1:8000

.PHONY: run test setup demo worker beat lint messages clean

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PYTHON) not found). Set PYTHON=/path/to/python3.11."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
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
