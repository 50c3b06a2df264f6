#!/usr/bin/env bash
# Sync benchmark (issue 5): initial sync of 50,000 messages in 12 folders against o365-sim
# with 40 ms latency per request, then warm o365_list_folders through the C ABI.
# Release build; the sim runs as a separate process. Extra arguments go to the bench, e.g.
#   scripts/bench_sync.sh --messages 20000 --latency-ms 20
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
"$CARGO" build --release --quiet -p o365-sim --bin o365-sim
"$CARGO" build --release --quiet -p o365 --example bench_sync
exec target/release/examples/bench_sync --sim target/release/o365-sim \
    --messages 50000 --folders 12 --latency-ms 40 "$@"
