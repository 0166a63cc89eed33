"""Locating the few system tools xcptui needs, with a clear message when one is missing."""

from __future__ import annotations

import os
import shutil

from xcptui.engine.errors import ToolMissing

# tool -> Debian package that provides it
DEBIAN_PACKAGE = {
    "depmod": "kmod",
    "mcopy": "mtools",
    "mtype": "mtools",
    "mdir": "mtools",
    "gpg": "gnupg",
    "qemu-system-x86_64": "qemu-system-x86",
    "lbzip2": "lbzip2",
    "genisoimage": "genisoimage",
    "isohybrid": "syslinux-utils",
    "mformat": "mtools",
    "mmd": "mtools",
    "rpmbuild": "rpm",
    "gcc": "gcc",
}

_EXTRA_DIRS = ("/usr/sbin", "/sbin")


def which(tool: str) -> str | None:
    """Like shutil.which, but also looks in sbin dirs (depmod lives there, often off PATH)."""
    found = shutil.which(tool)
    if found:
        return found
    for d in _EXTRA_DIRS:
        cand = os.path.join(d, tool)
        if os.access(cand, os.X_OK):
            return cand
    return None


def require(tool: str, why: str) -> str:
    """Return the path of ``tool`` or raise ToolMissing naming the package to install."""
    path = which(tool)
    if path is None:
        pkg = DEBIAN_PACKAGE.get(tool, tool)
        raise ToolMissing(f"{tool} not found: needed to {why} (install it: apt-get install {pkg})")
    return path
