"""Resource bounds for hostile input: size caps, a decode budget and a safe small-file reader.

Every byte of an ISO, RPM, recipe or answerfile may be hostile. Decoders stream with a
bounded output per call; on top of that, ``DecodeBudget`` stops a compression bomb
(a few kB that expand to terabytes) by capping the total decoded size and the
expansion ratio, and ``read_small_file`` refuses device nodes, FIFOs (without ever
blocking on one) and oversized files before reading a recipe or an answerfile.

A basics module: it imports only ``errors``.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from xcptui.engine.errors import InputError

GiB = 1 << 30
MiB = 1 << 20

# install.img of XCP-ng 8.3 decodes to ~370 MB; 16 GiB is far past any real image.
MAX_DECODED = 16 * GiB
# bzip2/gzip/xz of real installer data stays under ~20:1; zeros reach ~10^6:1. The
# first RATIO_GRACE bytes are exempt so a small, very compressible segment is fine.
MAX_RATIO = 1000
RATIO_GRACE = 64 * MiB
# An RPM payload's big files spool to the build's work dir (disk, not memory); no
# package the installer needs is anywhere near 2 GiB.
MAX_RPM_PAYLOAD = 2 * GiB
# install.img has ~12 k entries; each costs a few hundred bytes of bookkeeping.
MAX_CPIO_ENTRIES = 500_000
# install.img is one compressed segment (two or three with early microcode or overlays);
# thousands of tiny segments would each cost a full read chunk.
MAX_SEGMENTS = 1000
# A bzip2 block holds at least 100 kB at level 1, so 16 GiB is ~170 k blocks; tiny
# hostile blocks would each cost bookkeeping.
MAX_BZIP2_BLOCKS = 200_000
# A zstd block decodes to at most 128 KiB: 16 GiB is 131 k blocks, allow slack.
MAX_ZSTD_BLOCKS = 1 << 19

# IsoSource.read holds a file in memory: config files, repodata, efiboot.img (~3 MB).
MAX_ISO_READ = 256 * MiB

MAX_RECIPE = 1 * MiB
MAX_ANSWERFILE = 1 * MiB


class DecodeBudget:
    """Running totals of one decode; ``add`` raises when it looks like a bomb.

    ``key``ed updates keep the largest value per key (a segment start, a block), so
    decoding the same data again in a later pass does not count twice.
    """

    def __init__(self, name: str, limit: int | None = None, what: str = "decompresses") -> None:
        self.name, self.what = name, what
        self.limit = MAX_DECODED if limit is None else limit
        self._out: dict[object, int] = {}
        self._in: dict[object, int] = {}
        self._segments: set[int] = set()
        self.total_out = 0
        self.total_in = 0

    def add(self, key: object, out: int, consumed: int) -> None:
        """Record that the unit ``key`` has produced ``out`` bytes from ``consumed``."""
        old_out, old_in = self._out.get(key, 0), self._in.get(key, 0)
        if out > old_out:
            self._out[key] = out
            self.total_out += out - old_out
        if consumed > old_in:
            self._in[key] = consumed
            self.total_in += consumed - old_in
        self.check()

    def segment(self, start: int) -> None:
        """Count a compressed segment starting at ``start`` (each start once)."""
        self._segments.add(start)
        if len(self._segments) > MAX_SEGMENTS:
            raise InputError(f"{self.name}: more than {MAX_SEGMENTS} compressed segments "
                             "(a bomb?)")

    def check(self) -> None:
        if self.total_out > self.limit:
            raise InputError(f"{self.name}: {self.what} past {human_binary(self.limit)} "
                             "(a compression bomb?)")
        if (self.total_out > RATIO_GRACE
                and self.total_out > MAX_RATIO * max(1, self.total_in)):
            raise InputError(
                f"{self.name}: {self.what} more than {MAX_RATIO} times its compressed size "
                f"({human_binary(self.total_out)} from {human_binary(self.total_in)}; "
                "a compression bomb?)")


def human_binary(n: int) -> str:
    """16 << 30 -> "16 GiB" (limits read best in binary units)."""
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= size:
            v = n / size
            return f"{v:.0f} {unit}" if v == int(v) else f"{v:.1f} {unit}"
    return f"{n} bytes"


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


def special_kind(mode: int) -> str | None:
    """"a FIFO", "a character device"... for anything that is not a regular file."""
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return None if stat.S_ISREG(mode) else "not a regular file"


def read_small_file(path: Path, what: str, limit: int, label: str | None = None) -> bytes:
    """The bytes of ``path``, refused in one line unless it is a regular file <= ``limit``.

    ``what`` names the file's role ("recipe", "answerfile"). The file is opened with
    O_NONBLOCK so a FIFO never blocks us, then checked with fstat (no race with a
    swapped file), and at most ``limit + 1`` bytes are ever read.
    """
    label = label or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise InputError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{label}: is a directory, not {_article(what)}") from None
    except OSError as e:
        if e.errno == errno.ENXIO:  # a socket, or a FIFO with no writer on some systems
            raise InputError(f"{label}: is not a regular file, not {_article(what)}") from None
        raise InputError(f"{label}: cannot read: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        kind = special_kind(st.st_mode)
        if kind is not None:
            raise InputError(f"{label}: is {kind}, not {_article(what)}")
        if st.st_size > limit:
            raise InputError(f"{label}: {st.st_size} bytes is too big for {_article(what)} "
                             f"(limit {limit}); is this the right file?")
        os.set_blocking(fd, True)
        parts, got = [], 0
        while got <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - got))
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        if got > limit:  # grew after the fstat
            raise InputError(f"{label}: is too big for {_article(what)} (limit {limit}); "
                             "is this the right file?")
        return b"".join(parts)
    except OSError as e:
        raise InputError(f"{label}: cannot read: {e.strerror}") from None
    finally:
        os.close(fd)


def _article(what: str) -> str:
    return f"an {what}" if what[:1].lower() in "aeiou" else f"a {what}"
