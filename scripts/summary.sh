#!/usr/bin/env bash
# Prints the closing lines of every test runner that `make test` ran (from build/logs), then
# one total line "total: N passed, N failed".
set -uo pipefail
logdir="${O365_LOG_DIR:-build/logs}"
total_p=0
total_f=0
echo "==> summary"
add() { total_p=$((total_p + $1)); total_f=$((total_f + $2)); }

if [[ -f "$logdir/cargo-test.log" ]]; then
    # "test result: ok. 12 passed; 0 failed; 1 ignored; ..." — one per test binary
    read -r p f < <(grep -E '^test result: ' "$logdir/cargo-test.log" |
        sed -E 's/.* ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/' |
        awk '{p+=$1; f+=$2} END {print p+0, f+0}')
    echo "cargo-test: $p passed, $f failed"
    add "$p" "$f"
fi
for log in "$logdir"/c-harness.log "$logdir"/c-test_*.log "$logdir"/cpp-*.log "$logdir"/browser.log "$logdir"/install.log "$logdir"/php-deploy.log; do
    [[ -f "$log" ]] || continue
    runner=$(basename "$log" .log)
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n1)
    if [[ -n "$line" ]]; then
        echo "$runner: $line"
        read -r p f < <(sed -E 's/^([0-9]+) passed, ([0-9]+) failed.*/\1 \2/' <<<"$line")
        add "$p" "$f"
    fi
done
if [[ -f "$logdir/phpunit.log" ]]; then
    line=$(grep -E '^(OK \(|Tests: )' "$logdir/phpunit.log" | tail -n1)
    if [[ -n "$line" ]]; then
        echo "phpunit: $line"
        if [[ "$line" =~ ^OK\ \(([0-9]+)\ test ]]; then
            add "${BASH_REMATCH[1]}" 0
        elif [[ "$line" =~ Tests:\ ([0-9]+) ]]; then
            t=${BASH_REMATCH[1]}
            fl=0
            [[ "$line" =~ Failures:\ ([0-9]+) ]] && fl=$((fl + BASH_REMATCH[1]))
            [[ "$line" =~ Errors:\ ([0-9]+) ]] && fl=$((fl + BASH_REMATCH[1]))
            add $((t - fl)) "$fl"
        fi
    fi
fi
echo "total: $total_p passed, $total_f failed"
