#!/bin/sh
# Fetch a small REAL boot chain for the QEMU smoke-boot tests, without installing
# anything system-wide: Debian's Xen hypervisor and a Debian dom0-capable kernel,
# downloaded with `apt-get download` and unpacked with `dpkg-deb -x` into a cache dir.
#
#   scripts/fetch-bootkit.sh [DEST]      (default: ${XDG_CACHE_HOME:-~/.cache}/xcptui/bootkit)
#
# Afterwards DEST holds xen.gz and vmlinuz (stable names, symlinks into the unpacked
# packages) and a VERSIONS file. Re-running is a no-op when both are present.
# Needs: apt-get, apt-cache, dpkg-deb (Debian/Ubuntu) and access to the Debian archive.
set -eu

dest=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/xcptui/bootkit}
if [ -s "$dest/xen.gz" ] && [ -s "$dest/vmlinuz" ]; then
    echo "bootkit already present in $dest"
    exit 0
fi

# Current package names: the newest xen-hypervisor-*-amd64 and whatever kernel
# image the linux-image-amd64 meta package points at.
xen_pkg=$(apt-cache search --names-only '^xen-hypervisor-[0-9.]+-amd64$' \
          | awk '{print $1}' | sort -V | tail -n 1)
kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null \
             | awk '/Depends: linux-image-/ {print $2; exit}')
if [ -z "$xen_pkg" ] || [ -z "$kernel_pkg" ]; then
    echo "fetch-bootkit: cannot find xen-hypervisor-*-amd64 / linux-image-*-amd64 in apt;" \
         "run apt-get update first" >&2
    exit 1
fi

mkdir -p "$dest"
tmp=$(mktemp -d "$dest/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
(
    cd "$tmp"
    # apt-get download as root drops privileges to _apt; let it write here.
    chmod 0777 .
    apt-get download -q "$xen_pkg" "$kernel_pkg"
)
mkdir -p "$tmp/root"
for deb in "$tmp"/*.deb; do
    dpkg-deb -x "$deb" "$tmp/root"
done
xen=$(ls "$tmp"/root/boot/xen-*-amd64.gz 2>/dev/null | sort -V | tail -n 1)
vmlinuz=$(ls "$tmp"/root/boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
if [ -z "$xen" ] || [ -z "$vmlinuz" ]; then
    echo "fetch-bootkit: the packages did not contain /boot/xen-*.gz and /boot/vmlinuz-*" >&2
    exit 1
fi
# Keep only the two files we boot (the kernel's modules are ~400 MB unpacked).
cp "$xen" "$tmp/xen.gz.new"
cp "$vmlinuz" "$tmp/vmlinuz.new"
mv "$tmp/xen.gz.new" "$dest/xen.gz"
mv "$tmp/vmlinuz.new" "$dest/vmlinuz"
printf '%s %s\n%s %s\n' "$xen_pkg" "$(basename "$xen")" "$kernel_pkg" "$(basename "$vmlinuz")" \
    > "$dest/VERSIONS"
echo "bootkit ready in $dest:"
cat "$dest/VERSIONS"
