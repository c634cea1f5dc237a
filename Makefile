# The newcomer's path: `make run` and `make test` need only Python 3.11+ and make.
# `make help` lists the targets (every `## make` line of this file).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LOCK := requirements-dev.txt
PY_CODE := server tests bench

.PHONY: help run test check lint typecheck contract pytest pytest-fast fmt lock install clean

## make help: this list.
help:
	@grep -E '^## ' $(MAKEFILE_LIST) | sed 's/^## //'

# Every Python dependency at the exact version and hash of the lock, then the project itself.
$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is needed (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

## make install: the virtualenv in .venv, from the lock (requirements-dev.txt).
install: $(STAMP)

## make run: install, start the embedded PostgreSQL, migrate it, serve on HOST:PORT.
run: install
	$(BIN)/todo-api serve

## make test: install, then lint, type checks, the contract checks and the whole test suite.
test: install lint typecheck contract pytest

## make check: the quick loop (well under a minute): lint, type checks, the tests not marked slow.
check: install lint typecheck pytest-fast

## make fmt: ruff's fixes and formatting, written into the files.
fmt: install
	$(BIN)/ruff check --fix $(PY_CODE)
	$(BIN)/ruff format $(PY_CODE)

## make lock: re-resolve the locks from pyproject.toml (pip-tools), after changing a dependency.
lock: install
	$(BIN)/pip-compile -q --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
		--no-emit-find-links --extra dev -o $(LOCK) pyproject.toml
	$(BIN)/pip-compile -q --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
		--no-emit-find-links --extra dev --extra profile -o requirements-profile.txt pyproject.toml

lint: install
	$(BIN)/ruff check $(PY_CODE)
	$(BIN)/ruff format --check $(PY_CODE)

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

pytest-fast: install
	$(BIN)/pytest -q -m "not slow"

## make reset-data: delete the development database (DATA_DIR/postgres, DATA_DIR defaults to .data)
## and its metrics; asks nothing, says what it removed; refuses while a service runs on it.
DATA_DIR ?= .data
.PHONY: reset-data
reset-data:
	@pid_file="$(DATA_DIR)/postgres/postmaster.pid"; \
	if [ -f "$$pid_file" ] && kill -0 "$$(head -n 1 "$$pid_file")" 2>/dev/null; then \
		echo "reset-data: the database in $(DATA_DIR)/postgres is running (PostgreSQL pid $$(head -n 1 "$$pid_file")): stop the service first"; \
		exit 1; \
	fi; \
	removed=""; \
	for path in "$(DATA_DIR)/postgres" "$(DATA_DIR)/metrics"; do \
		if [ -e "$$path" ]; then rm -rf "$$path" && removed="$$removed $$path"; fi; \
	done; \
	if [ -n "$$removed" ]; then echo "reset-data: removed$$removed; the next 'make run' starts an empty database"; \
	else echo "reset-data: nothing to remove in $(DATA_DIR)"; fi

## make clean: remove the virtualenv and the tools' caches (.data, the databases, stays).
clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

## make bench: the load benchmark (bench/README.md). Needs wrk; installs it only as root on Debian.
## make profile: py-spy's samples of the service under one workload (BENCH_ONLY, default list 20).
.PHONY: bench profile wrk
bench: install wrk
	$(BIN)/python -m bench.run

PROFILE_STAMP := $(VENV)/.profile-stamp
$(PROFILE_STAMP): requirements-profile.txt $(STAMP)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-profile.txt
	@touch $@

profile: install wrk $(PROFILE_STAMP)
	$(BIN)/python -m bench.profile

## make cluster: nginx in front of two instances (two workers each), PgBouncer in transaction mode
## and one PostgreSQL, on loopback; prints req/s through nginx with two instances, then one.
## CLUSTER_HOLD=1 keeps it up until Ctrl-C. Installs nginx and PgBouncer only as root on Debian.
.PHONY: cluster
cluster: install wrk
	$(BIN)/python -m bench.cluster

wrk:
	@command -v wrk >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "bench: installing wrk (apt-get install -y wrk)"; \
			apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }; \
		else \
			echo "bench: wrk is needed: 'sudo apt-get install -y wrk' (Debian, Ubuntu) or 'brew install wrk' (macOS)"; \
			exit 1; \
		fi; \
	}

## make e2e: the contract's consumers against a service it starts itself: the frontend's types are
## regenerated from openapi.yaml and checked, the typed client flow runs, and Chromium opens /docs and
## calls the API across origins (clients/typescript/TESTING.md). Needs Node.js 20.19+ and Chromium.
## make docs: build/docs/index.html, a self-contained Redoc reference, checked offline in Chromium.
CLIENT := clients/typescript
REDOCLY_CLI := @redocly/cli@2.11.1
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM

.PHONY: e2e docs node-deps chromium

node-deps: $(CLIENT)/node_modules/.package-lock.json

$(CLIENT)/node_modules/.package-lock.json: $(CLIENT)/package.json $(CLIENT)/package-lock.json
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { \
		echo "Node.js 20.19+ with npm is needed: see the README (Debian/Ubuntu: apt-get install nodejs npm, or NodeSource; macOS: brew install node)"; \
		exit 1; }
	@node -e 'const [a, b] = process.versions.node.split(".").map(Number); if (a < 20 || (a === 20 && b < 19) || a === 21) { console.error(`Node.js $${process.versions.node}: 20.19+ or 22.12+ is needed`); process.exit(1); }'
	cd $(CLIENT) && npm ci --no-audit --no-fund
	@touch $@

# Chromium from the system, never a download. Installed here only under CI (as root, or with sudo).
chromium:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ -n "$$CI" ] && command -v apt-get >/dev/null 2>&1; then \
		sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		echo "installing Debian's chromium (CI)"; \
		$$sudo apt-get update -qq && $$sudo apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "Chromium is needed at $(CHROMIUM): 'sudo apt-get install -y chromium' (Debian, Ubuntu), or"; \
		echo "'brew install --cask chromium' (macOS) and CHROMIUM=/Applications/Chromium.app/Contents/MacOS/Chromium"; \
		exit 1; \
	fi

e2e: install node-deps chromium
	@cd $(CLIENT) && npm run --silent generate:check >/dev/null || { \
		echo "$(CLIENT)/src/schema.d.ts is out of date with openapi.yaml: run 'npm --prefix $(CLIENT) run generate' and commit it"; \
		exit 1; }
	cd $(CLIENT) && npx tsc --strict --noEmit -p tsconfig.json
	cd $(CLIENT) && npm run --silent e2e

docs: node-deps chromium
	npx --yes $(REDOCLY_CLI) build-docs openapi.yaml --disableGoogleFont --output build/docs/index.html
	cd $(CLIENT) && npx --yes -p $(REDOCLY_CLI) -c 'node --import tsx src/static-docs.ts inline ../../build/docs/index.html'
	cd $(CLIENT) && node --import tsx src/static-docs.ts check ../../build/docs/index.html
