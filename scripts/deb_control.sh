#!/usr/bin/env bash
# Writes DEBIAN/control (and, for the library package, the Debian copyright file) into a
# staged package root for `make deb`. Depends are the Debian packages that hold the shared
# libraries libo365 links to (readelf NEEDED -> ldconfig -> dpkg -S).
#
#   scripts/deb_control.sh <root> <package> <version> <arch> <maintainer> <soname>
set -euo pipefail
root="$1" pkg="$2" version="$3" arch="$4" maintainer="$5" soname="$6"
mkdir -p "$root/DEBIAN"

if [[ "$pkg" == *-dbg ]]; then
    depends="libo365 (= $version)"
    section=debug
    description="debug information for libo365
 The DWARF debug information of libo365.so, split from the stripped library
 (gdb finds it through the .gnu_debuglink under /usr/lib/debug)."
else
    lib=$(find "$root" -name "$soname.*" -type f | head -n1)
    [[ -n "$lib" ]] || { echo "deb_control: no $soname.* under $root" >&2; exit 1; }
    declare -A seen=()
    deps=()
    # "libgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x...)"; dpkg may know the
    # path with or without /usr (merged /usr), so both are asked
    while read -r path; do
        owner=""
        for p in "$path" "$(readlink -f "$path")" "${path#/usr}" "/usr$path"; do
            owner=$(dpkg -S "$p" 2>/dev/null | head -n1 | cut -d: -f1) && [[ -n "$owner" ]] && break
        done
        [[ -n "$owner" ]] || { echo "deb_control: no Debian package holds $path" >&2; exit 1; }
        [[ -n "${seen[$owner]:-}" ]] && continue
        seen[$owner]=1
        deps+=("$owner")
    done < <(ldd "$lib" | awk '$2 == "=>" && $3 ~ /^\// {print $3}')
    depends=$(IFS=,; echo "${deps[*]}" | sed 's/,/, /g')
    section=libs
    description="Microsoft 365 mailboxes for a host CRM, as one shared library
 libo365 connects Microsoft 365 / Exchange Online mailboxes to a CRM through
 Microsoft Graph, behind a C ABI (o365.h, pkg-config o365). It also ships the
 PHP FFI binding (/usr/share/php/o365) and its declaration header."
    doc="$root/usr/share/doc/$pkg"
    mkdir -p "$doc"
    {
        echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
        echo "Upstream-Name: o365"
        echo
        echo "Files: *"
        echo "Copyright: 2026 The o365 authors"
        echo "License: MIT or Apache-2.0"
        echo " See /usr/share/doc/$pkg/LICENSE-MIT and /usr/share/doc/$pkg/LICENSE-APACHE"
        echo " (Apache-2.0 also in /usr/share/common-licenses/Apache-2.0)."
    } > "$doc/copyright"
fi

size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: $pkg
Version: $version
Architecture: $arch
Maintainer: $maintainer
Section: $section
Priority: optional
Installed-Size: $size
Depends: $depends
Description: $description
CONTROL
