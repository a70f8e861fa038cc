# Two commands do everything: `make serve` and `make test`. Each creates .venv if it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export NO_MKDOCS_2_WARNING := 1

.PHONY: serve test build screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

serve: $(STAMP)  ## the site at http://127.0.0.1:8000, rebuilt on every save
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000 --livereload --watch selfattn

test: $(STAMP)  ## every test: unit, docs, docstrings, notebooks, build, browser
	$(BIN)/python -m pytest

build: $(STAMP)  ## the site into site/
	$(BIN)/mkdocs build --strict

clean:
	rm -rf site .pytest_cache .hypothesis screenshots
