#!/usr/bin/env bash
# The PHP binding deployed the way PHP teams deploy (part of `make test`, alone:
# `make test-php-deploy`):
#   1. Composer: a temporary project requires "o365/o365" from a "path" repository (a copy
#      of this repository's files, installed as a real copy under vendor/, packagist off,
#      no network); a script using vendor/autoload.php finds the declarations inside
#      vendor/o365/o365 (no O365_PHP_HEADER) and the library through the constructor
#      argument, O365_LIB, the system library path (LD_LIBRARY_PATH -> libo365.so.<ABI>)
#      and pkg-config (PKG_CONFIG_PATH of a `make install PREFIX=<tmp>`), and makes a call;
#      without any of them it fails with LoadException.
#   2. opcache preload under php-cgi (a non-CLI SAPI, where ffi.enable=preload really
#      restricts FFI to preloaded code): a preload script calls O365\Library::preload(), the
#      request script creates a Client and makes calls; the same request without the preload
#      is refused with LoadException.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
PHP="${PHP:-php}"
PHP_CGI="${PHP_CGI:-php-cgi}"
lib="${LIB:-$repo/target/debug/libo365.so}"
export PROFILE="${PROFILE:-debug}"
. scripts/test_support.sh php-deploy
# nothing from the developer's environment decides where the library or header come from
unset O365_LIB O365_PHP_HEADER PKG_CONFIG_PATH LD_LIBRARY_PATH

# ---- 1. Composer --------------------------------------------------------------------------
# the package as Composer would download it: the repository's files (not target/ or build/)
pkg="$work/o365-package"
mkdir -p "$pkg"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [[ -e "$f" ]] || continue
    mkdir -p "$pkg/$(dirname "$f")"
    cp -p "$f" "$pkg/$f"
done
app="$work/app"
mkdir -p "$app"
cat >"$app/composer.json" <<JSON
{
    "name": "crm/app",
    "type": "project",
    "require": {"o365/o365": "*"},
    "repositories": [
        {"type": "path", "url": "$pkg",
         "options": {"symlink": false, "versions": {"o365/o365": "0.1.0"}}},
        {"packagist.org": false}
    ]
}
JSON
if (cd "$app" && COMPOSER_HOME="$work/composer-home" COMPOSER_DISABLE_NETWORK=1 \
    composer install --no-interaction --no-progress >"$work/composer.log" 2>&1); then
    ok "composer install (path repository, packagist off, no network)"
else
    cat "$work/composer.log"
    not_ok "composer install"
    finish
fi
vendored="$app/vendor/o365/o365"
[[ -d "$vendored" && ! -L "$vendored" && -f "$vendored/include/o365_php.h" ]] &&
    ok "vendor/o365/o365 is a copy of the package, with include/o365_php.h" ||
    not_ok "vendor/o365/o365 is a copy of the package"

cat >"$app/use.php" <<'PHP'
<?php
require __DIR__ . '/vendor/autoload.php';
$path = $argv[2] ?? null;
try {
    $client = new O365\Client(['store' => $argv[1], 'sync' => ['scheduler' => false]], $path);
} catch (O365\LoadException $e) {
    echo 'LoadException: ', $e->getMessage(), "\n";
    exit(3);
}
$header = O365\Library::headerPath();
if (strpos($header, __DIR__ . '/vendor/o365/o365/') !== 0) {
    echo "declarations from $header, not from vendor/\n";
    exit(4);
}
echo json_encode($client->listMailboxes()), ' ', count($client->warnings()), " warning(s)\n";
PHP
run_app() { # run_app <description> <expected rc> <env...> -- <php args...>
    local what="$1" want="$2"
    shift 2
    local envs=()
    while [[ "$1" != "--" ]]; do envs+=("$1"); shift; done
    shift
    local out rc=0
    out=$(cd "$app" && env "${envs[@]}" "$PHP" -d ffi.enable=1 use.php "$@" 2>&1) || rc=$?
    if [[ "$rc" == "$want" ]] && { [[ "$want" != 0 ]] || [[ "$out" == '{"mailboxes":[]} 1 warning(s)' ]]; }; then
        ok "$what"
    else
        not_ok "$what (exit $rc)"
    fi
    echo "$out" | sed 's/^/#   /'
}
run_app "vendor/: the library from the constructor argument" 0 X=1 -- "$work/a.db" "$lib"
run_app "vendor/: the library from O365_LIB" 0 "O365_LIB=$lib" -- "$work/b.db"

# an installed library (make install into a temporary prefix, no ldconfig)
opt="$work/opt"
if make --no-print-directory install PREFIX="$opt" >"$work/install.log" 2>&1; then
    ok "make install PREFIX=<tmp> (PROFILE=$PROFILE)"
else
    cat "$work/install.log"
    not_ok "make install PREFIX=<tmp>"
    finish
fi
run_app "vendor/: without library path, env or pkg-config: LoadException naming libo365.so.$abi" 3 X=1 -- "$work/c.db"
run_app "vendor/: libo365.so.$abi from the system library path (LD_LIBRARY_PATH)" 0 \
    "LD_LIBRARY_PATH=$opt/lib" -- "$work/d.db"
run_app "vendor/: the library from pkg-config (PKG_CONFIG_PATH)" 0 \
    "PKG_CONFIG_PATH=$opt/lib/pkgconfig" -- "$work/e.db"

# ---- 2. opcache preload with ffi.enable=preload under php-cgi ----------------------------
cat >"$app/preload.php" <<'PHP'
<?php
require __DIR__ . '/vendor/autoload.php';
O365\Library::preload();
PHP
cat >"$app/request.php" <<'PHP'
<?php
// a request: no require of the binding, the classes and the declarations are preloaded
$client = new O365\Client(['store' => getenv('STORE'), 'sync' => ['scheduler' => false]]);
$box = $client->importMailbox(['address' => 'anna@contoso.example', 'users' => ['u1']]);
echo 'imported ', $box['address'], '; ', count($client->listMailboxes()['mailboxes']), " mailbox(es)\n";
PHP
if ! command -v "$PHP_CGI" >/dev/null; then
    not_ok "php-cgi is installed (scripts/deps.sh installs php-cgi)"
    finish
fi
user=$(id -un)
preload_args=(-d opcache.enable=1 -d opcache.preload="$app/preload.php" -d opcache.preload_user="$user"
    -d ffi.enable=preload)
out=$(cd "$app" && O365_LIB="$lib" STORE="$work/p.db" "$PHP_CGI" -q "${preload_args[@]}" -f request.php 2>&1) && rc=0 || rc=$?
[[ $rc == 0 && "$out" == "imported anna@contoso.example; 1 mailbox(es)" ]] &&
    ok "php-cgi, ffi.enable=preload, opcache.preload calling O365\\Library::preload(): a request uses the client" ||
    not_ok "php-cgi with preload (exit $rc)"
echo "$out" | sed 's/^/#   /'
cat >"$app/request-nopreload.php" <<'PHP'
<?php
require __DIR__ . '/vendor/autoload.php';
try {
    new O365\Client(['store' => getenv('STORE')]);
    echo "LOADED\n";
} catch (O365\LoadException $e) {
    echo 'LoadException: ', $e->getMessage(), "\n";
}
PHP
out=$(cd "$app" && O365_LIB="$lib" STORE="$work/q.db" "$PHP_CGI" -q -d ffi.enable=preload -f request-nopreload.php 2>&1) || true
[[ "$out" == *"LoadException"*"O365\\Library::preload()"* ]] &&
    ok "php-cgi, ffi.enable=preload without the preload: LoadException pointing to O365\\Library::preload()" ||
    not_ok "php-cgi without the preload is refused with the preload hint"
echo "$out" | sed 's/^/#   /'

finish
