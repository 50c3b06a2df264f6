# o365 — top-level commands.
#
#   make deps    check (and, as root on Debian, install) cc, c++, valgrind, php+FFI, phpunit, python3+venv,
#                postgresql
#   make lib     build target/debug/libo365.so (dev profile)
#   make header  regenerate include/o365.h and include/o365_php.h (commit them)
#   make schema  regenerate include/o365.schema.json from src/service/contract.rs (commit it)
#   make test    everything, stopping at the first failure:
#                cargo fmt --check, cargo clippy -D warnings, cargo test --workspace (incl. the
#                simulator), header staleness check, C harness under valgrind, C++ test under
#                valgrind, PHPUnit; ends with each runner's summary and a total line. Runs
#                with a throwaway PostgreSQL (scripts/pg_cluster.sh run) for the PostgreSQL
#                store tests, or the server in O365_TEST_PG_URL
#   make demo    the main job end to end (examples/demo.c) against o365-sim on a temporary store
#   make demo-postgres  the same with two hosts (two processes) on a throwaway PostgreSQL
#   make bench   benchmarks (scripts/bench.sh, else scripts/bench_*.sh, else cargo bench)
#   make install PREFIX=/usr/local DESTDIR=   stripped release library with soname and symlinks,
#                headers, o365.pc, the PHP binding, licences; debug info in lib/debug
#   make deb     build/deb/libo365_<version>_<arch>.deb (+ libo365-dbg) with dpkg-deb
#
# Pieces: test-fmt test-imports test-clippy test-cargo test-header test-schema test-c test-cpp test-php
#         test-install test-php-deploy
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
C_SIM_TESTS   := $(filter-out $(BUILD)/tests/c/test_abi $(BUILD)/tests/c/test_pg,$(C_TESTS))
# the C test of the PostgreSQL store: inside scripts/pg_cluster.sh run (the server of
# O365_TEST_PG_URL when set, as in `make test`, else a throwaway cluster)
C_PG_TEST     := $(BUILD)/tests/c/test_pg
# C++ tests: test_client (no network) plus the ones that drive the o365-sim binary
CPP_TESTS     := $(patsubst bindings/cpp/tests/%.cpp,$(BUILD)/tests/cpp/%,$(wildcard bindings/cpp/tests/test_*.cpp))
CPP_SIM_TESTS := $(filter-out $(BUILD)/tests/cpp/test_client $(BUILD)/tests/cpp/test_pg,$(CPP_TESTS))
CPP_PG_TEST   := $(BUILD)/tests/cpp/test_pg
CPP_EXAMPLES  := $(patsubst examples/%.cpp,$(BUILD)/examples/%,$(wildcard examples/*.cpp))
# valgrind for the sim-driven C and C++ tests too (slower: set VALGRIND_SIM= to run them natively)
VALGRIND_SIM ?= $(VALGRIND)
PHPUNIT_CMD = $(PHP) -d ffi.enable=1 -d memory_limit=512M $$(command -v $(PHPUNIT)) \
              --colors=never -c bindings/php/phpunit.xml

.PHONY: help deps lib header schema test-schema sim binaries test test-steps demo demo-postgres bench clean \
        test-fmt test-clippy test-cargo test-header test-c test-cpp test-php test-summary \
        dist install deb test-install test-php-deploy

help:
	@sed -n '3,23p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@scripts/deps.sh

lib:
	$(CARGO) build --lib $(CARGO_FEATURES)
	@test -f $(LIB) || { echo "make lib: $(LIB) was not produced"; exit 1; }
	@# programs linked here record the soname; let the loader find it beside the build
	@ln -sf libo365.so $(LIBDIR)/$(SONAME)
	@echo "LIB=$(LIB)"

# Regenerates include/o365.schema.json from the contract registry (src/service/contract.rs).
schema:
	O365_BLESS=1 $(CARGO) test --test schema committed_schema_is_current
	@git --no-pager diff --stat -- include/ || true

# Regenerates include/o365.h and include/o365_php.h from src/ffi (cbindgen, via build.rs).
header:
	O365_UPDATE_HEADER=1 $(CARGO) build --lib $(CARGO_FEATURES)
	@git --no-pager diff --stat -- include/ || true

# ---- make test ---------------------------------------------------------------------------

# The whole run has a throwaway PostgreSQL (scripts/pg_cluster.sh: initdb in a temporary
# directory, loopback only) for the PostgreSQL store tests, stopped at the end, also when a
# step fails. With O365_TEST_PG_URL set, that server is used instead.
test: deps
	@scripts/pg_cluster.sh run $(MAKE) --no-print-directory test-steps

test-steps:
	@rm -rf $(BUILD)/logs
	@$(STEP) cargo-fmt $(CARGO) fmt --all -- --check --color=never
	@$(STEP) import-check scripts/check_imports.py --self-test
	@$(STEP) cargo-clippy $(CARGO) clippy --workspace --all-targets $(CARGO_FEATURES) -- -D warnings
	@$(STEP) cargo-test $(CARGO) test --workspace $(CARGO_FEATURES)
	@$(STEP) build $(MAKE) --no-print-directory binaries
	@$(STEP) header-check scripts/check-header.sh $(LIB)
	@$(STEP) schema-check scripts/check-schema.sh
	@$(STEP) c-harness $(VALGRIND) $(BUILD)/tests/c/test_abi
	@$(foreach t,$(C_SIM_TESTS),$(STEP) c-$(notdir $(t)) $(VALGRIND_SIM) $(t) &&) true
	@$(STEP) c-test_pg scripts/pg_cluster.sh run $(VALGRIND) $(C_PG_TEST)
	@$(STEP) cpp-test_client $(VALGRIND) $(BUILD)/tests/cpp/test_client
	@$(foreach t,$(CPP_SIM_TESTS),$(STEP) cpp-$(notdir $(t)) $(VALGRIND_SIM) $(t) &&) true
	@$(STEP) cpp-test_pg scripts/pg_cluster.sh run $(VALGRIND) $(CPP_PG_TEST)
	@$(STEP) phpunit scripts/pg_cluster.sh run $(PHPUNIT_CMD)
	@$(STEP) browser python3 tests/browser/test_link_page.py
	@$(STEP) install scripts/test_install.sh
	@$(STEP) php-deploy scripts/test_php_deploy.sh
	@scripts/summary.sh

binaries: lib sim $(C_TESTS) $(CPP_TESTS) $(BUILD)/examples/demo $(CPP_EXAMPLES)

# the emulator binary (target/debug/o365-sim) that the sim-driven PHP and C++ tests start
sim:
	$(CARGO) build -p o365-sim --bin o365-sim

test-fmt:
	@$(STEP) cargo-fmt $(CARGO) fmt --all -- --check --color=never

test-imports:
	@$(STEP) import-check scripts/check_imports.py --self-test

test-clippy:
	@$(STEP) cargo-clippy $(CARGO) clippy --workspace --all-targets $(CARGO_FEATURES) -- -D warnings

test-cargo:
	@$(STEP) cargo-test scripts/pg_cluster.sh run $(CARGO) test --workspace $(CARGO_FEATURES)

test-header: lib
	@$(STEP) header-check scripts/check-header.sh $(LIB)

test-schema:
	@$(STEP) schema-check scripts/check-schema.sh

test-c: $(C_TESTS) sim
	@$(STEP) c-harness $(VALGRIND) $(BUILD)/tests/c/test_abi
	@$(foreach t,$(C_SIM_TESTS),$(STEP) c-$(notdir $(t)) $(VALGRIND_SIM) $(t) &&) true
	@$(STEP) c-test_pg scripts/pg_cluster.sh run $(VALGRIND) $(C_PG_TEST)

test-cpp: $(CPP_TESTS) sim
	@$(STEP) cpp-test_client $(VALGRIND) $(BUILD)/tests/cpp/test_client
	@$(foreach t,$(CPP_SIM_TESTS),$(STEP) cpp-$(notdir $(t)) $(VALGRIND_SIM) $(t) &&) true
	@$(STEP) cpp-test_pg scripts/pg_cluster.sh run $(VALGRIND) $(CPP_PG_TEST)

test-php: lib sim
	@$(STEP) phpunit scripts/pg_cluster.sh run $(PHPUNIT_CMD)

# the link page in headless Chromium through the PHP example (screenshots: build/test-output/links/)
test-browser: lib sim
	@$(STEP) browser python3 tests/browser/test_link_page.py

test-summary:
	@scripts/summary.sh

# make install + make deb into temporary roots, then a C program built with pkg-config
# (uses the debug build, stripped like a release: see scripts/test_install.sh)
test-install: lib
	@$(STEP) install scripts/test_install.sh

# Composer from a temporary project's vendor/, library lookup (argument, O365_LIB, library
# path, pkg-config), opcache preload under php-cgi with ffi.enable=preload
test-php-deploy: lib
	@$(STEP) php-deploy scripts/test_php_deploy.sh

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

# The same demo with two hosts (two processes that share only the store URL) on a throwaway
# PostgreSQL (scripts/pg_cluster.sh run; the server of O365_TEST_PG_URL when set, in a schema
# of this run's own).
# Runs in a temporary working directory (removed afterwards): files the store keeps on disk
# stay out of the tree.
demo-postgres: deps sim $(BUILD)/examples/demo
	@scripts/pg_cluster.sh run bash -c 'u=$$O365_TEST_PG_URL; case $$u in *\?*) u="$$u&";; *) u="$$u?";; esac; \
	  dir=$$(mktemp -d "$${TMPDIR:-/tmp}/o365-demo-XXXXXX"); cd "$$dir"; \
	  "$(CURDIR)/$(BUILD)/examples/demo" --hosts 2 "$${u}schema=o365_demo_$$$$" "$(LIBDIR)/o365-sim"; \
	  rc=$$?; cd /; rm -rf "$$dir"; exit $$rc'

# ---- make bench --------------------------------------------------------------------------

# scripts/bench.sh if there is one, else every scripts/bench_*.sh in turn, else cargo bench
bench:
	@if [ -x scripts/bench.sh ]; then scripts/bench.sh; \
	elif ls scripts/bench_*.sh >/dev/null 2>&1; then \
	  for b in scripts/bench_*.sh; do echo "==> $$b"; bash "$$b" || exit $$?; done; \
	else $(CARGO) bench --workspace; fi

# ---- make install / make deb ------------------------------------------------------------
#
# The soname is libo365.so.<O365_ABI_VERSION> (build.rs); the file is
# libo365.so.<ABI>.<crate version>, with libo365.so.<ABI> and libo365.so symlinks.
# PROFILE=release (default) builds with cargo --release; PROFILE=debug packages target/debug
# (the install test uses that to avoid a release build; both are stripped the same way).

PREFIX     ?= /usr/local
DESTDIR    ?=
libdir     ?= $(PREFIX)/lib
includedir ?= $(PREFIX)/include
datadir    ?= $(PREFIX)/share
docdir     ?= $(datadir)/doc/o365
# the PHP binding (O365\ classes, autoload.php, its own copy of o365_php.h)
phpdir     ?= $(datadir)/php/o365
# separate debug info, where gdb looks for it: <debug-file-directory><libdir>/<file>.debug
debugdir   ?= $(PREFIX)/lib/debug
PROFILE    ?= release

ABI      := $(shell sed -n 's/^\#define O365_ABI_VERSION \([0-9][0-9]*\).*/\1/p' include/o365.h)
VERSION  := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
SONAME   := libo365.so.$(ABI)
REALNAME := libo365.so.$(ABI).$(VERSION)
DIST     := $(BUILD)/dist/$(PROFILE)
PROFILE_FLAG := $(if $(filter release,$(PROFILE)),--release)

# the stripped library and its debug file (objcopy --only-keep-debug / --add-gnu-debuglink)
dist:
	$(CARGO) build --lib $(PROFILE_FLAG) $(CARGO_FEATURES)
	@mkdir -p $(DIST)
	objcopy --only-keep-debug --compress-debug-sections target/$(PROFILE)/libo365.so $(DIST)/$(REALNAME).debug
	cd $(DIST) && objcopy --strip-debug --strip-unneeded --add-gnu-debuglink=$(REALNAME).debug \
	  $(CURDIR)/target/$(PROFILE)/libo365.so $(REALNAME)
	@sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(libdir)|; s|@INCLUDEDIR@|$(includedir)|; s|@VERSION@|$(VERSION)|' \
	  o365.pc.in > $(DIST)/o365.pc
	@ls -l $(DIST)

install: dist
	install -d $(DESTDIR)$(libdir)/pkgconfig $(DESTDIR)$(includedir) $(DESTDIR)$(docdir) \
	  $(DESTDIR)$(phpdir)/src $(DESTDIR)$(phpdir)/include $(DESTDIR)$(debugdir)$(libdir)
	install -m 0644 $(DIST)/$(REALNAME) $(DESTDIR)$(libdir)/$(REALNAME)
	ln -sf $(REALNAME) $(DESTDIR)$(libdir)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(libdir)/libo365.so
	install -m 0644 $(DIST)/$(REALNAME).debug $(DESTDIR)$(debugdir)$(libdir)/$(REALNAME).debug
	install -m 0644 $(DIST)/o365.pc $(DESTDIR)$(libdir)/pkgconfig/o365.pc
	install -m 0644 include/o365.h include/o365_php.h $(DESTDIR)$(includedir)/
	install -m 0644 bindings/php/src/*.php $(DESTDIR)$(phpdir)/src/
	install -m 0644 bindings/php/autoload.php $(DESTDIR)$(phpdir)/
	install -m 0644 include/o365_php.h $(DESTDIR)$(phpdir)/include/
	install -m 0644 LICENSE-MIT LICENSE-APACHE CHANGELOG.md README.md $(DESTDIR)$(docdir)/

DEB_ARCH       := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB_MULTIARCH  := $(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || $(CC) -print-multiarch 2>/dev/null)
DEB_MAINTAINER ?= o365 developers <o365@example.invalid>
DEB_DIR        := $(BUILD)/deb
DEB            := $(DEB_DIR)/libo365_$(VERSION)_$(DEB_ARCH).deb
DEB_DBG        := $(DEB_DIR)/libo365-dbg_$(VERSION)_$(DEB_ARCH).deb

# libo365 (library, headers, o365.pc, PHP binding under /usr/share/php/o365, docs) and
# libo365-dbg (the debug info under /usr/lib/debug), built from a staged DESTDIR with dpkg-deb
deb:
	@rm -rf $(DEB_DIR)/root $(DEB_DIR)/dbg
	$(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/$(DEB_DIR)/root PREFIX=/usr \
	  libdir=/usr/lib/$(DEB_MULTIARCH) docdir=/usr/share/doc/libo365 debugdir=/usr/lib/debug
	@mkdir -p $(DEB_DIR)/dbg/usr/lib && mv $(DEB_DIR)/root/usr/lib/debug $(DEB_DIR)/dbg/usr/lib/
	@scripts/deb_control.sh $(DEB_DIR)/root libo365 "$(VERSION)" "$(DEB_ARCH)" "$(DEB_MAINTAINER)" "$(SONAME)"
	@scripts/deb_control.sh $(DEB_DIR)/dbg libo365-dbg "$(VERSION)" "$(DEB_ARCH)" "$(DEB_MAINTAINER)" "$(SONAME)"
	dpkg-deb --root-owner-group --build $(DEB_DIR)/root $(DEB)
	dpkg-deb --root-owner-group --build $(DEB_DIR)/dbg $(DEB_DBG)

clean:
	rm -rf $(BUILD)
