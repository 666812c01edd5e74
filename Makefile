# The two commands of the README are `make run` and `make test`; the rest are for developers.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_POSTGRES_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test

.PHONY: run test test-postgres lint format typecheck openapi migrate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)  ## serve the API on http://127.0.0.1:8000 with an embedded SQLite database
	$(BIN)/tenure serve

test: $(STAMP)  ## the whole suite (PostgreSQL too when TENURE_TEST_DATABASE_URL is set)
	$(BIN)/pytest

test-postgres: $(STAMP)
	TENURE_TEST_DATABASE_URL=$(TEST_POSTGRES_URL) $(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

openapi: $(STAMP)  ## regenerate openapi/openapi.json
	$(BIN)/tenure export-openapi

migrate: $(STAMP)
	$(BIN)/tenure migrate

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
