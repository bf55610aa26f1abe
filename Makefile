# Two commands on a fresh machine: `make run` (install, then a real local generate) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run test lint bench clean local-stack tools

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'

run: install
	$(BIN)/python -m pipelines.generate --datasets films,clients --rows 1000000 --output ./out --format csv --overwrite

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# The ingest chain on local emulators (Ctrl-C stops it); see README "Try the ingest chain locally".
local-stack: install
	$(BIN)/python -m local_cloud.stack

# The emulators that live in virtual environments of their own (made on first use otherwise).
tools: install
	$(BIN)/python -m local_cloud.tools

bench: install
	$(BIN)/pip install --quiet pandas connectorx  # the extraction baselines only
	$(BIN)/python benchmarks/generate.py
	$(BIN)/python benchmarks/extract.py
	$(BIN)/pip install --quiet -e '.[bench]'  # scikit-learn, for the learnability benchmark only
	$(BIN)/python benchmarks/learnability.py

clean:
	rm -rf out .pytest_cache build *.egg-info .local_cloud
