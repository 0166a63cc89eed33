#!/usr/bin/env bash
# Debian 12 packages xcptui needs. Usage: scripts/system-packages.sh [runtime|demo|test]
# runtime: what the engine calls (libarchive, depmod, mtools, gpg)
# demo:    + what generating the demo ISO needs (genisoimage, isohybrid, rpmbuild, gcc ...)
# test:    + independent checkers and QEMU/OVMF for the smoke boots, fonts for screenshots
set -euo pipefail
level=${1:-test}
runtime=(python3 python3-venv python3-pip libarchive13 kmod mtools gnupg lbzip2)
demo=(genisoimage syslinux-utils isolinux syslinux-common rpm createrepo-c gcc libc6-dev
      busybox-static grub-efi-amd64-bin grub-common dosfstools zstd xz-utils)
test=(xorriso libarchive-tools cpio bzip2 lbzip2 fdisk gdisk qemu-system-x86 ovmf
      fonts-firacode libcairo2 tmux file genisoimage isomd5sum)
pkgs=("${runtime[@]}")
[[ $level == demo || $level == test ]] && pkgs+=("${demo[@]}")
[[ $level == test ]] && pkgs+=("${test[@]}")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
echo "installing Debian packages: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
