"""What the Linux initramfs unpacker (init/initramfs.c) would make of an install.img."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from xcptui.engine import units
from xcptui.engine.errors import BuildError, Cancelled, XcptuiError
from xcptui.engine.events import Progress
from xcptui.engine.initrd.image import InstallImage


@dataclass
class KernelFormatReport:
    """What the Linux initramfs unpacker would make of the image."""

    problems: list[str] = field(default_factory=list)
    segments: list[str] = field(default_factory=list)  # "bzip2 112.0 MB -> 370.0 MB"
    entries: int = 0
    mode000: int = 0  # regular files with mode 000 (etc/shadow...)
    devices: int = 0  # character and block device nodes
    hardlinks: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def kernel_format_report(path: Path | str, offset: int = 0, size: int | None = None, *,
                         name: str = "install.img", progress: Progress | None = None,
                         cancel: threading.Event | None = None) -> KernelFormatReport:
    """Decode every segment and check init/initramfs.c's rules: each segment decodes
    completely and ends on a cpio entry boundary, only zeros between segments, valid
    newc headers; also count mode-000 files and device nodes."""
    rep = KernelFormatReport()
    try:
        img = InstallImage.open(path, offset, size, name=name, progress=progress,
                                cancel=cancel)
    except XcptuiError as e:
        if isinstance(e, BuildError | Cancelled):
            raise
        rep.problems.append(str(e))
        return rep
    with img:
        rep.problems += img.problems
        for s in img.segment_info:
            rep.segments.append(f"{s.codec} {units.size(s.end - s.offset)} -> "
                                f"{units.size(s.usize)}")
            if s.codec == "zstd" and any(k.startswith(("4.", "5.0", "5.1.")) for k in
                                         img.kernels()):
                rep.problems.append(f"{name}: zstd segment but kernel {img.kernels()[0]} "
                                    "predates initramfs zstd support (5.9)")
        for ent in img.all_headers():
            if ent.is_trailer:
                continue
            rep.entries += 1
            rep.mode000 += ent.type == "file" and ent.mode == 0
            rep.devices += ent.type in ("chardev", "blockdev")
            rep.hardlinks += ent.group >= 0
    return rep


def check_kernel_format(path: Path | str, offset: int = 0, size: int | None = None
                        ) -> list[str]:
    """Problems the kernel would have unpacking the image (empty list: fine)."""
    return kernel_format_report(path, offset, size).problems

