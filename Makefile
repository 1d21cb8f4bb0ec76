# Two commands do everything on a fresh machine:  make demo  |  make test
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: all install build browser demo test test-native test-reference lint bench bench-quick clean

all: test

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Editable install compiles the Cython core (setup.py) and pulls every dependency from pyproject.toml.
$(STAMP): $(PY) pyproject.toml setup.py $(wildcard src/fastev/_core/*.pyx src/fastev/_core/*.pxd src/fastev/_core/*.pxi)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

build: $(STAMP)
	$(PY) setup.py build_ext --inplace -q

demo: $(STAMP)
	$(VENV)/bin/fastev demo

# The live-page test drives a real headless Chromium (Debian's chromium package), installed when missing.
browser:
	@[ -x /usr/bin/chromium ] || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

# The whole suite runs twice: against the native core, then against the pure-Python reference.
test: browser test-native test-reference

test-native: $(STAMP)
	$(PY) -m pytest -q tests

test-reference: $(STAMP)
	FASTEV_NO_EXTENSIONS=1 $(PY) -m pytest -q tests

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(VENV)/bin/fastev bench codec --out bench-results
	$(VENV)/bin/fastev bench pipeline --out bench-results
	$(VENV)/bin/fastev bench sse --out bench-results
	$(VENV)/bin/fastev bench memory --gb 2 --out bench-results
	$(PY) -m pytest benchmarks --benchmark-only --benchmark-json=bench-results/pytest-benchmark-$$(hostname).json -q

bench-quick: $(STAMP)
	$(VENV)/bin/fastev bench codec --quick --out /tmp/fastev-bench

clean:
	rm -rf build $(VENV) src/*.egg-info src/fastev/_core/*.c src/fastev/_core/*.so
