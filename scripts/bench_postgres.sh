#!/usr/bin/env bash
# PostgreSQL benchmarks (issue 11), on a throwaway cluster (scripts/pg_cluster.sh; or the
# server in O365_TEST_PG_URL): the initial sync of the uneven 50,000-message mailbox into
# SQLite and into PostgreSQL back to back in one run (40 ms latency per request, wall time
# ratio), warm o365_list_folders on each store through the C ABI, and the event queue:
# 10,000 events from one producer process to 4 consumer processes on two "hosts"
# (exactly once, events/s, latency from publish to delivery). Release build. Extra arguments
# go to the sync bench, e.g.  scripts/bench_postgres.sh --sizes 50000,200000
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
"$CARGO" build --release --quiet -p o365-sim --bin o365-sim
"$CARGO" build --release --quiet -p o365 --lib --example bench_sync --example bench_events
exec scripts/pg_cluster.sh run bash -c '
    target/release/examples/bench_sync "$@" --sim target/release/o365-sim \
        --lib target/release/libo365.so --latency-ms 40 --sizes 50000 --layouts uneven \
        --stores sqlite,postgres --idle-mailboxes 0 &&
    target/release/examples/bench_events --events 10000 --consumers 4' bench "$@"
