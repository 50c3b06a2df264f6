#!/usr/bin/env bash
# The library as a packaged C library (part of `make test`, alone: `make test-install`):
#   1. `make install DESTDIR=<tmp> PREFIX=/usr/local`: files, symlinks, SONAME, stripped
#      library with a .gnu_debuglink to its separate debug file (same build id);
#      tests/install/hello.c built with `pkg-config --cflags --libs o365`
#      (PKG_CONFIG_PATH/PKG_CONFIG_SYSROOT_DIR into the temporary root), NEEDED checked, run.
#   2. `make deb`: dpkg-deb --info/--contents of libo365 and libo365-dbg, the package
#      unpacked with dpkg -x into a temporary root, the same C program built and run.
#
# PROFILE=debug (default here) packages target/debug: `make install` strips it and splits
# its debug info exactly like a release build, and a release build of the library takes
# minutes on the 2-core CI machine. `make install` / `make deb` themselves default to
# PROFILE=release.
set -euo pipefail
cd "$(dirname "$0")/.."
export PROFILE="${PROFILE:-debug}"
MAKE="${MAKE:-make}"
CC="${CC:-cc}"

. scripts/test_support.sh install
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
soname="libo365.so.$abi"
real="$soname.$version"
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || "$CC" -print-multiarch)
arch=$(dpkg --print-architecture)

check() { # check <description> <command...>
    local what="$1"
    shift
    if "$@" >/dev/null 2>&1; then ok "$what"; else not_ok "$what"; fi
}

# the dynamic section entries of one kind, e.g. dyn SONAME file -> "libo365.so.1"
dyn() { readelf -d "$2" | sed -n "s/.*($1).*\[\(.*\)\]/\1/p"; }
sections() { readelf -S -W "$1" | sed -n 's/^ *\[ *[0-9]*\] \([^ ]*\) .*/\1/p'; }
build_id() { readelf -n "$1" | sed -n 's/.*Build ID: *\([0-9a-f]*\).*/\1/p'; }

# link_and_run <root> <libdir in the root>: the C program built with pkg-config only
link_and_run() {
    local root="$1" libdir="$2" tag="$3"
    local flags
    flags=$(PKG_CONFIG_LIBDIR="$root$libdir/pkgconfig" PKG_CONFIG_PATH="" \
        PKG_CONFIG_SYSROOT_DIR="$root" PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 \
        PKG_CONFIG_ALLOW_SYSTEM_LIBS=1 pkg-config --cflags --libs o365) ||
        { not_ok "$tag: pkg-config --cflags --libs o365"; return; }
    echo "# $tag: pkg-config --cflags --libs o365 = $flags"
    [[ "$flags" == *"-I$root/"* && "$flags" == *"-L$root$libdir"* && "$flags" == *"-lo365"* ]] &&
        ok "$tag: pkg-config points into the installed root" ||
        not_ok "$tag: pkg-config points into the installed root ($flags)"
    local modversion
    modversion=$(PKG_CONFIG_LIBDIR="$root$libdir/pkgconfig" PKG_CONFIG_PATH="" pkg-config --modversion o365)
    [[ "$modversion" == "$version" ]] && ok "$tag: pkg-config --modversion = $version" ||
        not_ok "$tag: pkg-config --modversion is '$modversion', not $version"
    local exe="$work/hello-$tag"
    # shellcheck disable=SC2086 # the flags are words
    if ! "$CC" -std=c11 -Wall -Wextra -Werror -o "$exe" tests/install/hello.c $flags; then
        not_ok "$tag: the C program compiles and links with pkg-config's flags"
        return
    fi
    ok "$tag: the C program compiles and links with pkg-config's flags"
    local needed
    needed=$(dyn NEEDED "$exe" | grep o365 || true)
    [[ "$needed" == "$soname" ]] && ok "$tag: the program records NEEDED $soname" ||
        not_ok "$tag: the program records NEEDED '$needed', not $soname"
    local resolved
    resolved=$(LD_LIBRARY_PATH="$root$libdir" ldd "$exe" | awk '/libo365/ {print $3}')
    [[ "$resolved" == "$root$libdir/$soname" ]] && ok "$tag: the loader picks the installed $soname" ||
        not_ok "$tag: the loader picks '$resolved', not $root$libdir/$soname"
    local out
    if out=$(LD_LIBRARY_PATH="$root$libdir" "$exe" "$work/store-$tag.db" 2>&1) && [[ "$out" == *$'\nok' ]]; then
        ok "$tag: the program runs: o365_version, o365_abi_version, a client on a temporary store"
        echo "$out" | sed 's/^/#   /'
    else
        not_ok "$tag: the program runs"
        echo "$out" | sed 's/^/#   /'
    fi
}

# ---- 1. make install --------------------------------------------------------------------
root="$work/root"
if ! "$MAKE" --no-print-directory install PREFIX=/usr/local DESTDIR="$root" >"$work/install.log" 2>&1; then
    cat "$work/install.log"
    not_ok "make install PREFIX=/usr/local DESTDIR=$root"
    finish
fi
ok "make install PREFIX=/usr/local DESTDIR=<tmp> (PROFILE=$PROFILE)"
lib="$root/usr/local/lib"
check "the library file $real" test -f "$lib/$real" -a ! -L "$lib/$real"
check "$soname -> $real" test "$(readlink "$lib/$soname")" = "$real"
check "libo365.so -> $soname" test "$(readlink "$lib/libo365.so")" = "$soname"
for f in include/o365.h include/o365_php.h lib/pkgconfig/o365.pc \
    share/php/o365/autoload.php share/php/o365/src/Client.php share/php/o365/src/Library.php \
    share/php/o365/include/o365_php.h share/doc/o365/LICENSE-MIT share/doc/o365/LICENSE-APACHE \
    share/doc/o365/CHANGELOG.md "lib/debug/usr/local/lib/$real.debug"; do
    check "installs $f" test -s "$root/usr/local/$f"
done
so=$(dyn SONAME "$lib/$real")
[[ "$so" == "$soname" ]] && ok "readelf: SONAME [$soname]" || not_ok "readelf: SONAME is '$so', not $soname"
secs=$(sections "$lib/$real")
grep -qx '.debug_info' <<<"$secs" && not_ok "the installed library is stripped (.debug_info present)" ||
    ok "the installed library is stripped (no .debug_info)"
grep -qx '.symtab' <<<"$secs" && not_ok "the installed library has no .symtab" ||
    ok "the installed library has no .symtab"
link=$(readelf --string-dump=.gnu_debuglink "$lib/$real" 2>/dev/null | sed -n 's/.*\] *\(libo365[^ ]*\.debug\).*/\1/p')
[[ "$link" == "$real.debug" ]] && ok ".gnu_debuglink names $real.debug" ||
    not_ok ".gnu_debuglink names '$link', not $real.debug"
dbg="$root/usr/local/lib/debug/usr/local/lib/$real.debug"
grep -qx '.debug_info' <<<"$(sections "$dbg")" && ok "the debug file holds .debug_info" ||
    not_ok "the debug file holds .debug_info"
[[ -n "$(build_id "$lib/$real")" && "$(build_id "$lib/$real")" == "$(build_id "$dbg")" ]] &&
    ok "library and debug file share the build id" || not_ok "library and debug file share the build id"
exports=$(readelf --dyn-syms -W "$lib/$real" | awk '$7 != "UND" && $8 ~ /^o365_/ {print $8}' | sort -u | wc -l)
((exports > 20)) && ok "the stripped library still exports the o365_* functions ($exports)" ||
    not_ok "the stripped library exports only $exports o365_* functions"
link_and_run "$root" /usr/local/lib install

# ---- 2. make deb ------------------------------------------------------------------------
if ! "$MAKE" --no-print-directory deb >"$work/deb.log" 2>&1; then
    cat "$work/deb.log"
    not_ok "make deb"
    finish
fi
deb="build/deb/libo365_${version}_${arch}.deb"
debdbg="build/deb/libo365-dbg_${version}_${arch}.deb"
check "make deb builds $deb" test -s "$deb"
check "make deb builds $debdbg" test -s "$debdbg"
info=$(dpkg-deb --info "$deb")
echo "$info" | sed -n '/Package:/,$p' | sed 's/^/#   /'
for field in "Package: libo365" "Version: $version" "Architecture: $arch"; do
    grep -q "^ $field\$" <<<"$info" && ok "dpkg-deb --info: $field" || not_ok "dpkg-deb --info: $field"
done
grep -Eq '^ Depends: .*libc6' <<<"$info" && ok "dpkg-deb --info: Depends names libc6" ||
    not_ok "dpkg-deb --info: Depends names libc6"
contents=$(dpkg-deb --contents "$deb")
for f in "./usr/lib/$multiarch/$real" "./usr/lib/$multiarch/$soname -> $real" \
    "./usr/lib/$multiarch/libo365.so -> $soname" "./usr/lib/$multiarch/pkgconfig/o365.pc" \
    ./usr/include/o365.h ./usr/include/o365_php.h ./usr/share/php/o365/src/Client.php \
    ./usr/share/doc/libo365/copyright ./usr/share/doc/libo365/LICENSE-APACHE; do
    grep -qF -- "$f" <<<"$contents" && ok "dpkg-deb --contents: $f" || not_ok "dpkg-deb --contents: $f"
done
grep -q '/usr/lib/debug' <<<"$contents" && not_ok "libo365 ships no debug info" || ok "libo365 ships no debug info"
grep -qF "./usr/lib/debug/usr/lib/$multiarch/$real.debug" <<<"$(dpkg-deb --contents "$debdbg")" &&
    ok "libo365-dbg ships /usr/lib/debug/usr/lib/$multiarch/$real.debug" ||
    not_ok "libo365-dbg ships the debug file"
debroot="$work/debroot"
dpkg -x "$deb" "$debroot" && ok "dpkg -x into a temporary root" || not_ok "dpkg -x"
link_and_run "$debroot" "/usr/lib/$multiarch" deb

finish
