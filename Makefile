# fundingkit build plumbing.
#
#   make test    bootstrap everything, then lint + compile + titanoboa tests + Ape tests (CI entry)
#   make demo    bootstrap, then `ape run demo`   (scripts/demo.py)
#   make bench   bootstrap, then `ape run bench`  (scripts/bench.py)
#   make mutate  mutation testing, hours (docs/TESTING.md); one file: make mutate FILE=path
#   make lint    ruff check
#   make fmt     ruff format
#   make venv    create/refresh .venv from requirements.lock (no-op when up to date)
#   make node    install anvil from package-lock.json        (no-op when up to date)
#   make lock    regenerate requirements.lock from the current .venv
#   make clean   remove build outputs and caches (keeps .venv and node_modules)
#   make distclean   clean + remove .venv and node_modules
#
# Nothing downloads at run time: Python deps come from PyPI and anvil from npm only while
# bootstrapping; the Vyper compiler is the pinned `vyper` package, snekmate is a pinned
# Python package, and every Ape run starts its own local anvil.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LOCK   := requirements.lock

# ---------------------------------------------------------------- environment for every recipe
# .venv/bin first: ape-vyper runs the `vyper` executable it finds on PATH.
# node_modules/.bin: ape-foundry finds `anvil` only on PATH.
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)
# Keep Ape's and vvm's state inside the project (git-ignored), never in $HOME.
export APE_DATA_FOLDER := $(CURDIR)/.ape
export VVM_BINARY_PATH := $(CURDIR)/.ape/vvm
# Hypothesis profile (registered by the test suites' conftest.py); override: make test HYPOTHESIS_PROFILE=dev
export HYPOTHESIS_PROFILE ?= ci
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# ---------------------------------------------------------------- stamp files
# Stamps are named after a hash of the files they depend on, so they are keyed on file
# *content* (robust to git checkouts and mtimes). A changed lock file => new stamp name =>
# the install step runs again; otherwise the target is a no-op.
hash = $(shell cat $(1) 2>/dev/null | sha256sum | cut -c1-16)
VENV_STAMP := $(VENV)/.stamp-venv-$(call hash,$(LOCK) pyproject.toml)
NODE_STAMP := node_modules/.stamp-node-$(call hash,package.json package-lock.json)

.PHONY: help venv node bootstrap test test-deep mutate lint fmt compile test-boa test-ape demo bench lock clean distclean

help:
	@sed -n '3,14p' Makefile | sed 's/^# \{0,1\}//'

# ---------------------------------------------------------------- bootstrap
venv: $(VENV_STAMP)

$(VENV_STAMP): $(LOCK) pyproject.toml
	@echo "==> bootstrapping $(VENV) from $(LOCK)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else \
	  "fundingkit needs Python 3.11 (got %s); remove .venv and set PYTHON=python3.11" % sys.version.split()[0])'
	@# Every package is pinned in the lock, so no resolution is needed (--no-deps); pip check
	@# afterwards proves the lock is complete and consistent.
	$(BIN)/python -m pip install --quiet --no-deps -r $(LOCK)
	@# The project itself, editable, built with the venv's pinned setuptools (no download).
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	@rm -f $(VENV)/.stamp-venv-*
	@touch $@

node: $(NODE_STAMP)

$(NODE_STAMP): package.json package-lock.json
	@echo "==> installing anvil from package-lock.json"
	@# `npm install` (not `npm ci`); scripts are ignored: the platform binary comes in as an
	@# optional dependency, and the package's postinstall would only try to download.
	npm install --no-audit --no-fund --ignore-scripts
	anvil --version | head -n 1
	@rm -f node_modules/.stamp-node-*
	@touch $@

bootstrap: venv node
	@mkdir -p $(APE_DATA_FOLDER) $(VVM_BINARY_PATH)

# ---------------------------------------------------------------- checks
# A suite with no test files yet is reported as skipped. Once a suite has test files, any
# non-zero pytest exit fails the build -- including 5 ("no tests collected"), which then
# means tests were silently lost.
has_tests = find $(1) \( -name 'test_*.py' -o -name '*_test.py' \) -print -quit 2>/dev/null | grep -q .

lint: venv
	$(BIN)/ruff check .

fmt: venv
	$(BIN)/ruff format .

# Ape does not notice a change in a module (contracts/modules) alone, so a build is keyed
# on the content of every contract, module and interface, and compiles with --force.
CONTRACT_FILES := $(shell find contracts -name '*.vy' -o -name '*.vyi' | sort)
BUILD_STAMP := .build/.stamp-contracts-$(call hash,$(CONTRACT_FILES))

compile: bootstrap
	$(BIN)/ape compile --force --size
	@mkdir -p .build && rm -f .build/.stamp-contracts-* && touch $(BUILD_STAMP)

$(BUILD_STAMP):
	@$(MAKE) compile


test-boa: bootstrap
	@if $(call has_tests,tests/boa); then \
	  echo "==> titanoboa tests"; \
	  $(BIN)/pytest -p no:ape_test tests/boa; \
	else echo "==> tests/boa: no test files yet, skipped"; fi

test-ape: bootstrap
	@if $(call has_tests,tests/ape); then \
	  echo "==> Ape tests (anvil)"; \
	  $(BIN)/ape test tests/ape; \
	else echo "==> tests/ape: no test files yet, skipped"; fi

# Steps run one after another (2-core CI; output stays readable). A failing step does not
# hide the others: all four run, then the failed ones are listed and the target fails.
# On success nothing is printed after the last pytest summary line.
TEST_STEPS := lint compile test-boa test-ape
test: bootstrap
	@failed=""; \
	for step in $(TEST_STEPS); do \
	  $(MAKE) $$step || failed="$$failed $$step"; \
	done; \
	if [ -n "$$failed" ]; then echo "==> make test FAILED:$$failed" >&2; exit 1; fi

# A long property campaign (not part of `make test`): thousands of random sequences.
# The long campaign: every property test in the deep profile, 10,000 stateful sequences.
# Hours on 2 cores; progress every 100 sequences in .build/deep-campaign.log. The stateful
# sequences alone, split over the two cores (about 4 hours: each ends with a bank run):
#   make test-deep FUNDINGKIT_STATEFUL_EXAMPLES=5000 PYTEST_ARGS="-k TestMarketMachine --hypothesis-seed=1"
#   (and beside it the same with --hypothesis-seed=2 CAMPAIGN_LOG=.build/deep-campaign-2.log)
CAMPAIGN_LOG ?= .build/deep-campaign.log
test-deep: bootstrap
	@mkdir -p .build
	HYPOTHESIS_PROFILE=deep FUNDINGKIT_CAMPAIGN_LOG=$(abspath $(CAMPAIGN_LOG)) \
	  $(BIN)/pytest -p no:ape_test tests/boa --hypothesis-show-statistics $(PYTEST_ARGS)

# Mutation testing (not part of `make test`): each mutant of every contract, module and
# reference module against the tests that cover its file, one process; the table goes to
# docs/TESTING.md. FILE=contracts/modules/ledger.vy (or several, space-separated) for fewer.
FILE ?=
mutate: bootstrap
	$(BIN)/python scripts/mutate.py $(FILE)

# ---------------------------------------------------------------- scripts
demo: bootstrap $(BUILD_STAMP)
	$(BIN)/ape run demo

bench: bootstrap $(BUILD_STAMP)
	$(BIN)/ape run bench

# ---------------------------------------------------------------- maintenance
# Regenerate the lock from a known-good .venv (pip freeze --all, minus pip and the project).
lock:
	@test -x $(BIN)/python || { echo "no $(VENV); nothing to freeze" >&2; exit 1; }
	{ echo "# Exact pins for the fundingkit dev/test environment (Python 3.11)."; \
	  echo "# Generated from a known-good venv by 'make lock' (pip freeze --all, minus pip and the project)."; \
	  echo "# Do not loosen: unpinned, pip resolves eth-ape 0.8.52 + ape-foundry 0.8.5, which crashes."; \
	  $(BIN)/python -m pip freeze --all --exclude-editable | grep -viE '^(pip|fundingkit)=='; \
	} > $(LOCK).tmp
	mv $(LOCK).tmp $(LOCK)

clean:
	rm -rf .build .ape reports .pytest_cache .hypothesis .ruff_cache build dist *.egg-info
	find . -path ./.venv -prune -o -path ./node_modules -prune -o -name __pycache__ -type d -print0 \
	  | xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV) node_modules
