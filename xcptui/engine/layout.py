"""Every XCP-ng installation-ISO path and every kind of thing, in one place.

Paths on the ISO are absolute ("/install.img"); paths inside install.img are
relative with no "./" ("usr/lib/modules"); paths inside boot/efiboot.img are
absolute in that FAT image. The string kinds the engine passes around are
``StrEnum``s here, so they compare equal to their values and JSON-dump as them.
"""

from __future__ import annotations

from enum import StrEnum

# --- on the ISO -------------------------------------------------------------
INSTALL_IMG = "/install.img"
ISOLINUX_DIR = "/boot/isolinux"
ISOLINUX_BIN = "/boot/isolinux/isolinux.bin"
ISOLINUX_CFG = "/boot/isolinux/isolinux.cfg"
GRUB_CFG = "/EFI/xenserver/grub.cfg"
GRUB_USB_CFG = "/EFI/xenserver/grub-usb.cfg"  # only on pre-2023 8.2.x media
EFI_LOADER = "/EFI/BOOT/BOOTX64.EFI"
EFIBOOT_IMG = "/boot/efiboot.img"
TREEINFO = "/.treeinfo"
PACKAGES = "/Packages"
REPODATA = "/repodata"
REPOMD = "/repodata/repomd.xml"
REPOMD_ASC = "/repodata/repomd.xml.asc"
XEN_GZ = "/boot/xen.gz"
#: [boot] unique_search: "/.xcptui-<build id>", the file efiboot.img's grub.cfg searches for
BUILD_MARKER_PREFIX = "/.xcptui-"

# --- inside boot/efiboot.img (a FAT image) ----------------------------------
EFIBOOT_GRUB = "/EFI/xenserver/grub.cfg"
EFIBOOT_LOADER = "/EFI/BOOT/BOOTX64.EFI"
#: how the efiboot copy of grub.cfg is named in messages and plans
EFIBOOT_GRUB_NAME = "boot/efiboot.img:/EFI/xenserver/grub.cfg"

# --- inside install.img (CentOS 7 root: lib -> usr/lib) ----------------------
MODULES_DIRS = ("lib/modules", "usr/lib/modules")
DEPMOD_D = "etc/depmod.d"
FIRMWARE_DIRS = ("lib/firmware", "usr/lib/firmware")


class Codec(StrEnum):
    """Compression of install.img (or of an RPM payload)."""

    BZIP2 = "bzip2"
    GZIP = "gzip"
    XZ = "xz"
    ZSTD = "zstd"
    LZMA = "lzma"
    LZ4 = "lz4"
    LZO = "lzo"
    CPIO = "cpio"  # an uncompressed newc archive (e.g. early microcode)


class EntryKind(StrEnum):
    """What a cpio entry (or an ISO entry) is."""

    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    CHARDEV = "chardev"
    BLOCKDEV = "blockdev"
    FIFO = "fifo"
    SOCKET = "socket"


class BootConfigKind(StrEnum):
    """Which boot configuration a file is."""

    ISOLINUX = "isolinux"
    GRUB = "grub"


class CheckStatus(StrEnum):
    """Outcome of one verification check."""

    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    WARN = "warn"


class EventKind(StrEnum):
    """Kinds of progress event."""

    STEP = "step"
    BYTES = "bytes"
    LOG = "log"
    WARN = "warn"
    DONE = "done"


#: the boot config files on the ISO and their kind, in the order users read them
BOOT_CONFIGS: dict[str, BootConfigKind] = {
    ISOLINUX_CFG: BootConfigKind.ISOLINUX,
    GRUB_CFG: BootConfigKind.GRUB,
    EFIBOOT_GRUB_NAME: BootConfigKind.GRUB,
}


def iso_path(path: str) -> str:
    """An ISO path in its one spelling: absolute, no trailing slash ("/" stays)."""
    p = "/" + path.strip("/")
    return p


def safe_relpath(name: str) -> str | None:
    """The archive member ``name`` as a clean relative path, or None when it is unsafe.

    "./etc/shadow" -> "etc/shadow", "." -> "" (the root). Absolute names and names
    with a ".." component are unsafe: they could escape an extraction directory, so
    callers must never use them to build a host path.
    """
    if name.startswith("/"):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        return None
    return "/".join(parts)


def image_path(path: str) -> str | None:
    """A path given by a user ("/etc/shadow", "./etc/shadow", "etc/shadow/") normalised.

    Unlike archive names, a leading "/" means the root of the image. Returns None
    when the path climbs out of the root with "..".
    """
    return safe_relpath(path.lstrip("/"))
