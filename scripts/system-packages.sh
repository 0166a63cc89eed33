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
      fonts-firacode libcairo2 tmux file genisoimage isomd5sum chromium)
pkgs=("${runtime[@]}")
[[ $level == demo || $level == test ]] && pkgs+=("${demo[@]}")
[[ $level == test ]] && pkgs+=("${test[@]}")
# one dpkg-query for all of them: scripts/demo runs this on every start
installed=" $(dpkg-query -W -f='${Package}:${Status}\n' "${pkgs[@]}" 2>/dev/null \
  | sed -n 's/:install ok installed$//p' | tr '\n' ' ' || true) "
missing=()
for p in "${pkgs[@]}"; do
  [[ $installed == *" $p "* ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
echo "installing Debian packages: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
