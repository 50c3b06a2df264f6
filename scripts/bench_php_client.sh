#!/usr/bin/env bash
# What a PHP request pays for its own O365\Client (PHP-FPM resets PHP state after every
# request, so each request loads the declarations and opens a client again): the
# declarations (FFI::cdef of o365_php.h), o365_client_new + free on an existing store with
# and without the background scheduler, and a first call. Release build of the library.
#   scripts/bench_php_client.sh [iterations]
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
PHP=${PHP:-php}
if [[ -z "${LIB:-}" ]]; then
    "$CARGO" build --release --quiet --lib
    LIB=target/release/libo365.so
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/o365-bench-php-XXXXXX")
trap 'rm -rf "$work"' EXIT
O365_LIB="$LIB" STORE="$work/o365.db" exec "$PHP" -d ffi.enable=1 -d memory_limit=512M \
    scripts/bench_php_client.php "${1:-300}"
