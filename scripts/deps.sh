#!/usr/bin/env bash
# Checks the tools `make test` / `make demo` need; installs what is missing with apt-get when
# run as root on Debian/Ubuntu, otherwise prints exactly what is missing and exits non-zero.
#
#   scripts/deps.sh            check, install if root
#   scripts/deps.sh --check    check only (never installs)
set -euo pipefail

check_only=0
[[ "${1:-}" == "--check" ]] && check_only=1

missing_pkgs=()   # Debian packages to install
missing_desc=()   # human readable

need() { # need <description> <debian package>
    missing_desc+=("$1")
    missing_pkgs+=("$2")
}

probe() {
    missing_pkgs=()
    missing_desc=()
    command -v cc >/dev/null 2>&1 || need "cc (C compiler)" gcc
    command -v c++ >/dev/null 2>&1 || need "c++ (C++17 compiler)" g++
    command -v make >/dev/null 2>&1 || need "make" make
    command -v valgrind >/dev/null 2>&1 || need "valgrind" valgrind
    command -v git >/dev/null 2>&1 || need "git" git
    command -v curl >/dev/null 2>&1 || need "curl (sim-driven C++ tests)" curl
    # (php -m is read once into a variable: `php -m | grep -q` under pipefail fails at random
    # when grep exits early and php gets SIGPIPE)
    local mods=""
    if ! command -v php >/dev/null 2>&1; then
        need "php (CLI)" php-cli
    else
        mods=$(php -m 2>/dev/null || true)
        # Debian ships ffi.so in php<ver>-common; a missing module means a broken/partial install
        grep -qix 'ffi' <<<"$mods" || need "php FFI extension (php -m | grep -i ffi)" php-cli
        # phpunit needs these at run time (the Debian package pulls them in; a hand-installed
        # phpunit may lack them)
        grep -qix 'mbstring' <<<"$mods" || need "php mbstring extension" php-mbstring
        grep -qix 'dom' <<<"$mods" || need "php dom/xml extension" php-xml
    fi
    command -v phpunit >/dev/null 2>&1 || need "phpunit" phpunit
    # packaging and deployment tests (scripts/test_install.sh, scripts/test_php_deploy.sh)
    command -v composer >/dev/null 2>&1 || need "composer (PHP deployment test)" composer
    command -v php-cgi >/dev/null 2>&1 || need "php-cgi (opcache preload test under a non-CLI SAPI)" php-cgi
    command -v pkg-config >/dev/null 2>&1 || need "pkg-config (install test)" pkg-config
    command -v objcopy >/dev/null 2>&1 || need "objcopy/readelf (make install, install test)" binutils
    command -v dpkg-deb >/dev/null 2>&1 || need "dpkg-deb (make deb)" dpkg
    # header-only JSON library: the C++ test covers the wrapper's optional nlohmann overloads
    [[ -f /usr/include/nlohmann/json.hpp ]] || need "nlohmann/json.hpp (C++ test only)" nlohmann-json3-dev
    # the link page test drives Debian's headless Chromium over the DevTools protocol
    command -v chromium >/dev/null 2>&1 || need "chromium (headless browser test of the link page)" chromium
    # the PostgreSQL store tests start a throwaway server (scripts/pg_cluster.sh)
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1 ||
        need "PostgreSQL server (initdb, pg_ctl: PostgreSQL store tests)" postgresql
    # the throwaway server's TLS certificates (scripts/pg_cluster.sh; tests/pg_coord.rs)
    command -v openssl >/dev/null 2>&1 || need "openssl (TLS certificates of the PostgreSQL test server)" openssl
    if ! command -v python3 >/dev/null 2>&1; then
        need "python3" python3
        need "python3 venv" python3-venv
    elif ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        need "python3 venv (python3 -m venv)" python3-venv
    fi
    # scripts/check-schema.sh checks include/o365.schema.json as a draft 2020-12 schema; the PHP
    # and C++ JSON Schema validator tests ask it for a third opinion (tests/fixtures/schema_cases.py)
    if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import jsonschema; jsonschema.Draft202012Validator' >/dev/null 2>&1; then
        need "python3 jsonschema (schema check, validator cross-check)" python3-jsonschema
    fi
}

probe
if ((${#missing_pkgs[@]} == 0)); then
    # cargo is not installed from Debian (too old): only report it
    if ! command -v cargo >/dev/null 2>&1; then
        echo "deps: cargo not found: install the Rust toolchain with rustup (https://rustup.rs)" >&2
        exit 1
    fi
    echo "deps: ok (cc, c++, valgrind, php+FFI, phpunit, python3+venv+jsonschema, chromium, postgresql, openssl, cargo)"
    exit 0
fi

# unique package list, order kept
mapfile -t pkgs < <(printf '%s\n' "${missing_pkgs[@]}" | awk '!seen[$0]++')

echo "deps: missing:" >&2
printf '  - %s\n' "${missing_desc[@]}" >&2

if ((check_only)) || [[ "$(id -u)" != "0" ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "deps: install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${pkgs[*]}" >&2
    exit 1
fi

echo "deps: installing with apt-get: ${pkgs[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${pkgs[@]}"

probe
if ((${#missing_pkgs[@]} != 0)); then
    echo "deps: still missing after apt-get install:" >&2
    printf '  - %s\n' "${missing_desc[@]}" >&2
    exit 1
fi
command -v cargo >/dev/null 2>&1 || {
    echo "deps: cargo not found: install the Rust toolchain with rustup (https://rustup.rs)" >&2
    exit 1
}
echo "deps: ok"
