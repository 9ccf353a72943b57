# The two commands: `make run` and `make test` (see README.md).
# The first of these that actually runs and is 3.11+ (a pyenv shim can exist yet fail to run).
PYTHON ?= $(shell for p in python3.12 python3.11 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 \
	&& command -v $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install run test lint format bench clean chromium

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## Start web + worker + beat on the embedded defaults (SQLite, embedded Redis). Ctrl-C stops all.
run: install
	$(BIN)/python -m dev.run

## The whole suite on SQLite, then on PostgreSQL when TEST_DATABASE_URL names one.
test: install chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "== the same suite on PostgreSQL ($$TEST_DATABASE_URL)"; \
		TEST_DB=postgres $(BIN)/python -m pytest $(PYTEST_ARGS); \
	else \
		echo "TEST_DATABASE_URL is not set: the PostgreSQL run was not done"; \
	fi

## Browser tests drive Debian's Chromium; install it when missing (as root) or say how.
chromium:
	@bash dev/ensure-chromium.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python -m bench.intake
	$(BIN)/python -m bench.oncall
	$(BIN)/python -m bench.fees

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
