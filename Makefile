# Two commands for a fresh clone: `make demo` and `make test`.
# Each creates .venv on first use (or when pyproject.toml changes) and installs actlab into it.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast lint ui gpu-check clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## Train the MLP on WDBC (real data, offline) and log the run to mlruns/.
	$(BIN)/actlab fit --config configs/quickstart.yaml

# One pytest worker per core (pytest-xdist), a test file's tests on one worker: its module
# fixtures (a PostgreSQL, a Ray cluster) start once. Many tests wait on processes they start.
XDIST  := -n auto --dist loadfile

test: $(STAMP)  ## The whole suite, slow and server tests included (what CI runs).
	$(BIN)/python -m pytest -q $(XDIST)

test-fast: $(STAMP)  ## Skip the tests marked slow.
	$(BIN)/python -m pytest -q $(XDIST) -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

ui: $(STAMP)  ## Open the MLflow UI on mlruns/ at http://127.0.0.1:5000
	$(BIN)/actlab ui

# No $(STAMP): a GPU box may have the packages installed without .venv; .venv's python when present.
OUT    ?= gpu-check
GPU_PY := $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON))

gpu-check:  ## Check and measure every GPU path (< 8 min): make gpu-check OUT=dir [ARGS=--cpu]
	@$(GPU_PY) scripts/gpu_check.py $(OUT) $(ARGS)

clean-venv:
	rm -rf $(VENV)
