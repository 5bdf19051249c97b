# The two commands a newcomer needs: `make run` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export PIP_CACHE_DIR ?= $(CURDIR)/.cache/pip
PYTEST_ARGS ?=

.PHONY: run test lint-imports unit integration venv services services-down services-status migrate worker clean bench bench-scale soak chaos browser

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

services:
	@dev/services.sh up

services-down:
	@dev/services.sh down

services-status:
	@dev/services.sh status

migrate: venv services
	$(BIN)/issue-platform migrate

run: venv services migrate
	@echo
	@echo "Worker starting; its web UI is http://127.0.0.1:6066/ (tables: http://127.0.0.1:6066/table/)."
	@echo "Send a first occurrence from a second terminal:   $(BIN)/issue-platform send-example"
	@echo "Then look at it:  curl -s 'http://127.0.0.1:6066/api/0/projects/1/issues/?query=is:unresolved'  or  psql postgresql://issue_platform:issue_platform@127.0.0.1:5432/issue_platform -c 'select short_id, title, times_seen from groups'"
	@echo "Ctrl-C stops the worker."
	@echo
	exec $(BIN)/issue-platform worker -l info

# Two test processes, a test file each at a time (TEST_PROCESSES=1 for one), then the tests marked `serial`
# (they stop a service the others use) alone. Exit status 5 is "no test selected" (a PYTEST_ARGS without any).
TEST_PROCESSES ?= 2
test: venv lint-imports services browser
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist loadfile -m "not serial" $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(BIN)/python -m pytest -m serial $(PYTEST_ARGS) || [ $$? -eq 5 ]

# The web UI's browser test (tests/integration/test_web_ui_browser.py) drives Debian's chromium through Playwright:
# installed here when missing (as root, or through sudo), never downloaded by Playwright itself.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
		echo "Installing Debian's chromium for the browser test"; \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; }

# The layer contracts of pyproject.toml [tool.importlinter]: an upward import or a cycle fails the build.
lint-imports: venv
	$(BIN)/lint-imports --no-cache

unit: venv
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

integration: venv services browser
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

# End to end on one worker beside a raw pass-through and the per-message baseline (bench/e2e.py): CPU per occurrence,
# occurrences/s, exactness, ratios, latency at half load. BENCH_OCCURRENCES=2000 for a shorter run;
# BENCH_ARGS="--commit HEAD" to measure the last commit, not the tree.
bench: venv services
	@$(BIN)/python -c 'import matplotlib' 2>/dev/null || $(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python -m bench.e2e $(if $(BENCH_OCCURRENCES),--occurrences $(BENCH_OCCURRENCES)) $(BENCH_ARGS)

# 1, 2 and 3 workers on the same firehose: rates and the proof that the outcome is the same (bench/scale_out.py).
bench-scale: venv services
	$(BIN)/python -m bench.scale_out $(if $(BENCH_OCCURRENCES),--occurrences $(BENCH_OCCURRENCES)) $(BENCH_ARGS)

# 30 minutes of steady traffic: RSS, RocksDB and changelog sizes over time (bench/soak.py). SOAK_ARGS="--minutes 5".
soak: venv services
	@$(BIN)/python -c 'import matplotlib' 2>/dev/null || $(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

# Three workers under the firehose while workers are killed, PostgreSQL stops and the broker restarts, then Postgres
# against the ground truth (bench/chaos.py); exits non-zero on any loss or double count. It stops and restarts the
# shared services: run it alone. CHAOS_ARGS="--minutes 2" for a shorter run. Not part of `make test`.
chaos: venv services
	$(BIN)/python -m bench.chaos $(CHAOS_ARGS)

clean:
	rm -rf .data .pytest_cache .hypothesis
