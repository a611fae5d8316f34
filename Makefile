# One command sets up and opens the lab; one sets up and runs the tests.
#   make lab    create .venv if needed, open JupyterLab on notebooks/ (token auth on)
#   make test   create .venv if needed, run lint and the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export OMP_WAIT_POLICY := PASSIVE

.PHONY: env lab test check lint bench clean-env

env: $(STAMP)

# torch first and pinned: anything unpinned would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name python3 >/dev/null
	touch $(STAMP)

# Jupyter refuses root unless told; containers often run as root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: env
	cd notebooks && ../$(BIN)/jupyter lab --ServerApp.root_dir=. --ServerApp.ip=127.0.0.1 $(ALLOW_ROOT)

lint: env
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

test: env lint
	$(BIN)/python -m pytest -q

check: test

bench: env
	$(BIN)/python benchmarks/game_generation.py

clean-env:
	rm -rf $(VENV)
