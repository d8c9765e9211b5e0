# The two commands of the README:  make quickstart  and  make test
VENV  := .venv
STAMP := $(VENV)/.installed

.PHONY: install quickstart test lint bench

$(STAMP): pyproject.toml packages.apt scripts/install.sh
	bash scripts/install.sh
	touch $(STAMP)

install: $(STAMP)

## install everything, generate the bundled sample and compare both of its quarters
quickstart: $(STAMP)
	$(VENV)/bin/safetynet quickstart

## the test suite (what CI runs)
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(VENV)/bin/python bench/quarter.py --persons 100000
