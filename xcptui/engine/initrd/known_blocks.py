"""Checking a spliced install.img without decoding the bzip2 blocks it copied.

``splice_write`` copies unchanged bzip2 blocks of the source bit for bit. A block of
the image being checked whose compressed bits have the sha256 of a block in the index
(recorded when that image was fully decoded, with bz2 checking each block's CRC) is
that block: it decodes to the same bytes, with the CRC in its header. So the scan
feeds the cpio scanner a *skeleton* of it instead (the headers and symlink targets
exactly, file data as zeros, junk where the source had junk) and decodes only the
other blocks; the stream CRC (which combines every block header's CRC) is checked as
always.

A skeleton only stands in for the real bytes where the scanner reads them. After the
scan ``unfaithful`` checks that every byte the skeleton does not reproduce (file data
and padding, bytes after junk) is one this scan skipped; a block that fails this is
decoded for real in a second pass. Nothing here trusts the writer: only the bits of
the image and facts recorded while decoding the source.
"""

from __future__ import annotations

import bisect
import contextlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xcptui.engine.errors import InputError
from xcptui.engine.events import Progress
from xcptui.engine.initrd import bzip2blocks as bzb
from xcptui.engine.initrd import cpio, index_codec
from xcptui.engine.initrd.compression import FileRegion
from xcptui.engine.initrd.index_cache import IndexCache, IndexCorrupt, read_file
from xcptui.engine.initrd.scan import ImageScan, block_digest

MAX_SOURCES = 4


class _Source:
    """An indexed image: its headers (its data is never read) and lookup tables."""

    def __init__(self, scan: ImageScan) -> None:
        self.scan = scan
        self.offsets = [e.offset for e in scan.raw]
        self.unknown = _unknown(scan)
        self.unknown_starts = [a for a, _ in self.unknown]


@dataclass
class _Known:
    src: _Source
    uoff: int
    ulen: int
    bit_off: int  # alignment its digest was taken at
    digest: bytes


def realigned(bits: bzb.BlockBits, bit_off: int) -> bytes:
    """The block's bits starting at bit ``bit_off`` of the first byte (zeros around)."""
    out = bytearray()
    w = bzb.BitWriter(out.extend)
    w.put_int(0, bit_off)
    w.put_bits(bits.buf, bits.bit_off, bits.nbits)
    w.flush()
    return bytes(out)


class KnownBlocks:
    """The blocks of indexed images, by (CRC, bit length)."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[int, int], list[_Known]] = {}
        self.sources: list[_Source] = []
        self.last: _Known | None = None  # what the last successful ``match`` found
        self.lazy: dict[int, list[tuple[Path, int]]] = {}  # block CRC -> (index, size)
        self.loaded: set[Path] = set()
        self.region: FileRegion | None = None

    def add_source(self, scan: ImageScan) -> None:
        src = _Source(scan)
        self.sources.append(src)
        for seg in scan.segment_info:
            for b, d in zip(seg.blocks, scan.block_digests.get(seg.index, []), strict=False):
                k = _Known(src, b.uoff, b.ulen, b.start & 7, d)
                self.by_key.setdefault((b.crc, b.end - b.start), []).append(k)

    @classmethod
    def from_cache(cls, cache: IndexCache, region: FileRegion) -> KnownBlocks:
        """The indexed images, each loaded on the first block CRC it shares with the
        image being scanned (at most MAX_SOURCES of them)."""
        kb = cls()
        for path, summary in cache.summaries():
            hexs, size = summary.get("crcs"), summary.get("size")
            if not isinstance(hexs, str) or type(size) is not int:
                continue
            for i in range(0, len(hexs) - 7, 8):
                with contextlib.suppress(ValueError):
                    kb.lazy.setdefault(int(hexs[i:i + 8], 16), []).append((path, size))
        kb.region = region
        return kb

    def _load(self, crc: int) -> None:
        if self.region is None:
            return
        for path, size in self.lazy.pop(crc, []):
            if path in self.loaded or len(self.loaded) >= MAX_SOURCES:
                continue
            self.loaded.add(path)
            try:
                _, body = read_file(path)
                self.add_source(index_codec.restore(body, self.region, "install.img", size))
            except (OSError, IndexCorrupt):
                continue

    def match(self, region: FileRegion, block: bzb.Block) -> tuple[bytes, bytes] | None:
        if block.crc in self.lazy:
            self._load(block.crc)
        cands = self.by_key.get((block.crc, block.end - block.start))
        if not cands:
            return None
        bits = bzb.block_bits(region, block)
        own = block_digest(bits.buf, bits.bit_off, bits.nbits)
        for k in cands:
            d = own if k.bit_off == bits.bit_off else \
                block_digest(realigned(bits, k.bit_off), k.bit_off, bits.nbits)
            if d == k.digest:
                self.last = k
                return skeleton(k.src, k.uoff, k.uoff + k.ulen), own
        return None


def skeleton(source: _Source, u0: int, u1: int) -> bytes:
    """Bytes [u0, u1) of the source's uncompressed stream with everything the cpio
    scanner reads reproduced (headers, symlink targets, zeros between entries, junk)."""
    src = source.scan
    buf = bytearray(u1 - u0)
    i = max(0, bisect.bisect_right(source.offsets, u0) - 1)
    while i < len(src.raw) and src.raw[i].offset < u1:
        e = src.raw[i]
        i += 1
        if e.end <= u0:
            continue
        hlen = e.data_offset - e.offset
        name = e.name.encode("utf-8", "surrogateescape")
        h = cpio.Header(e.ino, _st_mode(e), e.uid, e.gid, e.nlink, e.mtime, e.stored_size,
                        e.dev[0], e.dev[1], e.rdev[0], e.rdev[1],
                        name + b"\0" * (hlen - cpio.HEADER_LEN - len(name) - 1),
                        magic=e.magic)
        raw = h.encode()[:hlen]  # namesize = hlen - 110: the same data offset, no padding
        if e.link_target is not None:
            raw += e.link_target.encode("utf-8", "surrogateescape")
        _put(buf, u0, e.offset, raw)
    for j in src.junk:
        if u0 <= j < u1:
            buf[j - u0] = 0xFF
    return bytes(buf)


def _put(buf: bytearray, u0: int, at: int, data: bytes) -> None:
    lo, hi = max(at, u0), min(at + len(data), u0 + len(buf))
    if hi > lo:
        buf[lo - u0:hi - u0] = data[lo - at:hi - at]


def _st_mode(e: Any) -> int:
    from xcptui.engine.initrd.entry import TYPE_BITS

    return int(TYPE_BITS.get(e.type, 0) | e.mode)


def _unknown(scan: ImageScan) -> list[tuple[int, int]]:
    """Ranges a skeleton does not reproduce / a scan skips: data of every entry that is
    not a symlink (and the padding after any data), and everything after junk."""
    out = []
    for e in scan.raw:
        a = e.data_offset + (e.stored_size if e.link_target is not None else 0)
        if e.end > a:
            out.append((a, e.end))
    for j in scan.junk:
        seg = next((s for s in scan.segment_info if s.uoffset <= j < s.uend), None)
        if seg is not None:
            out.append((j + 1, seg.uend))
    return sorted(out)


# -- the incremental scan -------------------------------------------------------------


def unfaithful(scan: ImageScan, sources: list[tuple[int, int, _Source, int]]) -> set[int]:
    """Uncompressed offsets of reused blocks whose skeleton the scan read where it is
    not the real data (then they must be decoded). ``sources``: (uoff, ulen, source
    scan, source uoff) of each reused block."""
    skipped = _unknown(scan)
    starts = [a for a, _ in skipped]
    bad: set[int] = set()
    for uoff, ulen, src, suoff in sources:
        delta = uoff - suoff
        for a, b in _unknown_in(src, suoff, suoff + ulen):
            a, b = a + delta, b + delta
            k = bisect.bisect_right(starts, a) - 1
            if k < 0 or skipped[k][1] < b:
                bad.add(uoff)
                break
    return bad


def _unknown_in(src: _Source, u0: int, u1: int) -> list[tuple[int, int]]:
    rngs = src.unknown
    out = []
    k = max(0, bisect.bisect_right(src.unknown_starts, u0) - 1)
    while k < len(rngs) and rngs[k][0] < u1:
        a, b = max(rngs[k][0], u0), min(rngs[k][1], u1)
        if b > a:
            out.append((a, b))
        k += 1
    return out


@dataclass
class Incremental:
    scan: ImageScan
    blocks: int  # bzip2 blocks in the image
    decoded: int
    reused: int
    # (uoff, ulen, source scan, uoff in the source) of each block found in a source
    reused_from: list[tuple[int, int, ImageScan, int]] = field(default_factory=list)


class _Recorder(KnownBlocks):
    """KnownBlocks that remembers which source block each skeleton came from."""

    def __init__(self, base: KnownBlocks) -> None:
        super().__init__()
        self.by_key, self.sources = base.by_key, base.sources
        self.lazy, self.loaded, self.region = base.lazy, base.loaded, base.region
        self.used: list[_Known] = []

    def match(self, region: FileRegion, block: bzb.Block) -> tuple[bytes, bytes] | None:
        m = super().match(region, block)
        if m is not None and self.last is not None:
            self.used.append(self.last)
        return m


def incremental_scan(region: FileRegion, name: str, known: KnownBlocks, progress: Progress,
                     cancel: threading.Event | None) -> Incremental | None:
    """Scan ``region`` decoding only blocks ``known`` does not hold (all of them, when it
    recognises none: then this is a plain full scan). None when the skeletons cannot be
    trusted after three passes. InputError as a full scan would raise it."""
    force: set[int] = set()
    for _ in range(3):
        rec = _Recorder(known)
        scan = ImageScan(region, name, known=rec, force_decode=frozenset(force))
        scan.run(progress, cancel)
        srcs = [(u, n, k.src, k.uoff) for (u, n), k in zip(scan.reused, rec.used,
                                                             strict=True)]
        bad = unfaithful(scan, srcs)
        if not bad:
            total = sum(len(s.blocks) for s in scan.segment_info)
            return Incremental(scan, total, scan.decoded_blocks, len(scan.reused),
                               [(u, n, src.scan, su) for u, n, src, su in srcs])
        starts = {b.uoff: b.start for s in scan.segment_info for b in s.blocks}
        force |= {starts[u] for u in bad}
    return None


def scan_or_none(region: FileRegion, name: str, known: KnownBlocks, progress: Progress,
                 cancel: threading.Event | None) -> Incremental | None:
    """``incremental_scan``, None instead of InputError (a full decode gives the verdict)."""
    try:
        return incremental_scan(region, name, known, progress, cancel)
    except InputError:
        return None
