"""Writing the planned install.img: unchanged segments copied byte for byte, changed
ones streamed from their pieces.

For bzip2 every original block that lies wholly inside a copied range is reused bit
for bit and only the bytes around the changes are compressed again, all joined into
ONE bzip2 stream; other codecs are re-encoded in full.
"""

from __future__ import annotations

import bisect
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from xcptui.engine.errors import InputError
from xcptui.engine.events import Progress, check
from xcptui.engine.initrd import bzip2blocks as bzb
from xcptui.engine.initrd import cpio
from xcptui.engine.initrd.compression import CHUNK, OrderedPool, open_encoder
from xcptui.engine.initrd.edits import HostFile
from xcptui.engine.initrd.image import InstallImage
from xcptui.engine.initrd.units import Copy, ImagePlan, Unit


class _Counter:
    """Wraps the output file to count bytes (for the 4-byte alignment of plain cpio)."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.n = 0

    def write(self, data: bytes) -> int:
        self.out.write(data)
        self.n += len(data)
        return len(data)


@dataclass
class WriteStats:
    """What ``write`` did: how much of the original compressed data it could keep."""

    segments_copied: int = 0
    segments_rewritten: int = 0
    blocks_reused: int = 0  # bzip2 blocks copied bit for bit
    blocks_written: int = 0  # bzip2 blocks compressed again
    bytes_compressed: int = 0  # uncompressed bytes that went through a compressor
    size: int = 0  # bytes written


def write(img: InstallImage, plan: ImagePlan, out: BinaryIO, *,
          progress: Progress | None = None, cancel: threading.Event | None = None,
          reuse_blocks: bool = True) -> WriteStats:
    """Stream the new install.img into ``out`` (an open binary file).

    Unchanged segments are copied byte for byte. A changed bzip2 segment becomes one
    bzip2 stream in which every original block lying wholly inside unchanged bytes is
    reused as is (``reuse_blocks=False`` re-encodes everything: the reference path).
    """
    progress = progress or Progress()
    progress.step(f"{img.name}: writing", plan.new_usize)
    w = _Counter(out)
    stats = WriteStats()
    done = [0]

    def advance(n: int) -> None:
        done[0] += n
        progress.update(done[0])

    units = {u.first: u for u in plan.units}
    segs = img.segment_info
    pos, i = 0, 0
    while i < len(segs):
        seg = segs[i]
        _copy_region(img, pos, seg.offset, w, cancel)
        if seg.codec == "cpio" and w.n % 4:
            w.write(b"\0" * cpio.pad4(w.n))  # plain cpio must start 4-aligned
        unit = units.get(i)
        if unit is None:
            _copy_region(img, seg.offset, seg.end, w, cancel)
            stats.segments_copied += 1
            pos, i = seg.end, i + 1
            continue
        in_unit = segs[unit.first:unit.last + 1]
        if unit.codec == "bzip2" and all(s.codec == "bzip2" for s in in_unit):
            _write_bzip2(img, unit, w, advance, cancel, reuse_blocks, stats)
        else:
            _write_sequential(img, unit, w, advance, cancel)
            stats.bytes_compressed += unit.usize
        stats.segments_rewritten += len(in_unit)
        pos, i = segs[unit.last].end, unit.last + 1
    _copy_region(img, pos, img.region.size, w, cancel)
    stats.size = w.n
    progress.finish_step()
    return stats


def _copy_region(img: InstallImage, a: int, b: int, w: _Counter,
                 cancel: threading.Event | None) -> None:
    while a < b:
        check(cancel)
        data = img.region.pread(min(4 * CHUNK, b - a), a)
        if not data:
            raise InputError(f"{img.name}: unexpected end of file at offset {a}")
        w.write(data)
        a += len(data)


def _iter_pieces(img: InstallImage, unit: Unit, cancel: threading.Event | None
                 ) -> Iterator[bytes]:
    """The new uncompressed content of ``unit``: one sequential pass over the original."""
    copies = [(p.start, p.end) for p in unit.pieces if isinstance(p, Copy)]
    source = img.iter_ranges(copies, cancel)  # copies ascend: one pass over the original
    k = 0
    for p in unit.pieces:
        if isinstance(p, Copy):
            need = p.end - p.start
            while need:
                idx, chunk = next(source)
                if idx != k or len(chunk) > need:
                    raise AssertionError("copy ranges out of order")
                need -= len(chunk)
                yield chunk
            k += 1
        elif isinstance(p, HostFile):
            yield from _host_chunks(p, 0, p.size)
        else:
            yield p


def _host_chunks(h: HostFile, off: int, n: int) -> Iterator[bytes]:
    """Bytes [off, off + n) of a host file, checking it did not change since the plan."""
    try:
        with open(h.path, "rb") as fp:
            st = os.fstat(fp.fileno())
            if st.st_size != h.size or st.st_mtime_ns != h.mtime_ns:
                raise InputError(f"{h.path}: changed since the build was planned")
            fp.seek(off)
            while n:
                data = fp.read(min(CHUNK, n))
                if not data:
                    raise InputError(f"{h.path}: changed since the build was planned")
                n -= len(data)
                yield data
    except OSError as e:
        raise InputError(f"{h.path}: cannot read: {e.strerror}") from None


def _write_sequential(img: InstallImage, unit: Unit, w: _Counter,
                      advance: Callable[[int], None], cancel: threading.Event | None) -> None:
    enc = open_encoder(unit.codec, w, unit.level)  # type: ignore[arg-type]
    try:
        for chunk in _iter_pieces(img, unit, cancel):
            enc.write(chunk)
            advance(len(chunk))
        enc.close()
    except BaseException:
        abort = getattr(enc, "abort", None)
        if abort is not None:
            abort()
        raise


# bzip2 splicing ---------------------------------------------------------------


@dataclass(frozen=True)
class BlockSlice:
    """Bytes [lo, hi) of an original bzip2 block (decoded again by the worker)."""

    block: bzb.Block
    level: int
    lo: int
    hi: int


@dataclass(frozen=True)
class HostSlice:
    """Bytes [off, off + n) of a host file."""

    host: HostFile
    off: int
    n: int


# What a compress task gathers: original block bytes, host file bytes or new bytes.
Source = BlockSlice | HostSlice | bytes
_Result = tuple[list[bzb.BlockBits], int, bool]  # blocks, uncompressed size, fresh?


def _write_bzip2(img: InstallImage, unit: Unit, w: _Counter, advance: Callable[[int], None],
                 cancel: threading.Event | None, reuse: bool, stats: WriteStats) -> None:
    segs = img.segment_info[unit.first:unit.last + 1]
    blocks = [(b, s.level) for s in segs for b in s.blocks]
    sw = bzb.StreamWriter(w.write, unit.level)
    tasks = _bzip2_tasks(img, unit, blocks, reuse)
    with OrderedPool[_Result](workers=2, window=8) as pool:
        for bits, n, fresh in pool.run(tasks, check=lambda: check(cancel)):
            for b in bits:
                sw.add(b)
            if fresh:
                stats.blocks_written += len(bits)
                stats.bytes_compressed += n
            else:
                stats.blocks_reused += len(bits)
            advance(n)
    sw.close()


def _bzip2_tasks(img: InstallImage, unit: Unit, blocks: list[tuple[bzb.Block, int]],
                 reuse: bool) -> Iterator[Callable[[], _Result]]:
    """Reuse tasks for whole original blocks inside copied ranges; compress tasks for
    everything else, cut into pieces of about one block."""
    cap = bzb.nblock_max(unit.level)
    starts = [b.uoff for b, _ in blocks]
    fresh: list[Source] = []
    size = 0

    def flush() -> Iterator[Callable[[], _Result]]:
        nonlocal fresh, size
        if fresh:
            srcs, fresh, size = fresh, [], 0
            yield lambda: _compress_sources(img, srcs, unit.level)

    def add(src: Source, n: int) -> Iterator[Callable[[], _Result]]:
        nonlocal size
        if size and size + n > cap:
            yield from flush()
        fresh.append(src)
        size += n

    def add_range(a: int, b: int) -> Iterator[Callable[[], _Result]]:
        k = max(0, bisect.bisect_right(starts, a) - 1)
        while a < b and k < len(blocks):
            blk, level = blocks[k]
            lo, hi = max(a, blk.uoff), min(b, blk.uoff + blk.ulen)
            if hi > lo:
                yield from add(BlockSlice(blk, level, lo - blk.uoff, hi - blk.uoff), hi - lo)
            a = max(a, hi)
            k += 1

    for p in unit.pieces:
        if isinstance(p, Copy):
            first = bisect.bisect_left(starts, p.start)
            last = first
            while reuse and last < len(blocks) and \
                    blocks[last][0].uoff + blocks[last][0].ulen <= p.end:
                last += 1
            if not reuse or last == first:
                yield from add_range(p.start, p.end)
                continue
            yield from add_range(p.start, blocks[first][0].uoff)
            yield from flush()
            for blk, _ in blocks[first:last]:
                yield _reuse_task(img, blk)
            tail = blocks[last - 1][0]
            yield from add_range(tail.uoff + tail.ulen, p.end)
        elif isinstance(p, HostFile):
            for off in range(0, p.size, cap):
                n = min(cap, p.size - off)
                yield from add(HostSlice(p, off, n), n)
        else:
            for off in range(0, len(p), cap):
                yield from add(p[off:off + cap], len(p[off:off + cap]))
    yield from flush()


def _reuse_task(img: InstallImage, blk: bzb.Block) -> Callable[[], _Result]:
    return lambda: ([bzb.block_bits(img.region, blk)], blk.ulen, False)


def _compress_sources(img: InstallImage, srcs: list[Source], level: int) -> _Result:
    """Worker: gather the bytes (decoding original blocks as needed) and compress them."""
    parts: list[bytes] = []
    cache: dict[int, bytes] = {}
    for s in srcs:
        if isinstance(s, BlockSlice):
            blk = s.block
            if id(blk) not in cache:
                try:
                    cache = {id(blk): bzb.decode_block(img.region, blk, s.level)}
                except bzb.BlockError:
                    raise InputError(f"{img.name}: bzip2 block at offset {blk.start >> 3} no "
                                     "longer decodes (file changed?)") from None
            parts.append(cache[id(blk)][s.lo:s.hi])
        elif isinstance(s, HostSlice):
            parts.append(b"".join(_host_chunks(s.host, s.off, s.n)))
        else:
            parts.append(s)
    data = b"".join(parts)
    return bzb.compress_blocks(data, level), len(data), True
