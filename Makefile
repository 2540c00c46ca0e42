# diffusion-companion: build the book and run the tests.
#
#   make book            install, execute the notebooks not yet current (profile ci), build HTML
#   make test            install, lint, unit tests, book from scratch, results, browser test
#   make sweep SEEDS=0-9 every chapter for every seed; per-claim stability in results/sweeps/
#   make lab             JupyterLab with the chapters opened as notebooks (jupytext)
#   make publish         the built book to the gh-pages branch of REMOTE (default origin)
#
# Variables: PROFILE=ci|full  DEVICE=cpu|cuda  SEED=0  ONLY=03  JOBS=N  PARAMS="k=v ..."
#            THREADS=1 (CPU threads per kernel)  CELL_TIMEOUT=seconds  FORCE=1 (re-execute all)
#            SCHEDULER=tcp://host:8786 (an existing Dask cluster; default: a local one)
#            OFFLINE=1 (execute and build without network, where possible)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := book

PYTHON ?= python3
PROFILE ?= ci
DEVICE ?= cpu
SEED ?= 0
ONLY ?=
PARAMS ?=
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
THREADS ?= 1
# A full-profile cell runs for many minutes on a CPU: the timeout follows the profile.
CELL_TIMEOUT ?= $(if $(filter full,$(PROFILE)),5400,1200)
OFFLINE ?= 0
FORCE ?= 0
SCHEDULER ?=
SEEDS ?= 0-9
REMOTE ?= origin
JUPYTERLAB := jupyterlab==4.6.6

VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.stamp-install
HTML := _build/html
TOC := book/_generated/_toc.yml

# OFFLINE=1 runs a command in a fresh network namespace with only loopback (the kernels talk
# to papermill over 127.0.0.1): proof that nothing is downloaded. Falls back to a plain run,
# with a note, where namespaces are not available (not root, no unshare).
ifeq ($(OFFLINE),1)
NONET := scripts/offline.sh
else
NONET :=
endif

.PHONY: install book execute html verify check-results update-results lint format test \
        test-unit browser sweep lab publish clean distclean help

help:
	@sed -n '1,16p' Makefile

# ---- environment ---------------------------------------------------------------------------

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -e .
	$(PY) -m pip check
	@touch $@

install: $(STAMP)

# ---- the book ------------------------------------------------------------------------------

execute: $(STAMP)
	$(NONET) $(PY) scripts/pipeline.py execute --profile '$(PROFILE)' --device '$(DEVICE)' \
	    --seed '$(SEED)' --jobs '$(JOBS)' --threads '$(THREADS)' --timeout '$(CELL_TIMEOUT)' \
	    --only '$(ONLY)' --params '$(PARAMS)' --scheduler '$(SCHEDULER)' \
	    $(if $(filter 1,$(FORCE)),--force,)

sweep: $(STAMP)
	$(PY) scripts/pipeline.py sweep --profile '$(PROFILE)' --device '$(DEVICE)' \
	    --seeds '$(SEEDS)' --jobs '$(JOBS)' --threads '$(THREADS)' --timeout '$(CELL_TIMEOUT)' \
	    --only '$(ONLY)' --params '$(PARAMS)' --scheduler '$(SCHEDULER)'

html: $(STAMP)
	$(PY) scripts/make_pages.py $(if $(ONLY),--allow-missing,)
	rm -rf $(HTML) _build/.doctrees _build/jupyter_execute
	$(NONET) $(BIN)/jupyter-book build . --toc $(TOC) -W -n --keep-going --all
	$(PY) scripts/check_html.py $(HTML)
	$(PY) scripts/publish.py --mark $(HTML)
	@echo "Book: file://$(abspath $(HTML))/index.html"

book: execute
	@$(MAKE) --no-print-directory html

verify: $(STAMP)
	$(PY) scripts/pipeline.py verify --only '$(ONLY)'

# ---- results regression --------------------------------------------------------------------

check-results: $(STAMP)
	$(PY) scripts/check_results.py check --profile '$(PROFILE)' --only '$(ONLY)'

update-results: $(STAMP)
	$(PY) scripts/check_results.py update --profile '$(PROFILE)' --only '$(ONLY)'

# ---- quality -------------------------------------------------------------------------------

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@test -z "$$(git ls-files '*.ipynb' 2>/dev/null)" || \
	    { echo "ERROR: .ipynb files are committed (notebooks are jupytext .py):"; \
	      git ls-files '*.ipynb'; exit 1; }

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# make test = lint + unit tests + the book (every notebook executed once, offline where
# possible) + the tests that inspect the built book (strict build, offline HTML, results
# regression, real browser).
test: lint
	$(PY) -m pytest -q -m "not book"
	@$(MAKE) --no-print-directory book OFFLINE=1 FORCE=1
	COMPANION_BOOK_BUILT=1 $(PY) -m pytest -q -m book

test-unit: $(STAMP)
	$(PY) -m pytest -q -m "not book"

browser: $(STAMP)
	COMPANION_BOOK_BUILT=1 $(PY) -m pytest -q tests/test_browser.py

# ---- reading and rerunning --------------------------------------------------------------------

# JupyterLab (pinned) in .venv; jupytext opens notebooks/*.py as notebooks and pairs each with an
# untracked .ipynb (notebooks/jupytext.toml).
lab: $(STAMP)
	$(PY) -m pip install --disable-pip-version-check -q '$(JUPYTERLAB)'
	cd notebooks && ../$(BIN)/jupyter lab

# Publish the built book to the gh-pages branch of REMOTE (refuses a stale or failed build).
publish: $(STAMP)
	$(PY) scripts/publish.py --remote '$(REMOTE)' $(HTML)

# ---- housekeeping --------------------------------------------------------------------------

clean:
	rm -rf _build executed book/_generated book/_static/mathjax artifacts

distclean: clean
	rm -rf $(VENV)
