# `make run` and `make test` work on a fresh machine: they create the virtual
# environment and install the project before anything else. `make run` installs
# what running needs; the test, lint and bench targets add the dev tools.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed-dev
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: run test test-openclaw lint bench reliability soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml $(RUN_STAMP)
	$(PIP) -e '.[dev]'
	touch $(STAMP)

run: $(RUN_STAMP)
	$(BIN)/openclaw-trace serve

# The plugin's Node tests need node (CI installs it); without it they are skipped with one line.
test: $(STAMP)
	$(BIN)/python -m pytest -q
	@if command -v node >/dev/null; then node --test integrations/openclaw/test/; \
	else echo "make test: node not found, the OpenClaw plugin's tests (integrations/openclaw) were skipped"; fi

# The plugin on real OpenClaw gateways (2026.9.6, 2026.8.2, 2026.7.1), offline in a network
# namespace: needs root and npm; about 3 minutes a release, plus each release's first install.
test-openclaw: $(STAMP)
	OCT_REAL_GATEWAY=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/realgateway

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

bench: $(STAMP)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.reads
	$(BIN)/python -m bench.gc_pause
	$(BIN)/python -m bench.scrub_cost
	$(BIN)/python -m bench.instructions
	$(BIN)/python -m bench.decoder_instructions
	$(BIN)/python -m bench.writer_instructions

# The ingest core's rows of RELIABILITY.md at full size (~6 minutes), and the 30-minute soak.
reliability: $(STAMP)
	$(BIN)/python -m bench.reliability

soak: $(STAMP)
	$(BIN)/python -m bench.reliability --soak-minutes 30

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
