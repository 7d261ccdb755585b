# The two commands of the README: `make demo` and `make test`. Both create .venv if missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BASE := $(VENV)/.installed-base
DEV := $(VENV)/.installed-dev

.PHONY: demo test lint format bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "polychrome needs Python >= 3.11; run: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The demo needs only the base install (numpy, scipy, OpenCV, onnxruntime: no torch).
$(BASE): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $(BASE)

# Tests also train a tiny network (the [train] extra: torch 2.13.0, CPU build), run a tiny
# random CLIPSeg ([segment]: transformers), run batches on a local Ray ([ray]), test the HTTP
# service ([serve]) and its page in a browser ([web-test]: Playwright, which never downloads a
# browser here), encode and decode clips with PyAV ([video]), and need [dev].
$(DEV): pyproject.toml | $(BIN)/python
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(BIN)/python -m pip install --quiet -e '.[dev,train,segment,serve,web-test,ray,diffusion,video]'
	@touch $(DEV) $(BASE)

# The browser test drives Debian's chromium (and chromium-driver), installed here when missing
# (with sudo when not root). Where that is impossible the test is skipped, with its reason.
CHROMIUM := $(VENV)/.chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(CHROMIUM): | $(BIN)/python
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then touch $@; \
	elif command -v apt-get >/dev/null && $(SUDO) apt-get update -qq \
	  && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	then touch $@; \
	else echo "warning: could not install chromium; tests/test_web.py will be skipped"; fi

demo: $(BASE)
	$(BIN)/python examples/demo.py out

test: $(DEV) $(CHROMIUM)
	$(BIN)/python -m pytest

lint: $(DEV)
	$(BIN)/ruff check src tests benchmarks examples scripts
	$(BIN)/ruff format --check src tests benchmarks examples scripts

format: $(DEV)
	$(BIN)/ruff format src tests benchmarks examples scripts

bench: $(BASE)
	$(BIN)/python benchmarks/speed.py

clean:
	rm -rf out build dist .pytest_cache .ruff_cache
