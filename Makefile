# Two commands do all set-up on a fresh machine with Python 3.11: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
# The web server, the DICOM worklist SCP, the HL7 listener, and a Celery worker and beat only when a broker is
# configured (otherwise tasks run in-process).
PROCESSES := web worklist hl7 $(if $(CELERY_BROKER_URL)$(REDIS_URL),worker beat,)
# Where gunicorn listens (ris/gunicorn_conf.py reads the same variable): the banner names it.
RIS_WEB_ADDR ?= 127.0.0.1:8000
export RIS_WEB_ADDR

.PHONY: run test lint format migrate seed static clean

$(INSTALLED): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(INSTALLED)

migrate: $(INSTALLED)
	mkdir -p var
	$(PY) manage.py migrate --noinput

static: $(INSTALLED)
	$(PY) manage.py collectstatic --noinput --verbosity 0

seed: migrate
	$(PY) manage.py seed_demo

run: seed static
	@echo "RIS on http://$(RIS_WEB_ADDR)/ -- starting: $(PROCESSES) (Ctrl-C stops them all)"
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho --procfile Procfile start $(PROCESSES)

# The suite runs on PYTEST_WORKERS pytest-xdist processes, each with its own test database; many tests wait on
# servers, subprocesses and Chromium; each worker also migrates its own database. PYTEST_WORKERS=0: one process.
# --dist loadgroup keeps each xdist_group (the real-Celery-worker tests) on one worker.
PYTEST_WORKERS ?= 2
test: $(INSTALLED)
	$(PY) -m pytest $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadgroup) $(PYTEST_ARGS)

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(INSTALLED)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
