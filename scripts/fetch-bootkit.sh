#!/bin/sh
# Fetch a small REAL boot chain for the QEMU smoke-boot tests, without installing
# anything system-wide: Debian's Xen hypervisor and a Debian dom0-capable kernel,
# downloaded with `apt-get download` and unpacked with `dpkg-deb` into a cache dir.
#
#   scripts/fetch-bootkit.sh [DEST]      (default: ${XDG_CACHE_HOME:-~/.cache}/xcptui/bootkit)
#
# Afterwards DEST holds xen.gz and vmlinuz (stable names, copied out of the packages)
# and a VERSIONS file. Re-running is a no-op when both are present. The tests look in
# the default DEST, or in $XCPTUI_BOOTKIT.
# Needs: apt-get, apt-cache, dpkg-deb (Debian/Ubuntu) and access to the Debian archive.
set -eu

dest=${1:-${XCPTUI_BOOTKIT:-${XDG_CACHE_HOME:-$HOME/.cache}/xcptui/bootkit}}
if [ -s "$dest/xen.gz" ] && [ -s "$dest/vmlinuz" ]; then
    echo "bootkit already present in $dest"
    exit 0
fi

# Current package names: the newest xen-hypervisor-*-amd64 and whatever kernel
# image the linux-image-amd64 meta package points at.
find_pkgs() {
    xen_pkg=$(apt-cache search --names-only '^xen-hypervisor-[0-9.]+-amd64$' \
              | awk '{print $1}' | sort -V | tail -n 1)
    kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null \
                 | awk '/Depends: linux-image-/ {print $2; exit}')
}
find_pkgs
if [ -z "$xen_pkg" ] || [ -z "$kernel_pkg" ]; then
    # a fresh container often has empty package lists
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq || true
    find_pkgs
fi
if [ -z "$xen_pkg" ] || [ -z "$kernel_pkg" ]; then
    echo "fetch-bootkit: cannot find xen-hypervisor-*-amd64 / linux-image-*-amd64 in apt;" \
         "run apt-get update first" >&2
    exit 1
fi

mkdir -p "$dest"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/xcptui-bootkit.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir "$tmp/debs"
# apt-get download run as root fetches as the _apt user: let it write there.
chmod 0755 "$tmp"
chmod 0777 "$tmp/debs"
(cd "$tmp/debs" && apt-get download -q "$xen_pkg" "$kernel_pkg")
mkdir -p "$tmp/root"
# Only the two boot files are needed (the kernel package unpacks to ~400 MB of modules).
for deb in "$tmp"/debs/*.deb; do
    dpkg-deb --fsys-tarfile "$deb" \
        | tar -x -C "$tmp/root" --wildcards './boot/xen-*.gz' './boot/vmlinuz-*' 2>/dev/null \
        || true
done
xen=$(ls "$tmp"/root/boot/xen-*-amd64.gz 2>/dev/null | sort -V | tail -n 1)
vmlinuz=$(ls "$tmp"/root/boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
if [ -z "$xen" ] || [ -z "$vmlinuz" ]; then
    echo "fetch-bootkit: the packages did not contain /boot/xen-*.gz and /boot/vmlinuz-*" >&2
    exit 1
fi
cp "$xen" "$tmp/xen.gz.new"
cp "$vmlinuz" "$tmp/vmlinuz.new"
mv "$tmp/xen.gz.new" "$dest/xen.gz.part" && mv "$dest/xen.gz.part" "$dest/xen.gz"
mv "$tmp/vmlinuz.new" "$dest/vmlinuz.part" && mv "$dest/vmlinuz.part" "$dest/vmlinuz"
printf '%s %s\n%s %s\n' "$xen_pkg" "$(basename "$xen")" "$kernel_pkg" "$(basename "$vmlinuz")" \
    > "$dest/VERSIONS"
echo "bootkit ready in $dest:"
cat "$dest/VERSIONS"
