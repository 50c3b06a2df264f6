#!/usr/bin/env bash
# Emulator benchmark (issue 3): seeding speed and requests per second of o365-sim on
# loopback (release build). Extra arguments go to the bench example.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
exec "$CARGO" run --release --quiet -p o365-sim --example bench -- "$@"
