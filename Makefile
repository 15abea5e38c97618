# One command to run the service, one to run the tests (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
WORKERS ?= 2
WORKER_METRICS_PORT ?= 9101

.PHONY: install redis-server chromium run test lint bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

run: install
	mkdir -p var
	$(PY) -m engine validate $${NBA_PACK:-rules/retail.yaml}
	# The journey worker runs beside the API and stops with it.
	$(PY) -m engine worker --metrics-port $(WORKER_METRICS_PORT) & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	NBA_BIND=127.0.0.1:$(PORT) NBA_WORKERS=$(WORKERS) $(VENV)/bin/gunicorn -c gunicorn.conf.py wsgi:app

redis-server:
	.ci/ensure-redis

chromium:
	.ci/ensure-chromium

test: install redis-server chromium
	$(PY) -m engine test rules/
	$(PY) -m engine test rules/ --engine durable
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .

# Every benchmark, then one table of their figures (make bench QUICK=1: smoke runs).
bench: install redis-server
	$(PY) benchmarks/all.py $(if $(QUICK),--quick)

clean:
	rm -rf $(VENV) var .pytest_cache
