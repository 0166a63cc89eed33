"""What a demo/test ISO is made of (shared by the builders) and the kernels it holds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MAIN_KVER = "4.19.0+1"  # kernel, on 8.2 and 8.3
ALT_KVER = "4.19.322+1"  # kernel-alt on 8.3 (xcp-ng-rpms/kernel-alt SPECS/kernel-alt.spec)
MTIME = 1700000000


@dataclass
class DemoOptions:
    version: str = "8.3"  # "8.3" or "8.2"
    volume_id: str = "XCP-ng 8.3.0"
    compression: str = "bzip2"  # bzip2 | gzip | xz | zstd
    signed: bool = True
    with_packages: bool = True
    with_alt_kernel: bool = True
    xen: Path | None = None
    vmlinuz: Path | None = None
    rpm_payload: str = "gzip"
    extra_rpms: int = 0
    filler_files: int = 0  # bench: adds this many random files to install.img
    filler_size: int = 30000
    filler_modules: int = 0  # bench: extra .ko files in the main kernel tree
    uefi: bool = True
    rpm_payload_size: int = 64  # bench: bytes of random payload per extra RPM
    fast_compress: bool = False  # bench: compress install.img with lbzip2 (same format)
    layout: str = "el7"  # "el7": the real CentOS 7 root; "flat": no usr/ symlinks, "./" names
