# `make up` runs the whole stack; `make test` runs the tests. Both set up .venv first.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: up test test-compose lint format openapi translations migrate bench clean redis-server chromium

$(STAMP): pyproject.toml
	@echo "Setting up $(VENV): installing Frota and its dependencies (first run: a minute or two) ..."
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar on -e '.[dev]'
	touch $(STAMP)
	@echo "$(VENV) is ready."

# The stack tests start private redis-servers; install Debian's when it is missing.
redis-server:
	@command -v redis-server >/dev/null || { \
	  echo "redis-server is missing: installing Debian's redis-server package ..."; \
	  apt-get update -q && apt-get install -y -q redis-server; }

# The browser tests (the console, /api/docs) drive Debian's chromium (Playwright cannot
# download its own), with fonts for pt-BR's accents and the screenshots.
chromium:
	@test -x /usr/bin/chromium && test -d /usr/share/fonts/truetype/dejavu || { \
	  echo "chromium or its fonts are missing: installing Debian's packages ..."; \
	  apt-get update -q && apt-get install -y -q chromium fonts-dejavu-core fonts-liberation; }

up: $(STAMP)
	$(VENV)/bin/frota up

migrate: $(STAMP)
	$(VENV)/bin/frota migrate

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

test: lint redis-server chromium
	$(VENV)/bin/pytest

# The production docker-compose.yml brought up in real containers, checked and
# updated as an operator would (tests/compose; a Docker engine and base images
# are set up by deploy/ci/ where the machine has none).
test-compose: $(STAMP)
	$(VENV)/bin/pytest tests/compose -o timeout=900 -p no:cacheprovider

# Side-by-side ratios (gateway vs direct vs nginx, streaming, growth, pruning).
bench: $(STAMP)
	$(PY) -m bench.run

# docs/openapi.json written anew from the code, after a change of the API (a test
# fails while it is stale, so that every contract change shows in review).
openapi: $(STAMP)
	FROTA_WRITE_OPENAPI=1 $(VENV)/bin/pytest tests/test_openapi.py -q -p no:cacheprovider \
	  -k committed_document

# The console's message catalogs: strings extracted from web/, merged into each
# language's .po (translate the new ones there), compiled to the .mo files served.
translations: $(STAMP)
	$(VENV)/bin/pybabel extract -F web/babel.cfg -k _l -k lazy_gettext \
	  -o web/translations/messages.pot --no-location --omit-header --sort-output web
	$(VENV)/bin/pybabel update -i web/translations/messages.pot -d web/translations \
	  --ignore-obsolete --no-fuzzy-matching --no-wrap
	$(VENV)/bin/pybabel compile --statistics -d web/translations

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
