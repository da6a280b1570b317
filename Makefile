# One entry point. `make run` sets up and serves the product on the embedded default; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run test lint format worker bench load-smoke venv dev-venv migrate seed clean

# `make run` installs only what the product needs; tests and tooling add requirements-dev.txt.
# --no-compile: Python compiles what it imports on first use instead of every file of every package now.
# pip first: the pip a new venv brings (23.x with Python 3.11) spends most of an install's CPU matching wheel
# tags of every file on PyPI's index pages (botocore, numpy, pyarrow list thousands); a current pip installs
# the same requirements in about half the time.
# The venv is made without pip and gets pip $(PIP_VERSION) from the pip wheel Python bundles (ensurepip's), not
# byte-compiled: `python -m venv` installs and compiles the bundled pip (~3.5 s of CPU) only for it to be
# replaced. Where Python bundles no wheel (some distributions), the usual venv.
PIP_VERSION := 26.3
BUNDLED_PIP = $(PYTHON) -c 'import ensurepip, glob, os; print(*glob.glob(os.path.join(os.path.dirname(ensurepip.__file__), "_bundled", "pip-*.whl"))[:1])'
$(VENV)/.installed: requirements.txt
	if ! $(PY) -m pip --version >/dev/null 2>&1; then \
	  rm -rf $(VENV); wheel="$$($(BUNDLED_PIP))"; \
	  if [ -n "$$wheel" ]; then \
	    $(PYTHON) -m venv --without-pip $(VENV) && \
	    $(PY) "$$wheel/pip" install -q --disable-pip-version-check --no-compile pip==$(PIP_VERSION); \
	  else $(PYTHON) -m venv $(VENV); fi; \
	fi
	$(PY) -m pip install -q --disable-pip-version-check --no-compile pip==$(PIP_VERSION)
	$(PY) -m pip install -q --disable-pip-version-check --no-compile -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt requirements-spark.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-compile -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

dev-venv: $(VENV)/.installed-dev

run: venv
	env PORT=$(PORT) bash bin/run

migrate: venv
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

# Another machine's worker: give it the web server's DATABASE_URL, CELERY_BROKER_URL, DELIVR_OUTPUT_URL and
# storage credentials (README "Output storage"); it inherits them from this environment.
worker: venv
	$(VENV)/bin/celery -A delivr_admin worker -B -l info --concurrency 2

# PYTHONDONTWRITEBYTECODE is emptied (= unset) for the run: the suite starts a Python process per Celery worker,
# server and bin/run step, and with it set each one compiled Django, Celery and botocore again from source
# (~7 s of CPU each, ~19 s for pytest's collection); the venv is installed --no-compile, so the first use writes it.
test: dev-venv
	PYTHONDONTWRITEBYTECODE= CELERY_FS_ROOT=$${CELERY_FS_ROOT:-$(CURDIR)/var/test-broker} DJANGO_ALLOW_ASYNC_UNSAFE=true \
		$(PY) -m pytest -q $(PYTEST_ARGS); rc=$$?; \
		if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint: dev-venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: dev-venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: dev-venv
	$(PY) -m bench

# Needs PostgreSQL and Redis (LOAD_DATABASE_URL, LOAD_REDIS_URL; see bench/load.py). Exit 1 on 5xx or no 429.
load-smoke: dev-venv
	$(PY) -m bench.load --smoke

clean:
	rm -rf var/test-broker var/test_db.sqlite3*
