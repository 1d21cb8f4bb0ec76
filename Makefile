# Two commands do everything on a fresh machine:  make demo  |  make test
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: all install build browser demo test test-native test-reference lint bench bench-quick clean \
        build-asan test-asan fuzz fuzz-smoke

all: test

$(PY):
	@echo "make: creating the virtualenv $(VENV) ($(PYTHON) -m venv) and upgrading pip"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Editable install compiles the Cython core (setup.py) and pulls every dependency from pyproject.toml.
$(STAMP): $(PY) pyproject.toml setup.py $(wildcard src/fastev/_core/*.pyx src/fastev/_core/*.pxd src/fastev/_core/*.pxi)
	@echo "make: installing fastev and its dependencies into $(VENV) (pip install -e '.[dev]': downloads"
	@echo "      the wheels and compiles the Cython core; a minute or two the first time, quiet meanwhile)"
	$(PY) -m pip install --quiet -e '.[dev]'
	@echo "make: installed"
	@touch $(STAMP)

install: $(STAMP)

build: $(STAMP)
	$(PY) setup.py build_ext --inplace -q

demo: $(STAMP)
	@echo "make: running fastev demo (embedded Kafka broker, every sample source)"
	$(VENV)/bin/fastev demo

# The live-page test drives a real headless Chromium. When none is installed, Debian's smallest one
# (chromium-headless-shell, else chromium; --no-install-recommends) is installed with apt-get, as root or
# through sudo; apt's output goes to $(APT_LOG), one line points at it on failure.
BROWSERS    := /usr/bin/chromium-headless-shell /usr/bin/chromium
APT_LOG     := $(VENV)/apt-install.log
FIND_BROWSER = $$(for b in $(BROWSERS); do [ -x $$b ] && { echo $$b; break; }; done)

browser: $(PY)
	@[ -n "$$FASTEV_CHROMIUM" ] && [ -x "$$FASTEV_CHROMIUM" ] && exit 0; \
	for b in $(BROWSERS); do [ -x $$b ] && exit 0; done; \
	pkg=chromium-headless-shell; apt-cache show $$pkg >/dev/null 2>&1 || pkg=chromium; \
	SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	echo "make: installing Debian's $$pkg for the live-page test (apt-get as root or via sudo; log: $(APT_LOG))"; \
	{ $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y \
	    --no-install-recommends $$pkg; } >$(APT_LOG) 2>&1 \
	  || { echo "make: installing $$pkg failed; see $(APT_LOG)" >&2; exit 1; }

# The whole suite runs twice: against the native core, then against the pure-Python reference.
test: browser test-native test-reference fuzz-smoke

test-native: $(STAMP)
	FASTEV_CHROMIUM=$${FASTEV_CHROMIUM:-$(FIND_BROWSER)} $(PY) -m pytest -q tests

test-reference: $(STAMP)
	FASTEV_CHROMIUM=$${FASTEV_CHROMIUM:-$(FIND_BROWSER)} FASTEV_NO_EXTENSIONS=1 $(PY) -m pytest -q tests

# Sanitizer build: the debug build under ASan+UBSan, out of place (build/asan/lib holds a copy of the package
# with sanitized extension modules), so the release modules in src/ are never replaced. CPython itself is not
# instrumented: the runtimes are preloaded and leak detection is off; allocator_may_return_null lets the tests of
# impossible allocations see their MemoryError. --capture=sys keeps a sanitizer report on the real stderr.
ASAN_LIB := build/asan/lib
ASAN_ENV  = LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
            ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
            UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 PYTHONPATH=$(CURDIR)/$(ASAN_LIB)
FUZZ_RECORDS ?= 10000000
FUZZ_JOBS    ?= 1

build-asan: $(STAMP)
	@mkdir -p $(ASAN_LIB)
	tar -C src --exclude='*.so' --exclude='*.c' --exclude=__pycache__ -cf - fastev | tar -C $(ASAN_LIB) -xf -
	FASTEV_SANITIZE=1 $(PY) setup.py build_ext --build-lib $(ASAN_LIB) --build-temp build/asan/tmp -q
	git describe --always --dirty > $(ASAN_LIB)/fastev/_core/BUILT_FROM 2>/dev/null || rm -f $(ASAN_LIB)/fastev/_core/BUILT_FROM
	$(ASAN_ENV) $(PY) -c 'import fastev._core.codec as c; assert "/$(ASAN_LIB)/" in c.__file__, c.__file__'

test-asan: build-asan
	$(ASAN_ENV) $(PY) -m pytest -q --capture=sys -p no:cacheprovider \
	  tests/core tests/decode tests/transcode tests/avro tests/acl tests/fuzz
	$(ASAN_ENV) $(PY) -m fuzz run --records 50000 --out build/fuzz-asan-smoke --quiet

# The long differential campaign (>= 10 M records) on the sanitizer build; the report is committed.
fuzz: build-asan
	$(ASAN_ENV) $(PY) -m fuzz run --records $(FUZZ_RECORDS) --jobs $(FUZZ_JOBS) --out build/fuzz \
	  --report bench-results/fuzz-$$(hostname)

# A short campaign on the sanitizer build (part of make test, so CI runs it).
fuzz-smoke: build-asan
	$(ASAN_ENV) $(PY) -m fuzz run --records 30000 --out build/fuzz-smoke --quiet

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks fuzz
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
