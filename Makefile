# Two commands on a fresh machine: `make run` (install, then a real local generate) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run test test-fast lint bench clean local-stack tools

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installed again only when what the install reads has changed (the C loop is built by it too).
INSTALLED := $(VENV)/.installed
install: $(INSTALLED)

$(INSTALLED): $(BIN)/python setup.py requirements.txt pyproject.toml datagen/_gather.c
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: install
	$(BIN)/python -m pipelines.generate --datasets films,clients --rows 1000000 --output ./out --format csv --overwrite

# Two pytest processes, each taking whole test files (their servers are started once per file): most of the
# suite waits on emulators, PostgreSQL and retries rather than on the CPU.
test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --dist loadfile

# The edit-test loop: no emulator, no PostgreSQL, no test marked slow (CI and `make test` run everything).
test-fast: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -m "not servers and not slow" -q

# The ingest chain on local emulators (Ctrl-C stops it); see README "Try the ingest chain locally".
local-stack: install
	$(BIN)/python -m local_cloud.stack

# The emulators that live in virtual environments of their own (made on first use otherwise).
tools: install
	$(BIN)/python -m local_cloud.tools

# The extraction baselines (pandas, connectorx) get an environment of their own: beside the project, pandas
# would slow down every import of Beam.
bench: install
	$(BIN)/python benchmarks/generate.py
	test -x .venv-bench/bin/python || $(PYTHON) -m venv .venv-bench
	.venv-bench/bin/pip install --quiet pandas connectorx pyarrow psycopg2-binary
	$(BIN)/python benchmarks/extract.py --baseline_python .venv-bench/bin/python
	$(BIN)/pip install --quiet -e '.[bench]'  # scikit-learn, for the learnability benchmark only
	$(BIN)/python benchmarks/learnability.py

clean:
	rm -rf out .pytest_cache build *.egg-info .local_cloud .venv-bench
