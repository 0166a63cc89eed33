"""The one decoding pass over install.img: segments, every header, spooled file copies.

``ImageScan.run`` decodes every segment once (bzip2 blocks in parallel), keeps only
the headers and records, for bzip2, where every compressed block starts and which
uncompressed bytes it holds, so that reading an entry later decodes just the blocks
that cover it. Files chosen by a spool predicate are copied to the host while they
stream past, so a later depmod run needs no second decode.

Each bzip2 block's compressed bits are digested too (``block_digest``): with the
index (``index_codec``) a later verify recognises blocks copied bit for bit into a
new image (``known_blocks``) and needs not decode them. A scan whose ``known``
oracle recognises a block feeds the scanner a skeleton of it (headers and symlink
targets exact, file data zeros): such a scan is for checking structure only.

What a scan records is persisted (``index_codec``): when it starts to learn or judge
something new (a new problem, a new field), bump ``index_cache.FORMAT`` so older
index entries are ignored and rebuilt.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from xcptui.engine import limits
from xcptui.engine.errors import InputError
from xcptui.engine.events import Progress, check
from xcptui.engine.initrd import bzip2blocks as bzb
from xcptui.engine.initrd import cpio
from xcptui.engine.initrd.compression import (
    CHUNK,
    SUPPORTED,
    FileRegion,
    SeqDecoder,
    detect,
    gzip_level,
    hex_head,
)
from xcptui.engine.initrd.entry import Entry, Segment


class BlockOracle(Protocol):
    """Recognises a bzip2 block whose bits equal an indexed one (see known_blocks)."""

    def match(self, region: FileRegion, block: bzb.Block) -> tuple[bytes, bytes] | None:
        """(skeleton of its uncompressed bytes, the block's own digest) or None."""


def block_digest(buf: bytes, bit_off: int, nbits: int) -> bytes:
    """sha256 of a block's bits as they lie in ``buf`` (bits outside masked to zero).

    The digest depends on the block's bit alignment (``bit_off``): a block copied to
    another alignment is compared after ``realigned`` (known_blocks)."""
    b1 = (bit_off + nbits + 7) >> 3
    raw = bytearray(buf[:b1])
    raw[0] &= 0xFF >> bit_off
    tail = (bit_off + nbits) & 7
    if tail:
        raw[-1] &= (0xFF << (8 - tail)) & 0xFF
    h = hashlib.sha256(bytes([bit_off]))
    h.update(raw)
    return h.digest()


def own_digest(region: FileRegion, block: bzb.Block) -> bytes:
    bits = bzb.block_bits(region, block)
    return block_digest(bits.buf, bits.bit_off, bits.nbits)


class ImageScan:
    """Everything one pass over the image learns; the spool directory lives until ``close``."""

    def __init__(self, region: FileRegion, name: str,
                 spool: Callable[[str], bool] | None = None,
                 spool_dir: Path | None = None, known: BlockOracle | None = None,
                 force_decode: frozenset[int] = frozenset()) -> None:
        self.region = region
        self.name = name
        self.known = known
        self.force_decode = force_decode  # block start bits the oracle must not answer
        self.reused: list[tuple[int, int]] = []  # (uoff, ulen) of skeleton-fed blocks
        self.decoded_blocks = 0
        self.block_digests: dict[int, list[bytes]] = {}  # segment index -> digests
        self.junk: list[int] = []  # uncompressed offsets of junk after a TRAILER!!!
        self.segment_info: list[Segment] = []
        self.problems: list[str] = []  # kernel-rule problems userspace tools would not see
        self.raw: list[Entry] = []
        self.groups: dict[int, list[int]] = {}  # hardlink group id -> member indexes
        self._group_keys: dict[tuple[int, int, int, int], int] = {}
        self._spool_pred = spool
        self.spool_dir: Path | None = None
        if spool is not None:
            self.make_spool_dir(spool_dir)
        self._spooling: list[tuple[int, int, BinaryIO, Path]] = []
        self.spooled: dict[tuple[int, int], Path] = {}  # data range -> host copy

    def close(self) -> None:
        for _a, _b, fp, _p in self._spooling:
            fp.close()
        self._spooling.clear()
        if self.spool_dir is not None:
            shutil.rmtree(self.spool_dir, ignore_errors=True)
            self.spool_dir = None
            self.spooled.clear()

    def make_spool_dir(self, parent: Path | None) -> Path:
        self.spool_dir = Path(tempfile.mkdtemp(prefix="xcptui-spool-", dir=parent))
        return self.spool_dir

    @staticmethod
    def spool_wanted(e: Entry, pred: Callable[[str], bool]) -> bool:
        return bool(e.type == "file" and e.stored_size and not e.unsafe and e.path
                    and pred(e.path))

    def _spool_start(self, e: Entry) -> None:
        assert self.spool_dir is not None
        host = self.spool_dir / str(e.index)
        a = e.data_offset
        self._spooling.append((a, a + e.stored_size, open_0644(host), host))

    def _tap(self, chunk: bytes, start: int) -> None:
        """Copy the part of a decoded chunk that belongs to files being spooled."""
        if not self._spooling:
            return
        end = start + len(chunk)
        keep = []
        for a, b, fp, host in self._spooling:
            lo, hi = max(a, start), min(b, end)
            if lo < hi:
                fp.write(chunk[lo - start:hi - start])
            if b <= end:
                fp.close()
                self.spooled[(a, b)] = host
            else:
                keep.append((a, b, fp, host))
        self._spooling = keep

    def run(self, progress: Progress, cancel: threading.Event | None) -> None:
        """Decode every segment once; raises InputError on anything unreadable."""
        progress.step(f"{self.name}: reading", self.region.size)
        scanner = cpio.NewcScanner(self._add_raw)
        pos = 0
        try:
            while True:
                pos = self._skip_zeros(pos)
                if pos >= self.region.size:
                    break
                seg = self._open_segment(pos, scanner)
                self._scan_segment(seg, scanner, progress, cancel)
                seg.usize = scanner.pos - seg.uoffset
                self._segment_done(seg, scanner)
                pos = seg.end
        except cpio.CpioFormatError as e:
            raise InputError(f"{self.name}: {e.what} at offset {e.offset} of the "
                             "uncompressed archive") from None
        if not self.segment_info:
            raise InputError(f"{self.name}: empty file (no cpio data)")
        st = scanner.state()
        if not st.between_entries:
            raise InputError(f"{self.name}: cpio archive truncated inside entry "
                             f"'{st.in_entry}' (uncompressed offset {scanner.pos})")
        if not any(e.is_trailer for e in self.raw):
            self.problems.append(f"{self.name}: no TRAILER!!! entry (GNU cpio will "
                                 "complain; the kernel does not mind)")
        progress.update(self.region.size)
        progress.finish_step()

    def _skip_zeros(self, pos: int) -> int:
        while pos < self.region.size:
            buf = self.region.pread(CHUNK, pos)
            stripped = buf.lstrip(b"\0")
            pos += len(buf) - len(stripped)
            if stripped:
                break
        return pos

    def _open_segment(self, pos: int, scanner: cpio.NewcScanner) -> Segment:
        head = self.region.pread(16, pos)
        codec = detect(head)
        n = len(self.segment_info)
        if n >= limits.MAX_SEGMENTS:  # plain cpio ones too: each costs a read chunk
            raise InputError(f"{self.name}: more than {limits.MAX_SEGMENTS} segments "
                             "(a bomb?)")
        if codec is None:
            if n == 0:
                raise InputError(f"{self.name}: unknown compression (first bytes "
                                 f"{hex_head(head)})")
            raise InputError(f"{self.name}: unexpected data after segment {n} at offset "
                             f"{pos} (first bytes {hex_head(head)})")
        if codec not in SUPPORTED:
            raise InputError(f"{self.name}: {codec} compression (segment {n + 1}) is not "
                             "supported")
        if codec == "cpio" and pos % 4:
            self.problems.append(f"{self.name}: plain cpio segment at offset {pos} is not "
                                 "4-byte aligned (the kernel rejects it)")
        if scanner.state().between_entries:
            scanner.rebase()
        seg = Segment(n, codec, pos, pos, scanner.pos, head=head)
        if codec == "gzip":
            seg.level = gzip_level(head)
        self.segment_info.append(seg)
        return seg

    def _scan_segment(self, seg: Segment, scanner: cpio.NewcScanner, progress: Progress,
                      cancel: threading.Event | None) -> None:
        if seg.codec == "bzip2":
            self._scan_bzip2(seg, scanner, progress, cancel)
        elif seg.codec == "cpio":
            self._scan_plain(seg, scanner, progress, cancel)
        else:
            dec = SeqDecoder(seg.codec, self.region, seg.offset, self.name)
            for chunk in dec.chunks():
                check(cancel)
                start = scanner.pos
                scanner.feed(chunk)
                self._tap(chunk, start)
                progress.update(min(self.region.size, seg.offset + scanner.pos - seg.uoffset))
            seg.end = dec.end
            if seg.codec == "xz" and len(seg.head) > 7 and seg.head[7] & 0x0F not in (0, 1):
                self.problems.append(f"{self.name}: xz segment {seg.index + 1} uses check "
                                     f"type {seg.head[7] & 0x0F}; the kernel's XZ decoder "
                                     "needs --check=crc32")

    def _scan_bzip2(self, seg: Segment, scanner: cpio.NewcScanner, progress: Progress,
                    cancel: threading.Event | None) -> None:
        scan = bzb.StreamScan(self.region, seg.offset, self.name)
        seg.level = scan.level
        combined = 0
        digests = self.block_digests.setdefault(seg.index, [])
        for block, data, digest, reused in self._bzip2_blocks(scan, cancel):
            block.uoff, block.ulen = scanner.pos, len(data)
            if reused:
                self.reused.append((block.uoff, block.ulen))
            seg.blocks.append(block)
            seg.block_starts.append(block.uoff)
            digests.append(digest)
            combined = bzb.rotl_xor(combined, block.crc)
            scanner.feed(data)
            self._tap(data, block.uoff)
            progress.update(block.end >> 3)
        if combined != scan.crc:
            raise InputError(f"{self.name}: bzip2 stream CRC mismatch in segment "
                             f"{seg.index + 1} (corrupt data)")
        seg.end = scan.end

    def _bzip2_blocks(self, scan: bzb.StreamScan, cancel: threading.Event | None
                      ) -> Iterator[tuple[bzb.Block, bytes, bytes, bool]]:
        """(block, data, digest, reused): decoded, or a skeleton when the oracle knows the block.

        Unknown blocks are decoded in runs of neighbours, so that a false magic match
        is merged only with the candidate right after it."""
        known = self.known
        if known is None:
            yield from self._decode(scan.blocks(), scan.level, cancel)
            return
        run: list[bzb.Block] = []
        for b in scan.blocks():
            m = None if b.start in self.force_decode else known.match(self.region, b)
            if m is None:
                run.append(b)
                continue
            yield from self._decode(iter(run), scan.level, cancel)
            run = []
            yield b, m[0], m[1], True
        yield from self._decode(iter(run), scan.level, cancel)

    def _decode(self, blocks: Iterator[bzb.Block], level: int, cancel: threading.Event | None
                ) -> Iterator[tuple[bzb.Block, bytes, bytes, bool]]:
        for block, data in bzb.decode_blocks(self.region, blocks, level,
                                             check=lambda: check(cancel), name=self.name):
            self.decoded_blocks += 1
            yield block, data, own_digest(self.region, block), False

    def _scan_plain(self, seg: Segment, scanner: cpio.NewcScanner, progress: Progress,
                    cancel: threading.Event | None) -> None:
        """A plain newc segment ends after its TRAILER!!! (then zeros or compressed data)."""
        pos = seg.offset
        scanner.stop_after_trailer = True
        if scanner.after_trailer:  # a new archive starts here
            scanner.after_trailer = False
            scanner.archive += 1
        try:
            while pos < self.region.size:
                check(cancel)
                buf = self.region.pread(CHUNK, pos)
                start = scanner.pos
                used = scanner.feed(buf)
                self._tap(buf[:used], start)
                pos += used
                progress.update(pos)
                if used < len(buf):
                    break
        finally:
            scanner.stop_after_trailer = False
        seg.end = pos

    def _segment_done(self, seg: Segment, scanner: cpio.NewcScanner) -> None:
        st = scanner.state()
        if not st.between_entries:
            self.problems.append(
                f"{self.name}: segment {seg.index + 1} ({seg.codec}) ends inside entry "
                f"'{st.in_entry}'; the kernel rejects this (\"junk at the end of "
                "compressed archive\")")
        if scanner.junk_at is not None:
            self.junk.append(scanner.junk_at)
            self.problems.append(f"{self.name}: non-zero data after TRAILER!!! in segment "
                                 f"{seg.index + 1} (the kernel rejects it)")
            scanner.junk_at = None

    def _add_raw(self, raw: cpio.RawEntry) -> None:
        e = entry_of(raw, len(self.segment_info) - 1, len(self.raw))
        if self._spool_pred is not None and self.spool_wanted(e, self._spool_pred):
            self._spool_start(e)
        self._link_group(e)
        h = raw.header
        if h.magic == cpio.MAGIC_CRC and not any("070702" in p for p in self.problems):
            self.problems.append(f"{self.name}: uses 070702 (crc) cpio headers, which "
                                 "kernels before 5.17 (XCP-ng's 4.19) reject")
        if len(h.name) + 1 > 4096 and not e.is_trailer:
            self.problems.append(f"{self.name}: entry name longer than PATH_MAX; the "
                                 f"kernel skips it: {e.name[:60]}...")
        self.raw.append(e)

    def restore_raw(self, raw: cpio.RawEntry, segment: int) -> None:
        """Add a header read back from the index (its problems were stored with it)."""
        e = entry_of(raw, segment, len(self.raw))
        self._link_group(e)
        self.raw.append(e)

    def _link_group(self, e: Entry) -> None:
        if e.type == "file" and e.nlink >= 2:
            key = (e.archive, e.dev[0], e.dev[1], e.ino)
            gid = self._group_keys.setdefault(key, len(self._group_keys))
            e.group = gid
            self.groups.setdefault(gid, []).append(e.index)


def entry_of(raw: cpio.RawEntry, segment: int, index: int) -> Entry:
    """The Entry a scanned (or restored) header stands for."""
    h = raw.header
    name = h.name.decode("utf-8", "surrogateescape")
    is_trailer = name == cpio.TRAILER
    rel = cpio.safe_relpath(name)
    return Entry(
        path=rel if rel is not None else name, name=name, type=cpio.entry_type(h.mode),
        mode=h.mode & 0o7777, uid=h.uid, gid=h.gid, size=h.filesize,
        stored_size=h.filesize, mtime=h.mtime, nlink=h.nlink, ino=h.ino,
        dev=(h.devmajor, h.devminor), rdev=(h.rdevmajor, h.rdevminor),
        link_target=(raw.link_target.decode("utf-8", "surrogateescape")
                     if raw.link_target is not None else None),
        segment=segment, offset=raw.offset,
        data_offset=raw.data_offset, end=raw.end, unsafe=rel is None and not is_trailer,
        index=index, archive=raw.archive, is_trailer=is_trailer, magic=h.magic,
    )


def open_0644(path: Path) -> BinaryIO:
    """A new host file, 0644 whatever the umask, never through a symlink."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    os.fchmod(fd, 0o644)
    return os.fdopen(fd, "wb")
