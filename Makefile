# Two commands do everything: `make serve` and `make test`. Each creates .venv if it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export NO_MKDOCS_2_WARNING := 1
# Python may keep its bytecode (in git-ignored __pycache__/ folders): where the environment
# says otherwise, every process of a test run compiles its modules from source again and
# pytest rewrites the asserts of every test module again, a few seconds a process.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install serve test build screenshots benchmark benchmark-pages budgets mutation clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "selfattn needs Python >= 3.11; run e.g. make PYTHON=python3.12 ..."; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)  ## .venv with selfattn and every docs and test tool

serve: $(STAMP)  ## the site at http://127.0.0.1:8000, rebuilt on every save
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000 --livereload --watch selfattn

test: $(STAMP)  ## every test: unit, docs, docstrings, notebooks, build, browser
	$(BIN)/python -m pytest

build: $(STAMP)  ## the site into site/
	$(BIN)/mkdocs build --strict

screenshots: $(STAMP)  ## full-page PNGs of every page, light and dark, in screenshots/ (and every browser check)
	SELFATTN_SCREENSHOTS=$(CURDIR)/screenshots $(BIN)/python -m pytest tests/test_browser.py -k test_page

$(VENV)/.bench-installed: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

benchmark: $(VENV)/.bench-installed  ## time and memory of every attention, into docs/benchmarks/results.json (10-30 min)
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python benchmarks/attention.py

benchmark-pages: $(STAMP)  ## how long each page's code takes on one core (pages run in every test run)
	$(BIN)/python benchmarks/pages.py

mutation: $(STAMP)  ## mutation testing of selfattn/ with mutmut (an hour or more; resumes where it stopped)
	$(BIN)/python -m pip install --quiet -e '.[test,mutation]'
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/mutmut run  # one BLAS thread per mutant; rm -rf mutants to start over
	$(BIN)/mutmut results  # the mutants not killed; `mutmut show NAME` shows one
	$(BIN)/mutmut export-cicd-stats && cat mutants/mutmut-cicd-stats.json

budgets: $(STAMP)  ## time the cold build, rebuilds, serve's reload and make test against their budgets (~5 min)
	$(BIN)/python benchmarks/build.py

clean:
	rm -rf site .pytest_cache .hypothesis screenshots mutants .cache
