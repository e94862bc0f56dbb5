# `make run` and `make test` work on a fresh machine: they create the virtual
# environment and install the project before anything else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-openclaw lint bench reliability soak clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/openclaw-trace serve

test: $(STAMP)
	$(BIN)/python -m pytest -q
	@if [ -d integrations/openclaw ]; then node --test integrations/openclaw/test/; fi

# The plugin on real OpenClaw gateways (2026.9.6, 2026.8.2, 2026.7.1), offline in a network
# namespace: needs root and npm; about 3 minutes a release, plus each release's first install.
test-openclaw: $(STAMP)
	OCT_REAL_GATEWAY=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/realgateway

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

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
