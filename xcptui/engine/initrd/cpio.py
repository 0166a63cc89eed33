"""newc ("070701") cpio headers: parsing, serialisation and a streaming header scanner.

install.img is a newc archive as written by ``find . | cpio -o -H newc``. A header is
the 6-byte magic, thirteen 8-digit hex fields and the NUL-terminated name, padded so
the data starts on a 4-byte boundary; the data is padded to 4 bytes as well. Because
every entry starts on a 4-byte boundary, an entry copied byte for byte to another
4-aligned position is still valid: this is what lets the rewriter splice untouched
byte ranges of the original archive into the new one.

``NewcScanner`` parses headers out of a stream of decompressed chunks without keeping
file data (only symlink targets), so scanning a 370 MB archive costs no memory.
"""

from __future__ import annotations

import posixpath
import stat
from collections.abc import Callable
from dataclasses import dataclass, field

from xcptui.engine import limits
from xcptui.engine.layout import image_path, safe_relpath  # noqa: F401 (re-exported)

MAGIC_NEWC = b"070701"
MAGIC_CRC = b"070702"  # same layout plus a byte-sum checksum of the data
HEADER_LEN = 110  # magic + 13 * 8 hex digits
TRAILER = "TRAILER!!!"
# Sanity bound on one name. The kernel skips (does not reject) entries whose name is
# longer than PATH_MAX (4096), so longer names are reported as a problem, not refused.
MAX_NAME = 65536
MAX_SYMLINK = 65536

_TYPES = {
    stat.S_IFREG: "file",
    stat.S_IFDIR: "dir",
    stat.S_IFLNK: "symlink",
    stat.S_IFCHR: "chardev",
    stat.S_IFBLK: "blockdev",
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
}
_HEX = frozenset(b"0123456789abcdefABCDEF")


class CpioFormatError(ValueError):
    """A malformed header; ``offset`` is where it starts in the uncompressed archive."""

    def __init__(self, what: str, offset: int) -> None:
        super().__init__(what)
        self.what = what
        self.offset = offset


def pad4(n: int) -> int:
    """Bytes of padding that bring ``n`` up to a multiple of 4."""
    return -n % 4


def entry_type(st_mode: int) -> str:
    """"file", "dir", "symlink", "chardev", "blockdev", "fifo", "socket" or "unknown"."""
    return _TYPES.get(stat.S_IFMT(st_mode), "unknown")


def checksum(data: bytes) -> int:
    """The 070702 ("crc" format) check field: the sum of all data bytes, mod 2**32."""
    return sum(data) & 0xFFFFFFFF


@dataclass(slots=True)
class Header:
    """One newc header, field for field."""

    ino: int
    mode: int  # full st_mode, type bits included
    uid: int
    gid: int
    nlink: int
    mtime: int
    filesize: int
    devmajor: int
    devminor: int
    rdevmajor: int
    rdevminor: int
    name: bytes  # without the NUL
    check: int = 0
    magic: bytes = MAGIC_NEWC

    @property
    def type(self) -> str:
        return entry_type(self.mode)

    @property
    def header_len(self) -> int:
        """Header + name + NUL + padding (an entry starts 4-aligned)."""
        n = HEADER_LEN + len(self.name) + 1
        return n + pad4(n)

    def encode(self) -> bytes:
        fields = (
            self.ino, self.mode, self.uid, self.gid, self.nlink, self.mtime, self.filesize,
            self.devmajor, self.devminor, self.rdevmajor, self.rdevminor,
            len(self.name) + 1, self.check,
        )
        for f in fields:
            if not 0 <= f <= 0xFFFFFFFF:
                raise ValueError(f"cpio header field out of range: {f}")
        raw = self.magic + b"".join(b"%08X" % f for f in fields) + self.name + b"\0"
        return raw + b"\0" * pad4(len(raw))


def encode_entry(h: Header, data: bytes) -> bytes:
    """Header + data + padding; ``h.filesize`` must already equal ``len(data)``."""
    if h.filesize != len(data):
        raise ValueError("cpio header size does not match the data")
    return h.encode() + data + b"\0" * pad4(len(data))


def trailer() -> bytes:
    """A newc trailer entry as GNU cpio writes it."""
    return Header(0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, TRAILER.encode()).encode()


def parse_fixed(buf: bytes | bytearray | memoryview, offset: int) -> tuple[bytes, list[int]]:
    """Parse the 110 fixed bytes at the start of ``buf``: (magic, 13 ints).

    ``offset`` is only used in the error message.
    """
    magic = bytes(buf[:6])
    if magic not in (MAGIC_NEWC, MAGIC_CRC):
        if magic == b"070707":
            raise CpioFormatError("old binary/odc cpio, not newc", offset)
        raise CpioFormatError("bad cpio header", offset)
    digits = bytes(buf[6:HEADER_LEN])
    if not _HEX.issuperset(digits):
        raise CpioFormatError("bad cpio header (non-hex field)", offset)
    return magic, [int(digits[i:i + 8], 16) for i in range(0, 104, 8)]


def header_from_fields(magic: bytes, f: list[int], name: bytes) -> Header:
    return Header(ino=f[0], mode=f[1], uid=f[2], gid=f[3], nlink=f[4], mtime=f[5],
                  filesize=f[6], devmajor=f[7], devminor=f[8], rdevmajor=f[9],
                  rdevminor=f[10], name=name, check=f[12], magic=magic)


@dataclass(slots=True)
class RawEntry:
    """A header as found by the scanner, with where it lives in the uncompressed archive."""

    header: Header
    offset: int  # of the header
    data_offset: int
    end: int  # after the padded data: where the next header starts
    archive: int  # index of the archive (bumped after each TRAILER!!!)
    link_target: bytes | None = None  # symlink data


@dataclass
class ScanState:
    """Where the scanner is, so callers can check the kernel's "entry boundary" rule."""

    between_entries: bool
    in_entry: str | None  # name of the entry being read, when inside one


@dataclass
class NewcScanner:
    """Streaming newc header parser.

    Feed decompressed chunks in order with ``feed``. For every header it calls
    ``on_entry(RawEntry)``. Data is skipped (symlink targets are kept). After a
    TRAILER!!! it accepts zero padding and, like the kernel, a further archive that
    starts on a 4-byte boundary. Offsets are positions in the concatenated input.

    ``base`` is the offset that 4-byte alignment is counted from; the kernel counts it
    from the start of each compressed segment, so callers reset it with ``rebase``.
    """

    on_entry: Callable[[RawEntry], None]
    pos: int = 0
    base: int = 0
    archive: int = 0
    after_trailer: bool = False
    junk_at: int | None = None  # offset of non-zero, non-header bytes after a trailer
    _hdr: bytearray = field(default_factory=bytearray)
    _need: int = HEADER_LEN  # header bytes still wanted (0: not collecting a header)
    _fixed: tuple[bytes, list[int]] | None = None
    _start: int = 0  # offset of the header being collected
    _skip: int = 0  # data + padding bytes still to skip
    _link: bytearray | None = None  # collecting a symlink target
    _link_left: int = 0
    _pending: RawEntry | None = None
    _ignore_rest: bool = False
    stop_after_trailer: bool = False  # plain (uncompressed) segments end at their trailer
    entries: int = 0  # headers seen; each costs the caller memory, so it is capped

    def rebase(self) -> None:
        """Count alignment from the current position (a new compressed segment)."""
        self.base = self.pos
        self._ignore_rest = False

    def state(self) -> ScanState:
        idle = self._skip == 0 and not self._hdr and self._link is None
        return ScanState(idle, None if idle else self._current_name())

    def _current_name(self) -> str:
        if self._pending is not None:
            return self._pending.header.name.decode("utf-8", "surrogateescape")
        return "(header)"

    def feed(self, chunk: bytes | memoryview) -> int:
        """Parse ``chunk``; returns how many bytes were consumed (all of them, unless
        ``stop_after_trailer`` is set and a TRAILER!!! entry just ended)."""
        m = memoryview(chunk)
        i, n = 0, len(m)
        while i < n:
            if self._ignore_rest:
                self.pos += n - i
                return n
            if self.stop_after_trailer and self.after_trailer and not self._hdr:
                return i
            if self._skip:
                i = self._skip_data(m, i)
            elif not self._hdr and (self.after_trailer or m[i] == 0):
                i = self._skip_zeros(m, i)
            else:
                i = self._collect_header(m, i)
        return n

    def _skip_data(self, m: memoryview, i: int) -> int:
        k = min(self._skip, len(m) - i)
        if self._link is not None and self._link_left:
            take = min(k, self._link_left)
            self._link += m[i:i + take]
            self._link_left -= take
        self._skip -= k
        self.pos += k
        if self._skip == 0:
            self._finish_entry()
        return i + k

    def _skip_zeros(self, m: memoryview, i: int) -> int:
        # Look at 64 KiB at a time: a chunk can be a 46 MB block of zeros (padding, or
        # a bomb) and copying it whole would double the memory it costs.
        n = len(m)
        while i < n:
            window = bytes(m[i:i + 65536])
            z = len(window) - len(window.lstrip(b"\0"))
            self.pos += z
            i += z
            if z < len(window):
                break
        if i >= n:
            return i
        if m[i:i + 1] == b"0":
            if (self.pos - self.base) % 4:
                raise CpioFormatError("broken padding before cpio header", self.pos)
            if self.after_trailer:  # another archive follows (the kernel accepts it)
                self.after_trailer = False
                self.archive += 1
            return i
        if not self.after_trailer:
            raise CpioFormatError("bad cpio header", self.pos)
        # Not zero and not a header after a trailer: the kernel stops with "junk";
        # userspace tools stop at the trailer and never see it.
        self.junk_at = self.pos
        self._ignore_rest = True
        return i

    def _collect_header(self, m: memoryview, i: int) -> int:
        if not self._hdr:
            self._start = self.pos
        take = min(self._need, len(m) - i)
        self._hdr += m[i:i + take]
        self._need -= take
        self.pos += take
        i += take
        if self._need:
            return i
        if self._fixed is None:
            self._fixed = parse_fixed(self._hdr, self._start)
            namesize = self._fixed[1][11]
            if namesize < 1 or namesize > MAX_NAME:
                raise CpioFormatError(f"bad cpio header (name size {namesize})", self._start)
            total = HEADER_LEN + namesize
            self._need = total + pad4(total - self.base + self._start) - HEADER_LEN
            return i
        self._header_done()
        return i

    def _header_done(self) -> None:
        magic, f = self._fixed  # type: ignore[misc]
        namesize = f[11]
        raw_name = bytes(self._hdr[HEADER_LEN:HEADER_LEN + namesize])
        if not raw_name.endswith(b"\0"):
            raise CpioFormatError("bad cpio header (name not NUL-terminated)", self._start)
        h = header_from_fields(magic, f, raw_name[:-1].split(b"\0", 1)[0])
        self.entries += 1
        if self.entries > limits.MAX_CPIO_ENTRIES:
            raise CpioFormatError(f"more than {limits.MAX_CPIO_ENTRIES} cpio entries "
                                  "(a bomb?)", self._start)
        data_off = self.pos
        size = h.filesize
        end = data_off + size + pad4(data_off + size - self.base)
        ent = RawEntry(h, self._start, data_off, end, self.archive)
        self._hdr = bytearray()
        self._fixed = None
        self._need = HEADER_LEN
        self._pending = ent
        if stat.S_ISLNK(h.mode):
            if size > MAX_SYMLINK:
                raise CpioFormatError("bad cpio header (huge symlink)", self._start)
            self._link = bytearray()
            self._link_left = size
        self._skip = end - data_off
        if self._skip == 0:
            self._finish_entry()

    def _finish_entry(self) -> None:
        ent = self._pending
        assert ent is not None
        if self._link is not None:
            ent.link_target = bytes(self._link)
            self._link = None
        self._pending = None
        if ent.header.name == TRAILER.encode():
            self.after_trailer = True
        self.on_entry(ent)


def normpath_join(base_dir: str, target: str) -> str | None:
    """Resolve a symlink ``target`` found in directory ``base_dir`` (both image paths)."""
    joined = target if target.startswith("/") else posixpath.join("/", base_dir, target)
    norm = posixpath.normpath(joined)
    return norm.lstrip("/") if norm != "/" else ""
