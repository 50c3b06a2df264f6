# Sourced by scripts/test_install.sh and scripts/test_php_deploy.sh: the ABI number, a
# temporary directory removed on exit ($work), and TAP-like ok / not_ok lines ending with
# "N passed, N failed" (the line scripts/summary.sh reads).
#   . scripts/test_support.sh <name for the temporary directory>
abi=$(sed -n 's/^#define O365_ABI_VERSION \([0-9][0-9]*\).*/\1/p' include/o365.h)
work=$(mktemp -d "${TMPDIR:-/tmp}/o365-$1-XXXXXX")
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $*"; failed=$((failed + 1)); }
finish() {
    echo "$passed passed, $failed failed"
    ((failed == 0))
}
