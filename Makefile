# Everyday tasks. Every target builds the virtual environment (.venv) first when it is missing or
# older than a requirements file.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
DEMO_DB := demo.sqlite3
DEMO_LOG_LEVEL ?= WARNING

# The demo runs against a moto server on 127.0.0.1 with fake credentials only: no AWS config files,
# no instance metadata lookups, and tasks run in-process (no CELERY_BROKER_URL).
DEMO_ENV := \
	DJANGO_DEBUG=true \
	SQLITE_PATH=$(DEMO_DB) \
	LOG_LEVEL=$(DEMO_LOG_LEVEL) \
	AWS_ACCESS_KEY_ID=testing \
	AWS_SECRET_ACCESS_KEY=testing \
	AWS_SESSION_TOKEN=testing \
	AWS_DEFAULT_REGION=us-east-1 \
	AWS_EC2_METADATA_DISABLED=true \
	AWS_CONFIG_FILE=/dev/null \
	AWS_SHARED_CREDENTIALS_FILE=/dev/null \
	MOTO_EC2_LOAD_DEFAULT_AMIS=false

.PHONY: venv install demo demo-scan test lint

venv: $(VENV)/.installed

install: venv

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# Rebuilds the demo database from scratch, then serves the dashboard on 127.0.0.1:$(PORT).
demo: venv
	rm -f $(DEMO_DB) $(DEMO_DB)-journal .demo-endpoint
	env -u CELERY_BROKER_URL -u DATABASE_URL -u AWS_PROFILE -u AWS_ENDPOINT_URL -u MOTO_ACCOUNT_ID $(DEMO_ENV) \
		$(BIN)/python manage.py demo --port $(PORT)

# Scans the demo's simulated accounts from the command line while `make demo` is running.
demo-scan: venv
	@test -s .demo-endpoint || { echo "The demo is not running: start it with 'make demo' first."; exit 1; }
	env -u CELERY_BROKER_URL -u DATABASE_URL -u AWS_PROFILE -u MOTO_ACCOUNT_ID $(DEMO_ENV) \
		AWS_ENDPOINT_URL=$$(cat .demo-endpoint) $(BIN)/python manage.py scan --wait

test: venv
	$(BIN)/pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
