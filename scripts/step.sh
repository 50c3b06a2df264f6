#!/usr/bin/env bash
# Runs one step of `make test`, keeps its output in build/logs/<name>.log, and on failure
# prints one clear line naming the step.
#
#   scripts/step.sh <name> <command> [args...]
set -uo pipefail
name="$1"
shift
logdir="${O365_LOG_DIR:-build/logs}"
mkdir -p "$logdir"
log="$logdir/$name.log"
echo "==> [$name] $*"
start=$(date +%s)
"$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
secs=$(( $(date +%s) - start ))
if ((rc != 0)); then
    echo "make test: FAILED at step '$name' (exit $rc, ${secs}s): $*  [log: $log]"
    exit "$rc"
fi
echo "==> [$name] ok (${secs}s)"
