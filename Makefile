# Everything a fresh machine needs: `make serve` runs Hubwire, `make test` runs the checks.
# Installs take every dependency's version from constraints.txt (the lock); `make lock` remakes it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := constraints.txt
# The resolver `make lock` uses, pinned so that the same pyproject.toml gives the same lock.
UV_VERSION := 0.13.9

.PHONY: serve test lint typecheck unit bench lock clean

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c $(LOCK) -e '.[dev]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/hubwire migrate
	$(BIN)/hubwire serve

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python -m pip install -q -c $(LOCK) -e '.[bench]'
	$(BIN)/python bench/queue.py

# Pin every dependency of pyproject.toml (all extras, every platform) into $(LOCK); run it after
# changing the dependencies. Pins already there are kept; `make lock UPGRADE=1` moves all to the newest.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "uv==$(UV_VERSION)"
	$(BIN)/uv pip compile pyproject.toml --all-extras --universal --python-version 3.11 -q \
		--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade) -o $(LOCK)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
