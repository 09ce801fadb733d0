# What people type. The real build is CMake (build/ for the tool, build-asan/ for the sanitizer
# build, build-fuzz/ for the libFuzzer targets); every target first makes sure the Debian packages are there (scripts/bootstrap).
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
PREFIX     ?= /usr/local
MAKEFLAGS  += --no-print-directory

.PHONY: all deps build asan fuzz-build test test-fast test-slow demo bench fuzz fixtures install clean

all: build

deps:
	@scripts/bootstrap

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# AddressSanitizer + UBSan build with gcc: gcc's OpenMP is libgomp, the runtime Debian's OpenBLAS
# uses, so our threads and BLAS's share one pool (clang would bring libomp, and the two runtimes
# spin against each other).
asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DLRSA_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

# The libFuzzer targets, built with clang (-fsanitize=fuzzer,address,undefined). Only the fuzz
# targets are tests in this tree.
fuzz-build: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DLRSA_SANITIZE=ON -DLRSA_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)

# Unit, CLI and fuzz-replay tests, in the normal build and again under ASan + UBSan, then each
# fuzz target for a few seconds from its corpus.
test: build asan fuzz-build
	@scripts/run-tests $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

# Only the normal build's tests (quicker while developing).
test-fast: build
	@scripts/run-tests $(BUILD)

# Full-size end-to-end runs (ViT-B/16, 672x672 renders): minutes, so not part of `make test`.
test-slow: build
	@LRSA_BIN=$(BUILD)/latentrsa LRSA_SRC=$(CURDIR) LRSA_TMP=$(BUILD)/tmp-slow bash tests/slow/t9100-full-size.sh

demo: build
	@scripts/demo $(BUILD)/latentrsa

bench: build
	@scripts/bench $(BUILD) $(BENCH)

# Longer exploratory fuzzing (not part of CI): FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 300
fuzz: fuzz-build
	@for t in $(FUZZ_BUILD)/tests/fuzz_*; do \
	  name=$$(basename $$t); mkdir -p $(FUZZ_BUILD)/fuzz-found/$$name; \
	  echo "fuzzing $$name for $(FUZZ_SECONDS) s"; \
	  $$t -max_total_time=$(FUZZ_SECONDS) $(FUZZ_BUILD)/fuzz-found/$$name tests/fuzz/corpus/$$name || exit 1; \
	done

# Regenerate the committed reference fixtures (needs PyPI; see tools/README.md).
fixtures:
	@tools/regenerate

install: build
	@cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
