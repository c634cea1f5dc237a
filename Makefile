# The newcomer's path: `make run` and `make test` need only Python 3.11+ and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck contract pytest install clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is needed (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(STAMP)

## make run: install, start the embedded PostgreSQL, migrate it, serve on HOST:PORT.
run: install
	$(BIN)/todo-api serve

## make test: install, then lint, type checks, the contract checks and the whole test suite.
test: install lint typecheck contract pytest

lint: install
	$(BIN)/ruff check server tests
	$(BIN)/ruff format --check server tests

typecheck: install
	$(BIN)/mypy

contract: install
	$(BIN)/openapi-spec-validator openapi.yaml
	@if command -v npx >/dev/null 2>&1; then \
		npx --yes @redocly/cli@2.11.1 lint --format=stylish openapi.yaml; \
	else \
		echo "contract lint: SKIPPED (Node.js/npx not installed; CI runs it)"; \
	fi

pytest: install
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

## make bench: the load benchmark (bench/README.md). Needs wrk; installs it only as root on Debian.
.PHONY: bench
bench: install
	@command -v wrk >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "bench: installing wrk (apt-get install -y wrk)"; \
			apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }; \
		else \
			echo "bench: wrk is needed: 'sudo apt-get install -y wrk' (Debian, Ubuntu) or 'brew install wrk' (macOS)"; \
			exit 1; \
		fi; \
	}
	$(BIN)/python -m bench.run
