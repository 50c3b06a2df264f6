# o365 — top-level commands.
#
#   make deps    check (and, as root on Debian, install) cc, c++, valgrind, php+FFI, phpunit, python3+venv
#   make lib     build target/debug/libo365.so (dev profile)
#   make header  regenerate include/o365.h and include/o365_php.h (commit them)
#   make test    everything, stopping at the first failure:
#                cargo fmt --check, cargo clippy -D warnings, cargo test --workspace (incl. the
#                simulator), header staleness check, C harness under valgrind, C++ test under
#                valgrind, PHPUnit; ends with each runner's summary and a total line
#   make demo    the main job end to end (examples/demo.c) against o365-sim on a temporary store
#   make bench   benchmarks (scripts/bench.sh, else scripts/bench_*.sh, else cargo bench)
#
# Pieces: test-fmt test-clippy test-cargo test-header test-c test-cpp test-php
# Variables: CARGO, CC, CXX, VALGRIND (set VALGRIND= to run the C/C++ tests without it), PHP.

SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO    ?= cargo
CC       ?= cc
CXX      ?= c++
PHP      ?= php
PHPUNIT  ?= phpunit

LIBDIR   := $(CURDIR)/target/debug
LIB      := $(LIBDIR)/libo365.so
export LIB
# the PHP binding finds the library through O365_LIB
export O365_LIB := $(LIB)

# Extra cargo features for every build here (e.g. FEATURES=o365/some-feature). The test hooks
# need none: they act only for a client created with {"debug": {"test_hooks": true}}.
FEATURES ?=
CARGO_FEATURES := $(if $(strip $(FEATURES)),--features $(FEATURES))

BUILD    := build
CFLAGS   ?= -g -O1
CWARN    := -Wall -Wextra -Werror -pthread
CPPFLAGS := -Iinclude
# the C++ test also covers the optional nlohmann::json overloads when the header is installed
NLOHMANN := $(shell test -f /usr/include/nlohmann/json.hpp && echo -DO365_WITH_NLOHMANN)
LDLIBS   := -L$(LIBDIR) -Wl,-rpath,$(LIBDIR) -l:libo365.so -pthread

VALGRIND ?= valgrind --quiet --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite --show-leak-kinds=definite \
            --num-callers=40 --fair-sched=yes --suppressions=tests/c/valgrind.supp

STEP     := scripts/step.sh
# C tests: test_abi (no network) plus the ones that drive the o365-sim binary; all under valgrind
C_TESTS       := $(patsubst tests/c/%.c,$(BUILD)/tests/c/%,$(wildcard tests/c/test_*.c))
C_SIM_TESTS   := $(filter-out $(BUILD)/tests/c/test_abi,$(C_TESTS))
# C++ tests: test_client (no network) plus the ones that drive the o365-sim binary
CPP_TESTS     := $(patsubst bindings/cpp/tests/%.cpp,$(BUILD)/tests/cpp/%,$(wildcard bindings/cpp/tests/test_*.cpp))
CPP_SIM_TESTS := $(filter-out $(BUILD)/tests/cpp/test_client,$(CPP_TESTS))
CPP_EXAMPLES  := $(patsubst examples/%.cpp,$(BUILD)/examples/%,$(wildcard examples/*.cpp))
# valgrind for the sim-driven C and C++ tests too (slower: set VALGRIND_SIM= to run them natively)
VALGRIND_SIM ?= $(VALGRIND)
PHPUNIT_CMD = $(PHP) -d ffi.enable=1 -d memory_limit=512M $$(command -v $(PHPUNIT)) \
              --colors=never -c bindings/php/phpunit.xml

.PHONY: help deps lib header sim binaries test demo bench clean \
        test-fmt test-clippy test-cargo test-header test-c test-cpp test-php test-summary

help:
	@sed -n '3,15p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@scripts/deps.sh

lib:
	$(CARGO) build --lib $(CARGO_FEATURES)
	@test -f $(LIB) || { echo "make lib: $(LIB) was not produced"; exit 1; }
	@echo "LIB=$(LIB)"

# Regenerates include/o365.h and include/o365_php.h from src/ffi (cbindgen, via build.rs).
header:
	O365_UPDATE_HEADER=1 $(CARGO) build --lib $(CARGO_FEATURES)
	@git --no-pager diff --stat -- include/ || true

# ---- make test ---------------------------------------------------------------------------

test: deps
	@rm -rf $(BUILD)/logs
	@$(STEP) cargo-fmt $(CARGO) fmt --all -- --check --color=never
	@$(STEP) cargo-clippy $(CARGO) clippy --workspace --all-targets $(CARGO_FEATURES) -- -D warnings
	@$(STEP) cargo-test $(CARGO) test --workspace $(CARGO_FEATURES)
	@$(STEP) build $(MAKE) --no-print-directory binaries
	@$(STEP) header-check scripts/check-header.sh $(LIB)
	@$(STEP) c-harness $(VALGRIND) $(BUILD)/tests/c/test_abi
	@$(foreach t,$(C_SIM_TESTS),$(STEP) c-$(notdir $(t)) $(VALGRIND_SIM) $(t) &&) true
	@$(STEP) cpp-test_client $(VALGRIND) $(BUILD)/tests/cpp/test_client
	@$(foreach t,$(CPP_SIM_TESTS),$(STEP) cpp-$(notdir $(t)) $(VALGRIND_SIM) $(t) &&) true
	@$(STEP) phpunit $(PHPUNIT_CMD)
	@$(STEP) browser python3 tests/browser/test_link_page.py
	@scripts/summary.sh

binaries: lib sim $(C_TESTS) $(CPP_TESTS) $(BUILD)/examples/demo $(CPP_EXAMPLES)

# the emulator binary (target/debug/o365-sim) that the sim-driven PHP and C++ tests start
sim:
	$(CARGO) build -p o365-sim --bin o365-sim

test-fmt:
	@$(STEP) cargo-fmt $(CARGO) fmt --all -- --check --color=never

test-clippy:
	@$(STEP) cargo-clippy $(CARGO) clippy --workspace --all-targets $(CARGO_FEATURES) -- -D warnings

test-cargo:
	@$(STEP) cargo-test $(CARGO) test --workspace $(CARGO_FEATURES)

test-header: lib
	@$(STEP) header-check scripts/check-header.sh $(LIB)

test-c: $(C_TESTS) sim
	@$(STEP) c-harness $(VALGRIND) $(BUILD)/tests/c/test_abi
	@$(foreach t,$(C_SIM_TESTS),$(STEP) c-$(notdir $(t)) $(VALGRIND_SIM) $(t) &&) true

test-cpp: $(CPP_TESTS) sim
	@$(STEP) cpp-test_client $(VALGRIND) $(BUILD)/tests/cpp/test_client
	@$(foreach t,$(CPP_SIM_TESTS),$(STEP) cpp-$(notdir $(t)) $(VALGRIND_SIM) $(t) &&) true

test-php: lib sim
	@$(STEP) phpunit $(PHPUNIT_CMD)

# the link page in headless Chromium through the PHP example (screenshots: build/test-output/links/)
test-browser: lib sim
	@$(STEP) browser python3 tests/browser/test_link_page.py

test-summary:
	@scripts/summary.sh

# The binaries depend on `lib` (phony: cargo decides whether anything changed), so they are
# relinked on every run; that takes a second.
$(BUILD)/tests/c/%: tests/c/%.c $(wildcard tests/c/*.h) include/o365.h lib
	@mkdir -p $(@D)
	$(CC) -std=c11 $(CWARN) $(CFLAGS) $(CPPFLAGS) -o $@ $< $(LDLIBS)

$(BUILD)/tests/cpp/%: bindings/cpp/tests/%.cpp bindings/cpp/o365.hpp $(wildcard bindings/cpp/tests/*.hpp) include/o365.h lib
	@mkdir -p $(@D)
	$(CXX) -std=c++17 $(CWARN) $(CFLAGS) $(CPPFLAGS) $(NLOHMANN) -Ibindings/cpp -o $@ $< $(LDLIBS)

$(BUILD)/examples/%: examples/%.cpp bindings/cpp/o365.hpp include/o365.h lib
	@mkdir -p $(@D)
	$(CXX) -std=c++17 $(CWARN) $(CFLAGS) $(CPPFLAGS) -Ibindings/cpp -o $@ $< $(LDLIBS)

# ---- make demo ---------------------------------------------------------------------------

$(BUILD)/examples/demo: examples/demo.c include/o365.h lib
	@mkdir -p $(@D)
	$(CC) -std=c11 $(CWARN) $(CFLAGS) $(CPPFLAGS) -o $@ examples/demo.c $(LDLIBS)

# The main job end to end through the C ABI against o365-sim (the demo starts the sim binary).
demo: deps sim $(BUILD)/examples/demo
	@dir=$$(mktemp -d "$${TMPDIR:-/tmp}/o365-demo-XXXXXX"); \
	  $(BUILD)/examples/demo "$$dir/o365.db" "$(LIBDIR)/o365-sim"; rc=$$?; rm -rf "$$dir"; exit $$rc

# ---- make bench --------------------------------------------------------------------------

# scripts/bench.sh if there is one, else every scripts/bench_*.sh in turn, else cargo bench
bench:
	@if [ -x scripts/bench.sh ]; then scripts/bench.sh; \
	elif ls scripts/bench_*.sh >/dev/null 2>&1; then \
	  for b in scripts/bench_*.sh; do echo "==> $$b"; bash "$$b" || exit $$?; done; \
	else $(CARGO) bench --workspace; fi

clean:
	rm -rf $(BUILD)
