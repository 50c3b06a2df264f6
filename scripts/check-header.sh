#!/usr/bin/env bash
# Fails when the committed C header (include/o365.h) or the PHP declaration file
# (include/o365_php.h) is stale:
#   1. build.rs generates both into cargo's OUT_DIR on every build; the committed copies must
#      equal the newest generated ones (else: run `make header` and commit);
#   2. the set of o365_* functions declared in each header equals the set exported by the
#      shared library (nm -D), and the library exports nothing without the o365_ prefix;
#   3. o365_php.h has no preprocessor lines (PHP's FFI::cdef cannot take them).
# (The crate's own cargo test checks 1 as well; this script is the belt to its braces.)
#
#   scripts/check-header.sh [path/to/libo365.so]
set -euo pipefail
cd "$(dirname "$0")/.."
lib="${1:-${LIB:-target/debug/libo365.so}}"
fail=0
err() { echo "header check: $*" >&2; fail=1; }

profile_dir=$(dirname "$lib")
for h in o365.h o365_php.h; do
    [[ -f "include/$h" ]] || { err "include/$h is missing (run make header)"; continue; }
    # newest generated copy among the o365 build-script outputs of this profile
    gen=$(ls -t "$profile_dir"/build/o365-*/out/"$h" 2>/dev/null | head -n1 || true)
    if [[ -z "$gen" ]]; then
        err "no generated $h under $profile_dir/build/o365-*/out (build the library first)"
    elif ! cmp -s "$gen" "include/$h"; then
        err "include/$h is stale: it differs from the one build.rs generated ($gen)." \
            "Run \`make header\` and commit include/. Diff (committed vs generated):"
        diff -u "include/$h" "$gen" | head -n 40 >&2 || true
    fi
    if ! git ls-files --error-unmatch "include/$h" >/dev/null 2>&1; then
        err "include/$h is not committed (git add it)"
    fi
done

[[ -f "$lib" ]] || { err "library $lib not found (run make lib)"; exit 1; }

exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" && $3 ~ /^o365_/ {print $3}' | sort -u)
others=$(nm -D --defined-only "$lib" | awk '$2 == "T" && $3 !~ /^o365_/ {print $3}' | sort -u)
if [[ -n "$others" ]]; then
    err "the library exports functions without the o365_ prefix: $(echo $others | head -c 400)"
fi

declared() { # function names declared in a header
    # drop comments, then find identifiers o365_xxx followed by "("
    sed -e 's://.*$::' "$1" | perl -0pe 's:/\*.*?\*/::gs' |
        grep -oE '\bo365_[A-Za-z0-9_]+[[:space:]]*\(' | sed -E 's/[[:space:]]*\($//' | sort -u
}

for h in include/o365.h include/o365_php.h; do
    [[ -f "$h" ]] || continue
    d=$(declared "$h")
    missing=$(comm -23 <(echo "$exported") <(echo "$d") | tr '\n' ' ')
    extra=$(comm -13 <(echo "$exported") <(echo "$d") | tr '\n' ' ')
    [[ -z "${missing// /}" ]] || err "$h does not declare exported functions: $missing"
    [[ -z "${extra// /}" ]] || err "$h declares functions the library does not export: $extra"
done

# (#define FFI_SCOPE / FFI_LIB are understood by FFI::load and stripped by our PHP loader)
if [[ -f include/o365_php.h ]] &&
    grep -E '^[[:space:]]*#' include/o365_php.h | grep -vqE '^[[:space:]]*#[[:space:]]*define[[:space:]]+FFI_(SCOPE|LIB)[[:space:]]'; then
    err "include/o365_php.h has preprocessor lines (FFI::cdef rejects them):"
    grep -nE '^[[:space:]]*#' include/o365_php.h | head -n 5 >&2
fi

if ((fail)); then
    exit 1
fi
echo "header check: include/o365.h and include/o365_php.h are current" \
     "($(echo "$exported" | wc -l) exported functions)"
