# The two commands a newcomer needs: `make serve` and `make test`.
#
# One virtual environment, filled in two steps with a stamp file each:
#   install-server  the server alone (`pip install -e .`): all that `make serve` needs;
#   install-test    everything the tests add (torch, transformers, datasets,
#                   playwright, mypy, ruff... about 2 GB), on top of the server.
# So `make serve` on a fresh machine installs only the server, `make test` after it
# adds the rest, and `make serve` after `make test` installs nothing. Editable
# installs, so that a `git pull` is served without reinstalling.
PYTHON ?= python3
VENV ?= .venv
LEGACY ?= .venv-legacy
TF ?= .venv-tf
PIP = $(VENV)/bin/pip

.PHONY: serve test lint install install-server install-test browser git-tools lb-tools peer tensorflow

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.server-installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.test-installed: $(VENV)/.server-installed
	$(PIP) install --quiet -e '.[test]'
	touch $@

$(LEGACY)/.installed:
	$(PYTHON) -m venv $(LEGACY)
	$(LEGACY)/bin/pip install --quiet 'huggingface_hub[hf_xet]==0.36.*'
	touch $@

## TensorFlow CPU for `pytest -m tensorflow` (Keras hf:// loads, SavedModels), in its own
## venv like the old client's: about 1.6 GB, so not part of `make test` (the tests skip).
$(TF)/.installed:
	$(PYTHON) -m venv $(TF)
	$(TF)/bin/pip install --quiet 'tensorflow-cpu==2.21.*' 'keras>=3.10,<4' 'huggingface_hub>=2.4,<3'
	touch $@

tensorflow: install-test $(TF)/.installed
	$(VENV)/bin/pytest -m tensorflow

install-server: $(VENV)/.server-installed
install-test: $(VENV)/.test-installed
install: install-test

## The browser tests drive Debian's Chromium (a Playwright browser download is not used).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	  || { echo "Could not install chromium: run 'apt-get install chromium' as root"; exit 1; }; }

## The git tests drive Debian's git and git-lfs (CI machines have git; git-lfs is added).
git-tools:
	@{ command -v git >/dev/null 2>&1 && git lfs version >/dev/null 2>&1; } || { \
	  echo "Installing Debian's git and git-lfs for the git tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git git-lfs) \
	  || { echo "Could not install git-lfs: run 'apt-get install git git-lfs' as root"; exit 1; }; }

lb-tools:
	@command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || { \
	  echo "Installing Debian's haproxy for the scale-out tests (deploy/haproxy.cfg)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy) \
	  || { echo "Could not install haproxy: run 'apt-get install haproxy' as root"; exit 1; }; }

## Start the hub on its embedded default (SQLite and ./commons-data), port 8000.
serve: install-server
	$(VENV)/bin/commons serve

lint: install-test
	$(VENV)/bin/ruff check modelcommons tests benchmarks
	$(VENV)/bin/ruff format --check modelcommons tests
	$(VENV)/bin/mypy

## Lint, type-check and run the whole suite (SQLite and PostgreSQL at 127.0.0.1:5432).
test: install-test $(LEGACY)/.installed browser git-tools lb-tools lint
	$(VENV)/bin/pytest

## huggingface_hub's own test suite against a fresh hub, with and without hf_xet (not part
## of `make test`: it needs a checkout of the client's repository).
## Writes benchmarks/CLIENT_SUITE.md and benchmarks/CLIENT_SUITE_NO_XET.md.
peer: install-test
	@test -n "$(HFH_SRC)" || { echo "usage: make peer HFH_SRC=/path/to/huggingface_hub checkout"; exit 2; }
	$(VENV)/bin/python benchmarks/peer/run.py --hfh-src "$(HFH_SRC)"
	$(VENV)/bin/python benchmarks/peer/run.py --hfh-src "$(HFH_SRC)" --without-xet
