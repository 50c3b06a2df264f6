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
    if ! command -v php >/dev/null 2>&1; then
        need "php (CLI)" php-cli
    elif ! php -m 2>/dev/null | grep -qi '^ffi$'; then
        # Debian ships ffi.so in php<ver>-common; a missing module means a broken/partial install
        need "php FFI extension (php -m | grep -i ffi)" php-cli
    fi
    command -v phpunit >/dev/null 2>&1 || need "phpunit" phpunit
    # phpunit on Debian needs these extensions at run time (they come with the package, but a
    # hand-installed phpunit may lack them)
    if command -v php >/dev/null 2>&1; then
        php -m 2>/dev/null | grep -qi '^mbstring$' || need "php mbstring extension" php-mbstring
        php -m 2>/dev/null | grep -qi '^dom$' || need "php dom/xml extension" php-xml
    fi
    # header-only JSON library: the C++ test covers the wrapper's optional nlohmann overloads
    [[ -f /usr/include/nlohmann/json.hpp ]] || need "nlohmann/json.hpp (C++ test only)" nlohmann-json3-dev
    if ! command -v python3 >/dev/null 2>&1; then
        need "python3" python3
        need "python3 venv" python3-venv
    else
        local t
        t=$(mktemp -d)
        if ! python3 -m venv "$t/v" >/dev/null 2>&1; then
            need "python3 venv (python3 -m venv)" python3-venv
        fi
        rm -rf "$t"
    fi
}

probe
if ((${#missing_pkgs[@]} == 0)); then
    # cargo is not installed from Debian (too old): only report it
    if ! command -v cargo >/dev/null 2>&1; then
        echo "deps: cargo not found: install the Rust toolchain with rustup (https://rustup.rs)" >&2
        exit 1
    fi
    echo "deps: ok (cc, c++, valgrind, php+FFI, phpunit, python3+venv, cargo)"
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
