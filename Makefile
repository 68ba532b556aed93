# loglake: `make demo` builds and queries a local lake; `make test` runs every check.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint format bench bench-kafka bench-compaction bench-models bench-logql2sql bench-logql2sql-sql bench-query dagster clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/loglake demo --lake ./lake

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	LOGLAKE_LAKE=./lake $(BIN)/dagster definitions validate -m dagster_project.definitions
	$(BIN)/pytest -q

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

bench-kafka: $(STAMP)
	$(BIN)/python bench/kafka.py

bench-compaction: $(STAMP)
	$(BIN)/python bench/compaction.py

bench-models: $(STAMP)
	$(BIN)/python bench/models.py --flows 10000000 --unique 2500000 --jobs 3 --workdir /tmp/loglake-bench-models

bench-logql2sql: $(STAMP)
	$(BIN)/python bench/logql2sql_translate.py

bench-logql2sql-sql: $(STAMP)
	$(BIN)/python bench/logql2sql_sql.py

bench-query: $(STAMP)
	$(BIN)/python bench/query.py

dagster: $(STAMP)
	$(BIN)/loglake dagster --lake ./lake

clean:
	rm -rf $(VENV) lake .tmp_dagster_home_* .dagster_home
