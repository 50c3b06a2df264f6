#!/usr/bin/env bash
# Sync benchmark (issues 5 and 13) against o365-sim at 40 ms latency per request: initial
# sync of an uneven and an even 12-folder mailbox at 50,000 and 200,000 messages (T_lb and
# ratio, CPU per 1,000 messages for the library and the sim, peak RSS, requests, 429s),
# warm o365_list_folders from C and from PHP next to json_decode, and one scheduler round
# over 1,000 idle mailboxes; first the store's message write path alone (bench_store).
# Release build; the sim runs as a separate process. Extra arguments go to the bench, e.g.
#   scripts/bench_sync.sh --sizes 50000 --idle-mailboxes 200
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
"$CARGO" build --release --quiet -p o365-sim --bin o365-sim
"$CARGO" build --release --quiet -p o365 --lib --example bench_sync --example bench_store
# The message cache's write path alone (the SQLite write lane of the sync).
target/release/examples/bench_store
PHP_ARGS=()
if command -v php >/dev/null 2>&1; then PHP_ARGS=(--php "$(command -v php)"); fi
exec target/release/examples/bench_sync --sim target/release/o365-sim \
    --lib target/release/libo365.so --latency-ms 40 "${PHP_ARGS[@]}" "$@"
