"""install.img: merged listing, reading, edit planning and rewriting, without root.

install.img is the installer's initramfs: one or more compressed (or plain) newc cpio
segments, later entries overriding earlier ones, exactly as the kernel unpacks it.

Reading: ``InstallImage.open`` decodes every segment once (bzip2 blocks in
parallel), keeps only the headers and records, for bzip2, where every compressed
block starts and which uncompressed bytes it holds. Reading an entry afterwards
decodes just the blocks that cover it.

Rewriting is a plan/write split. ``plan`` validates every edit and describes the new
archive as a sequence of pieces: "copy uncompressed bytes [a, b) of the original"
and "new bytes". Untouched entries are copied with their header bytes unchanged (so
owners, modes including 000, device nodes, mtimes, inode numbers and hardlinks
survive without root and without anything touching the disk). ``write`` then
streams the pieces: for bzip2 every original block that lies wholly inside a copied
range is reused bit for bit and only the bytes around the changes are compressed
again, all joined into ONE bzip2 stream; other codecs are re-encoded in full.
"""

from __future__ import annotations

import bisect
import os
import posixpath
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from xcptui.engine.errors import BuildError, InputError, XcptuiError
from xcptui.engine.events import Progress, check
from xcptui.engine.initrd import bzip2blocks as bzb
from xcptui.engine.initrd import cpio, kmod
from xcptui.engine.initrd.compression import (
    CHUNK,
    SUPPORTED,
    FileRegion,
    OrderedPool,
    SeqDecoder,
    detect,
    gzip_level,
    hex_head,
    human,
    open_encoder,
)
from xcptui.engine.layout import EntryKind

S_IFMT = 0o170000
MAX_SYMLINK_HOPS = 40


# ---------------------------------------------------------------------------
# public data types


@dataclass(slots=True)
class Entry:
    """One archive member as listed (the merged view shows the winning one per path)."""

    path: str  # normalised, "" for the root; the raw name when ``unsafe``
    name: str  # as stored, e.g. "./etc/shadow"
    type: str  # file | dir | symlink | chardev | blockdev | fifo | socket | unknown
    mode: int  # permission bits incl. setuid/setgid/sticky (0 for "----------")
    uid: int
    gid: int
    size: int  # bytes read() returns (for hardlinks: the data of the group)
    stored_size: int  # the header's size field (0 on hardlinks that do not carry data)
    mtime: int
    nlink: int
    ino: int
    dev: tuple[int, int]
    rdev: tuple[int, int]  # device numbers of chardev/blockdev entries
    link_target: str | None
    segment: int
    offset: int  # of the header, in the merged uncompressed stream
    data_offset: int
    end: int  # after the padded data
    unsafe: bool = False  # absolute name or a ".." component: never extracted
    index: int = 0  # position among all headers (archive order)
    group: int = -1  # hardlink group id, -1 when not hardlinked
    archive: int = 0
    is_trailer: bool = False
    magic: bytes = cpio.MAGIC_NEWC

    @property
    def is_dir(self) -> bool:
        return self.type == "dir"

    @property
    def is_symlink(self) -> bool:
        return self.type == "symlink"

    @property
    def st_mode(self) -> int:
        return _TYPE_BITS.get(self.type, 0) | self.mode

    @property
    def mode_string(self) -> str:
        """`ls -l` style, e.g. "----------" for /etc/shadow, "crw-------" for /dev/console."""
        return stat.filemode(self.st_mode)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "name": self.name, "type": self.type,
            "mode": f"{self.mode:04o}", "uid": self.uid, "gid": self.gid, "size": self.size,
            "mtime": self.mtime, "nlink": self.nlink, "ino": self.ino,
            "rdev": list(self.rdev) if self.type in ("chardev", "blockdev") else None,
            "link_target": self.link_target, "segment": self.segment, "unsafe": self.unsafe,
        }


_TYPE_BITS: dict[str, int] = {EntryKind.FILE: stat.S_IFREG, EntryKind.DIR: stat.S_IFDIR,
              EntryKind.SYMLINK: stat.S_IFLNK, EntryKind.CHARDEV: stat.S_IFCHR,
              EntryKind.BLOCKDEV: stat.S_IFBLK, EntryKind.FIFO: stat.S_IFIFO,
              EntryKind.SOCKET: stat.S_IFSOCK}


@dataclass
class Segment:
    """One compressed (or plain) cpio segment of the image."""

    index: int
    codec: str  # bzip2 | gzip | xz | lzma | zstd | cpio
    offset: int  # first byte in the image
    end: int  # byte after it (zero padding up to the next segment is not included)
    uoffset: int  # where its data starts in the merged uncompressed stream
    usize: int = 0
    level: int = 9  # bzip2 block-size level; gzip re-encode level
    head: bytes = b""
    blocks: list[bzb.Block] = field(default_factory=list)  # bzip2 only
    block_starts: list[int] = field(default_factory=list)  # uoff of each block, for bisect

    @property
    def uend(self) -> int:
        return self.uoffset + self.usize


# ---------------------------------------------------------------------------
# the image


class InstallImage:
    """Read-only view of an install.img (a whole file or a region of the ISO)."""

    def __init__(self, region: FileRegion, name: str) -> None:
        self.region = region
        self.name = name
        self.segment_info: list[Segment] = []
        self.problems: list[str] = []  # kernel-rule problems userspace tools would not see
        self._raw: list[Entry] = []
        self._map: dict[str, int] = {}  # path -> index of the winning entry
        self._all: dict[str, list[int]] = {}  # path -> every index (shadowed ones too)
        self._groups: dict[int, list[int]] = {}
        self._children: dict[str, list[int]] | None = None
        self._group_keys: dict[tuple[int, int, int, int], int] = {}
        # Spooling: copies of chosen files' data written while the one scan decodes them,
        # so a later depmod run needs no second decode of the image.
        self._spool_pred: Callable[[str], bool] | None = None
        self._spool_dir: Path | None = None
        self._spooling: list[tuple[int, int, BinaryIO, Path]] = []
        self.spooled: dict[tuple[int, int], Path] = {}  # data range -> host copy

    # -- opening ----------------------------------------------------------

    @classmethod
    def open(cls, path: Path | str, offset: int = 0, size: int | None = None, *,
             name: str = "install.img", progress: Progress | None = None,
             cancel: threading.Event | None = None,
             spool: Callable[[str], bool] | None = None,
             spool_dir: Path | None = None) -> InstallImage:
        """Scan the image once: codec(s), segments, every header. Never loads it whole.

        ``spool`` selects files (by image path) whose data is copied to a temporary
        directory under ``spool_dir`` during this scan; ``depmod_input`` is the predicate
        a driver edit wants. The copies are removed by ``close``.
        """
        region = FileRegion(Path(path), offset, size, name)
        img = cls(region, name)
        if spool is not None:
            img._spool_pred = spool
            img._spool_dir = Path(tempfile.mkdtemp(prefix="xcptui-spool-", dir=spool_dir))
        try:
            img._scan(progress or Progress(), cancel)
        except BaseException:
            img.close()
            raise
        return img

    def close(self) -> None:
        for _a, _b, fp, _p in self._spooling:
            fp.close()
        self._spooling.clear()
        if self._spool_dir is not None:
            shutil.rmtree(self._spool_dir, ignore_errors=True)
            self._spool_dir = None
            self.spooled.clear()
        self.region.close()

    def _spool_start(self, e: Entry) -> None:
        assert self._spool_dir is not None
        host = self._spool_dir / str(e.index)
        a = e.data_offset
        self._spooling.append((a, a + e.stored_size, _open_0644(host), host))

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

    def __enter__(self) -> InstallImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def compression(self) -> str:
        """Codec of the main segment: the first compressed one ("cpio" if none is)."""
        for s in self.segment_info:
            if s.codec != "cpio":
                return s.codec
        return self.segment_info[0].codec if self.segment_info else "cpio"

    @property
    def segments(self) -> int:
        return len(self.segment_info)

    @property
    def usize(self) -> int:
        return self.segment_info[-1].uend if self.segment_info else 0

    def _scan(self, progress: Progress, cancel: threading.Event | None) -> None:
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
        if not any(e.is_trailer for e in self._raw):
            self.problems.append(f"{self.name}: no TRAILER!!! entry (GNU cpio will "
                                 "complain; the kernel does not mind)")
        self._index()
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
        for block, data in bzb.decode_blocks(self.region, scan.blocks(), scan.level,
                                             check=lambda: check(cancel), name=self.name):
            block.uoff, block.ulen = scanner.pos, len(data)
            seg.blocks.append(block)
            seg.block_starts.append(block.uoff)
            combined = bzb.rotl_xor(combined, block.crc)
            scanner.feed(data)
            self._tap(data, block.uoff)
            progress.update(block.end >> 3)
        if combined != scan.crc:
            raise InputError(f"{self.name}: bzip2 stream CRC mismatch in segment "
                             f"{seg.index + 1} (corrupt data)")
        seg.end = scan.end

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
            self.problems.append(f"{self.name}: non-zero data after TRAILER!!! in segment "
                                 f"{seg.index + 1} (the kernel rejects it)")
            scanner.junk_at = None

    def _add_raw(self, raw: cpio.RawEntry) -> None:
        h = raw.header
        name = h.name.decode("utf-8", "surrogateescape")
        is_trailer = name == cpio.TRAILER
        rel = cpio.safe_relpath(name)
        kind = cpio.entry_type(h.mode)
        e = Entry(
            path=rel if rel is not None else name, name=name, type=kind,
            mode=h.mode & 0o7777, uid=h.uid, gid=h.gid, size=h.filesize,
            stored_size=h.filesize, mtime=h.mtime, nlink=h.nlink, ino=h.ino,
            dev=(h.devmajor, h.devminor), rdev=(h.rdevmajor, h.rdevminor),
            link_target=(raw.link_target.decode("utf-8", "surrogateescape")
                         if raw.link_target is not None else None),
            segment=len(self.segment_info) - 1, offset=raw.offset,
            data_offset=raw.data_offset, end=raw.end, unsafe=rel is None and not is_trailer,
            index=len(self._raw), archive=raw.archive, is_trailer=is_trailer, magic=h.magic,
        )
        if (self._spool_pred is not None and kind == "file" and h.filesize and rel
                and self._spool_pred(rel)):
            self._spool_start(e)
        if kind == "file" and h.nlink >= 2:
            key = (raw.archive, h.devmajor, h.devminor, h.ino)
            gid = self._group_keys.setdefault(key, len(self._group_keys))
            e.group = gid
            self._groups.setdefault(gid, []).append(e.index)
        if h.magic == cpio.MAGIC_CRC and not any("070702" in p for p in self.problems):
            self.problems.append(f"{self.name}: uses 070702 (crc) cpio headers, which "
                                 "kernels before 5.17 (XCP-ng's 4.19) reject")
        if len(h.name) + 1 > 4096 and not is_trailer:
            self.problems.append(f"{self.name}: entry name longer than PATH_MAX; the "
                                 f"kernel skips it: {name[:60]}...")
        self._raw.append(e)

    def _index(self) -> None:
        for e in self._raw:
            if e.is_trailer or e.unsafe:
                continue
            self._map[e.path] = e.index
            self._all.setdefault(e.path, []).append(e.index)
        for members in self._groups.values():
            carrier = next((i for i in reversed(members) if self._raw[i].stored_size), None)
            size = self._raw[carrier].stored_size if carrier is not None else 0
            for i in members:
                self._raw[i].size = size

    # -- listing ----------------------------------------------------------

    def entries(self) -> list[Entry]:
        """The merged view in archive order: one entry per path (the last one wins),
        plus entries with unsafe names (flagged ``unsafe``; never extracted)."""
        winners = set(self._map.values())
        return [e for e in self._raw
                if not e.is_trailer and (e.index in winners or e.unsafe)]

    def all_headers(self) -> list[Entry]:
        """Every header in archive order, shadowed duplicates and trailers included."""
        return list(self._raw)

    def get(self, path: str) -> Entry | None:
        """The entry at "etc/shadow" (also "/etc/shadow", "./etc/shadow"); no symlinks followed."""
        p = cpio.image_path(path)
        if p is None:
            return None
        i = self._map.get(p)
        return self._raw[i] if i is not None else None

    def _child_index(self) -> dict[str, list[int]]:
        if self._children is None:
            ch: dict[str, list[int]] = {}
            for p, i in self._map.items():
                if p:
                    ch.setdefault(posixpath.dirname(p), []).append(i)
            self._children = ch
        return self._children

    def listdir(self, path: str) -> list[Entry]:
        """Children of a directory sorted by name (a non-directory lists as itself)."""
        p = self.resolve(path)
        e = self.get(p) if p is not None else None
        if p is None or (e is None and p != ""):
            raise InputError(f"{self.name}: no such file or directory: {path}")
        if e is not None and not e.is_dir:
            return [e]
        kids = [self._raw[i] for i in self._child_index().get(p, [])]
        return sorted(kids, key=lambda k: k.path)

    def walk(self, top: str = "") -> Iterator[Entry]:
        """``top`` and everything below it (merged view, archive order)."""
        p = cpio.image_path(top)
        if p is None:
            return
        prefix = p + "/" if p else ""
        for e in self.entries():
            if not e.unsafe and (e.path == p or e.path.startswith(prefix)):
                yield e

    def resolve(self, path: str, follow_last: bool = True) -> str | None:
        """Follow symlinks inside the image (e.g. "lib" -> "usr/lib" on EL7 images)."""
        p = cpio.image_path(path)
        if p is None:
            return None
        return _resolve(p, self._lookup_link, follow_last)

    def _lookup_link(self, p: str) -> str | None:
        e = self.get(p)
        return e.link_target if e is not None and e.is_symlink else None

    def kernels(self) -> list[str]:
        """Kernel versions with a lib/modules/<version> tree, the main kernel first.

        XCP-ng's main kernel is "4.19.0+1" and kernel-alt uses the real sublevel
        ("4.19.309"), so: a version containing "+" is main; otherwise the lowest.
        """
        d = self.resolve("lib/modules")
        if d is None:
            return []
        vers = [e.path.rsplit("/", 1)[-1] for e in self.listdir_safe(d) if e.is_dir]
        return kmod.order_kernels(vers)

    def kernel_dir(self, kver: str) -> str:
        d = self.resolve("lib/modules") or "lib/modules"
        return f"{d}/{kver}"

    def listdir_safe(self, path: str) -> list[Entry]:
        try:
            return self.listdir(path)
        except InputError:
            return []

    # -- reading ------------------------------------------------------------

    def read(self, path: str, limit: int | None = None) -> bytes:
        """Contents of a file (symlinks followed; hardlinks give the group's data)."""
        target = self.resolve(path)
        e = self.get(target) if target is not None else None
        if e is None:
            raise InputError(f"{self.name}: no such file: {path}")
        if e.is_dir:
            raise InputError(f"{self.name}: {path} is a directory")
        if e.type != "file":
            return b""
        a, b = self.data_range(e)
        if limit is not None:
            b = min(b, a + max(0, limit))
        return b"".join(self.iter_range(a, b))

    def data_range(self, e: Entry) -> tuple[int, int]:
        """Uncompressed range of the entry's data (the carrier's, for hardlinks)."""
        if e.group >= 0 and not e.stored_size:
            members = self._groups[e.group]
            carrier = next((i for i in reversed(members) if self._raw[i].stored_size), None)
            if carrier is not None:
                c = self._raw[carrier]
                return c.data_offset, c.data_offset + c.stored_size
        return e.data_offset, e.data_offset + e.stored_size

    def iter_range(self, a: int, b: int, cancel: threading.Event | None = None
                   ) -> Iterator[bytes]:
        """Uncompressed bytes [a, b) of the merged stream, in chunks."""
        for _, data in self.iter_ranges([(a, b)], cancel):
            yield data

    def iter_ranges(self, ranges: list[tuple[int, int]], cancel: threading.Event | None = None
                    ) -> Iterator[tuple[int, bytes]]:
        """Chunks of several sorted, non-overlapping ranges: (range index, bytes).

        Decodes each needed bzip2 block once (in parallel) or streams other codecs
        once from the start of their segment.
        """
        order = sorted(range(len(ranges)), key=lambda i: ranges[i])
        for seg in self.segment_info:
            mine = [(i, max(ranges[i][0], seg.uoffset), min(ranges[i][1], seg.uend))
                    for i in order if ranges[i][0] < seg.uend and ranges[i][1] > seg.uoffset]
            mine = [(i, a, b) for i, a, b in mine if b > a]
            if mine:
                yield from self._segment_ranges(seg, mine, cancel)

    def _segment_ranges(self, seg: Segment, want: list[tuple[int, int, int]],
                        cancel: threading.Event | None) -> Iterator[tuple[int, bytes]]:
        if seg.codec == "cpio":
            for i, a, b in want:
                for p in range(a, b, CHUNK):
                    check(cancel)
                    yield i, self.region.pread(min(CHUNK, b - p), seg.offset + p - seg.uoffset)
            return
        yield from _slice_stream(self._decoded(seg, want, cancel), want)

    def _decoded(self, seg: Segment, want: list[tuple[int, int, int]],
                 cancel: threading.Event | None) -> Iterator[tuple[int, bytes]]:
        """(uoffset, data) chunks of ``seg`` covering the wanted ranges."""
        if seg.codec == "bzip2":
            needed: dict[int, bzb.Block] = {}  # block uoff -> block, each block once
            for _, a, b in want:
                lo = bisect.bisect_right(seg.block_starts, a) - 1
                hi = bisect.bisect_left(seg.block_starts, b)
                for blk in seg.blocks[max(lo, 0):hi]:
                    needed[blk.uoff] = blk
            uniq = [needed[k] for k in sorted(needed)]
            for blk, data in bzb.decode_blocks(self.region, iter(uniq), seg.level,
                                               check=lambda: check(cancel), name=self.name):
                yield blk.uoff, data
            return
        last = max(b for _, _, b in want)
        u = seg.uoffset
        for chunk in SeqDecoder(seg.codec, self.region, seg.offset, self.name).chunks():
            check(cancel)
            yield u, chunk
            u += len(chunk)
            if u >= last:
                return

    def read_many(self, entries: list[Entry], cancel: threading.Event | None = None
                  ) -> dict[int, bytes]:
        """Data of several entries at once (entry.index -> bytes), one decode pass."""
        spans: dict[tuple[int, int], list[int]] = {}
        for e in entries:
            spans.setdefault(self.data_range(e), []).append(e.index)
        keys = sorted(k for k in spans if k[1] > k[0])
        parts: dict[int, list[bytes]] = {}
        for i, data in self.iter_ranges(keys, cancel):
            parts.setdefault(i, []).append(data)
        where = {k: n for n, k in enumerate(keys)}
        out: dict[int, bytes] = {}
        for k, idxs in spans.items():
            data = b"".join(parts.get(where[k], [])) if k in where else b""
            for idx in idxs:
                out[idx] = data
        return out


def _slice_stream(chunks: Iterator[tuple[int, bytes]], want: list[tuple[int, int, int]]
                  ) -> Iterator[tuple[int, bytes]]:
    """Cut (uoffset, data) chunks in ascending order into the wanted ranges."""
    k = 0
    for u, data in chunks:
        end = u + len(data)
        while k < len(want):
            i, a, b = want[k]
            if a >= end:
                break
            lo, hi = max(a, u), min(b, end)
            if hi > lo:
                yield i, data[lo - u:hi - u]
            if b <= end:
                k += 1
            else:
                break
        if k >= len(want):
            return


def _resolve(p: str, link_of: Callable[[str], str | None], follow_last: bool) -> str | None:
    """Resolve symlinks component by component, like the kernel would after unpacking."""
    parts = [x for x in p.split("/") if x]
    done: list[str] = []
    hops = 0
    while parts:
        comp = parts.pop(0)
        if comp == "..":
            if done:
                done.pop()
            continue
        cur = "/".join([*done, comp])
        target = link_of(cur) if (parts or follow_last) else None
        if target is None:
            done.append(comp)
            continue
        hops += 1
        if hops > MAX_SYMLINK_HOPS:
            return None
        base = [] if target.startswith("/") else list(done)
        parts = [x for x in target.split("/") if x and x != "."] + parts
        done = base
    return "/".join(done)


# ---------------------------------------------------------------------------
# edits


@dataclass
class AddFile:
    """Add or replace a regular file. A replaced file keeps its owner and mode unless
    given; a new one is root:root 0644 (0755 when the host file is executable)."""

    dest: str
    source: Path | bytes
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None


@dataclass
class RemovePath:
    """Remove a file, a symlink or a whole directory subtree."""

    path: str


@dataclass
class AddDriver:
    """Install a kernel module (default lib/modules/<kver>/updates/<name>.ko), remove
    every other copy of the same module in that kernel tree, regenerate the index."""

    source: Path
    kernel: str | None = None
    dest: str | None = None
    force: bool = False


@dataclass
class AddRpmPayload:
    """Copy an RPM's files into the image (no scriptlets, no rpmdb update)."""

    source: Path


Edit = AddFile | RemovePath | AddDriver | AddRpmPayload


@dataclass(frozen=True)
class HostFile:
    """File data that stays on the host until written (checked unchanged at write)."""

    path: Path
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Copy:
    """Uncompressed bytes [start, end) of the original image."""

    start: int
    end: int


Piece = Copy | bytes | HostFile


@dataclass
class Unit:
    """Consecutive segments that are rewritten together, as pieces of new content."""

    first: int  # index of the first segment
    last: int
    codec: str
    level: int
    pieces: list[Piece]
    usize: int  # new uncompressed size


@dataclass
class ImagePlan:
    """What ``write`` will produce. ``empty``: nothing changes, do not rewrite at all."""

    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.units

    @property
    def new_usize(self) -> int:
        return sum(u.usize for u in self.units)


@dataclass(eq=False)
class _New:
    """An entry the rewrite emits: new, a replacement, or a regenerated header."""

    path: str
    header: cpio.Header
    data: bytes | HostFile = b""
    link: _NewLink | None = None  # hardlink group of new entries (RPM payloads)

    @property
    def type(self) -> str:
        return cpio.entry_type(self.header.mode)

    def data_len(self) -> int:
        return self.data.size if isinstance(self.data, HostFile) else len(self.data)


@dataclass(eq=False)
class _NewLink:
    ino: int
    data: bytes = b""
    members: list[_New] = field(default_factory=list)


Node = int | _New  # int: index of an original entry


def _fmt_mode(mode: int) -> str:
    return f"{mode & 0o7777:04o}"


# ---------------------------------------------------------------------------
# planning


class _Planner:
    """Applies edits to a virtual tree: original entries by index plus new entries."""

    def __init__(self, img: InstallImage, progress: Progress,
                 cancel: threading.Event | None) -> None:
        self.img, self.progress, self.cancel = img, progress, cancel
        self.raw = img._raw
        self.live: dict[str, Node] = dict(img._map)
        self.removed: set[int] = set()
        self.replaced: dict[int, _New] = {}
        self.after: dict[int, list[_New]] = {}
        self.before: set[int] = set()  # slots whose insertions go before them (trailers)
        self.where: dict[int, int] = {}  # id(_New) -> slot holding it
        self.changes: list[str] = []
        self.warnings: list[str] = []
        self.now = int(time.time())
        self.next_ino = max((e.ino for e in self.raw), default=0) + 1
        self.prefix = self._name_style()
        self.kernel_dirs = {k: img.kernel_dir(k) for k in img.kernels()}
        self.affected: set[str] = set()
        self._subtree_end: dict[str, int] | None = None
        self._depmod_conf = _resolve("etc/depmod.d", self._link_of, True) or "etc/depmod.d"

    # -- the virtual tree -----------------------------------------------------

    def _name_style(self) -> str:
        for e in self.raw:
            if not e.is_trailer:
                return "./" if e.name.startswith("./") or e.name == "." else ""
        return "./"

    def type_of(self, node: Node) -> str:
        return self.raw[node].type if isinstance(node, int) else node.type

    def _link_of(self, p: str) -> str | None:
        node = self.live.get(p)
        if node is None or self.type_of(node) != "symlink":
            return None
        if isinstance(node, int):
            return self.raw[node].link_target
        return node.data.decode("utf-8", "surrogateescape") if isinstance(node.data, bytes) \
            else None

    def resolve(self, p: str, follow_last: bool = True) -> str:
        r = _resolve(p, self._link_of, follow_last)
        if r is None:
            raise InputError(f"{self.img.name}: too many symlinks resolving {p}")
        return r

    def norm(self, path: str, what: str) -> str:
        p = cpio.image_path(path)
        if p is None or p == "":
            raise InputError(f"{what}: path '{path}' is not a file path inside "
                             f"{self.img.name}")
        return p

    def subtree_end(self) -> dict[str, int]:
        """Directory -> index of the last original entry at or below it."""
        if self._subtree_end is None:
            end: dict[str, int] = {}
            for e in self.raw:
                if e.is_trailer or e.unsafe:
                    continue
                end[""] = e.index
                parts = e.path.split("/") if e.path else []
                for k in range(1, len(parts) + 1):
                    end["/".join(parts[:k])] = e.index
            self._subtree_end = end
        return self._subtree_end

    def anchor(self, parent: str) -> tuple[int, bool]:
        """(slot, before) where new children of ``parent`` are inserted."""
        node = self.live.get(parent)
        if isinstance(node, _New):
            return self.where[id(node)], False
        ends = self.subtree_end()
        if parent in ends:
            return ends[parent], False
        if "" in ends:
            return ends[""], False
        trailers = [e.index for e in self.raw if e.is_trailer]
        if not trailers:
            raise InputError(f"{self.img.name}: has no entries to add files next to")
        return trailers[-1], True

    def insert(self, new: _New, parent: str, slot: int | None = None) -> None:
        before = False
        if slot is None:
            slot, before = self.anchor(parent)
        if before:
            self.before.add(slot)
        self.after.setdefault(slot, []).append(new)
        self.where[id(new)] = slot
        self.live[new.path] = new

    def header(self, path: str, st_mode: int, uid: int, gid: int, mtime: int,
               rdev: tuple[int, int] = (0, 0)) -> cpio.Header:
        ino = self.next_ino
        self.next_ino += 1
        name = (self.prefix + path).encode("utf-8", "surrogateescape")
        nlink = 2 if stat.S_ISDIR(st_mode) else 1
        return cpio.Header(ino, st_mode, uid, gid, nlink, mtime, 0, 0, 0, rdev[0], rdev[1],
                           name)

    def ensure_dir(self, d: str) -> str:
        """Make sure directory ``d`` exists (creating parents 0755 root:root); returns
        its resolved path."""
        if d == "":
            return ""
        parent = self.ensure_dir(posixpath.dirname(d))
        cand = posixpath.join(parent, posixpath.basename(d)) if parent else \
            posixpath.basename(d)
        node = self.live.get(cand)
        if node is None:
            new = _New(cand, self.header(cand, stat.S_IFDIR | 0o755, 0, 0, self.now))
            self.insert(new, parent)
            self.changes.append(f"create directory {cand} (0755 root:root)")
            return cand
        if self.type_of(node) == "symlink":
            cand = self.resolve(cand)
            node = self.live.get(cand)
        if node is None or self.type_of(node) != "dir":
            raise InputError(f"{self.img.name}: cannot create {d}: {cand} is not a directory")
        return cand

    def place(self, path: str) -> str:
        """Final location of a new file: parents created, symlinked parents followed."""
        parent = self.ensure_dir(posixpath.dirname(path))
        base = posixpath.basename(path)
        return f"{parent}/{base}" if parent else base

    def _touch(self, path: str) -> None:
        """Remember which kernels' module index must be rebuilt."""
        base = posixpath.basename(path)
        if path == self._depmod_conf or path.startswith(self._depmod_conf + "/"):
            self.affected.update(self.kernel_dirs)
            return
        for kver, kdir in self.kernel_dirs.items():
            if path == kdir or (path.startswith(kdir + "/") and
                                (kmod.module_stem(base) or base in kmod.DEPMOD_INPUTS)):
                self.affected.add(kver)

    # -- primitive operations --------------------------------------------------

    def put(self, path: str, kind: str, data: bytes | HostFile, *, mode: int | None,
            uid: int | None, gid: int | None, mtime: int, default_mode: int = 0o644,
            rdev: tuple[int, int] = (0, 0), link: _NewLink | None = None) -> str:
        """Create or replace ``path`` (parents must exist). Returns "add" or "replace"."""
        node = self.live.get(path)
        tbits = _TYPE_BITS[kind]
        if node is not None and self.type_of(node) == "dir" and kind != "dir":
            raise InputError(f"{self.img.name}: cannot replace directory {path} with a "
                             f"{kind}")
        self._touch(path)
        if node is None:
            h = self.header(path, tbits | (default_mode if mode is None else mode),
                            0 if uid is None else uid, 0 if gid is None else gid, mtime, rdev)
            new = _New(path, h, data, link)
            self.insert(new, posixpath.dirname(path))
            return "add"
        same_type = self.type_of(node) == kind
        if isinstance(node, _New):
            h = node.header
            slot: int | None = None
        else:
            src = self.raw[node]
            h = self.header(path, src.st_mode, src.uid, src.gid, mtime)
            h.name, h.ino, h.magic = src.name.encode("utf-8", "surrogateescape"), src.ino, \
                src.magic
            h.devmajor, h.devminor = src.dev
            if src.group >= 0:  # leaves its hardlink group: a fresh inode number
                h.ino = self.next_ino
                self.next_ino += 1
            slot = node
        keep_mode = h.mode & 0o7777 if same_type else default_mode
        h.mode = tbits | (keep_mode if mode is None else mode)
        h.uid = h.uid if uid is None and same_type else (uid or 0)
        h.gid = h.gid if gid is None and same_type else (gid or 0)
        h.mtime, h.nlink = mtime, (2 if kind == "dir" else 1)
        h.rdevmajor, h.rdevminor = rdev
        if isinstance(node, _New):
            node.data, node.link = data, link
            return "replace"
        new = _New(path, h, data, link)
        assert slot is not None
        self.replaced[slot] = new
        self.where[id(new)] = slot
        self.live[path] = new
        return "replace"

    def remove(self, path: str) -> int:
        """Remove ``path`` and everything below it; returns how many entries went."""
        prefix = path + "/"
        doomed = [p for p in self.live if p == path or p.startswith(prefix)]
        for p in doomed:
            node = self.live.pop(p)
            self._touch(p)
            if isinstance(node, _New):
                slot = self.where.pop(id(node))
                if self.replaced.get(slot) is node:
                    del self.replaced[slot]
                    self.removed.add(slot)
                else:
                    self.after[slot].remove(node)
            for i in self.img._all.get(p, []):  # shadowed copies in earlier segments too
                self.removed.add(i)
        return len(doomed)

    def current_data(self, node: Node) -> bytes:
        if isinstance(node, int):
            e = self.raw[node]
            a, b = self.img.data_range(e)
            return b"".join(self.img.iter_range(a, b, self.cancel))
        return _data_bytes(node.data)

    # -- edits ---------------------------------------------------------------

    def add_file(self, ed: AddFile) -> None:
        dest = self.place(self.norm(ed.dest, "AddFile"))
        data, label, executable, mtime = _file_source(ed.source, self.now)
        verb = self.put(dest, "file", data, mode=ed.mode, uid=ed.uid, gid=ed.gid, mtime=mtime,
                        default_mode=0o755 if executable else 0o644)
        h = self._header_of(dest)
        self.changes.append(f"{verb} {dest} ({human(_data_len(data))}, "
                            f"{_fmt_mode(h.mode)} {h.uid}:{h.gid}) from {label}")

    def _header_of(self, path: str) -> cpio.Header:
        node = self.live[path]
        assert isinstance(node, _New)
        return node.header

    def remove_path(self, ed: RemovePath) -> None:
        p = self.norm(ed.path, "RemovePath")
        parent = posixpath.dirname(p)
        real = posixpath.join(self.resolve(parent), posixpath.basename(p)) if parent else p
        if real not in self.live:
            raise InputError(f"{self.img.name}: cannot remove {ed.path}: no such file or "
                             "directory in the image")
        n = self.remove(real)
        self.changes.append(f"remove {real}" + (f" ({n} entries)" if n > 1 else ""))

    def add_driver(self, ed: AddDriver) -> None:
        src = Path(ed.source)
        label = src.name
        data = _read_host(src)
        info = kmod.read_modinfo(data, label)
        kver, note = self._pick_kernel(ed, label)
        warn = kmod.check_vermagic(info, kver, label, self.img.name, ed.force)
        if warn:
            self.warnings.append(warn)
        kdir = self.kernel_dirs[kver]
        dest = self.norm(ed.dest, "AddDriver") if ed.dest else \
            f"{kdir}/updates/{info.name}.ko"
        self.changes.append(f"driver {label} -> kernel {kver}{note}")
        dest = self.place(dest)
        want = kmod.normalise(info.name)
        for p in sorted(self.live):
            stem = kmod.module_stem(p)
            if p != dest and p.startswith(kdir + "/") and stem and kmod.normalise(stem) == want:
                self.remove(p)
                self.changes.append(f"remove {p} (replaced by {dest})")
        st = src.stat()
        verb = self.put(dest, "file", data, mode=None, uid=None, gid=None,
                        mtime=int(st.st_mtime))
        version = info.first("version")
        self.changes.append(f"{verb} {dest} ({info.name}"
                            f"{' ' + version if version else ''}, {human(len(data))})")
        self.affected.add(kver)

    def _pick_kernel(self, ed: AddDriver, label: str) -> tuple[str, str]:
        kernels = list(self.kernel_dirs)
        if not kernels:
            raise InputError(f"{self.img.name}: has no lib/modules/<version> tree; cannot "
                             f"add driver {label}")
        if ed.kernel is not None:
            if ed.kernel not in self.kernel_dirs:
                raise InputError(f"{label}: kernel {ed.kernel} is not in {self.img.name} "
                                 f"(available: {', '.join(kernels)})")
            return ed.kernel, ""
        if ed.dest:
            d = cpio.image_path(ed.dest) or ""
            for k, kdir in self.kernel_dirs.items():
                if d.startswith(kdir + "/") or d.startswith(f"lib/modules/{k}/"):
                    return k, ""
        others = kernels[1:]
        note = " (main" + (f"; the image also has {', '.join(others)})" if others else ")")
        return kernels[0], note

    def add_rpm(self, ed: AddRpmPayload) -> None:
        from xcptui.engine.rpm import payload as rpmpayload

        payload = rpmpayload.read_payload(Path(ed.source))
        label = payload.label
        users = self._id_map("etc/passwd")
        groups = self._id_map("etc/group")
        missing: set[tuple[str, str]] = set()
        for pe in payload.entries:
            check(self.cancel)
            uid = self._owner(users, pe.uname, "user", label, missing)
            gid = self._owner(groups, pe.gname, "group", label, missing)
            self._rpm_entry(pe, uid, gid)
        counts = payload.counts()
        what = ", ".join(f"{n} {k}{'s' if n > 1 else ''}" for k, n in sorted(counts.items()))
        self.changes.append(f"{label}: install payload of {payload.name} ({what})")
        self.warnings.append(f"{label}: payload copied; scriptlets not run and the image's "
                             "rpmdb not updated")

    def _rpm_entry(self, pe: Any, uid: int, gid: int) -> None:
        path = self.place(pe.path)
        attrs: dict[str, Any] = {"mode": pe.mode, "uid": uid, "gid": gid, "mtime": pe.mtime}
        if pe.type == "dir":
            node = self.live.get(path)
            if node is None or self.type_of(node) != "dir":  # existing dirs keep theirs
                self.put(path, "dir", b"", **attrs)
        elif pe.type == "symlink":
            self.put(path, "symlink", (pe.link_target or "").encode(), **attrs)
        elif pe.type == "hardlink":
            self._rpm_hardlink(path, pe, attrs)
        elif pe.type == "file":
            self.put(path, "file", pe.data, **attrs)
        else:
            self.put(path, pe.type, b"", rdev=pe.rdev, **attrs)

    def _rpm_hardlink(self, path: str, pe: Any, attrs: dict[str, Any]) -> None:
        """Join ``path`` to the hardlink group of an earlier payload file."""
        tdir = posixpath.dirname(pe.link_target)
        tpath = posixpath.join(self.resolve(tdir), posixpath.basename(pe.link_target)) \
            if tdir else pe.link_target
        target = self.live.get(tpath)
        if not isinstance(target, _New) or target.type != "file":
            self.put(path, "file", pe.data, **attrs)  # not linkable: a plain copy
            return
        if target.link is None:
            target.link = _NewLink(target.header.ino, _data_bytes(target.data), [target])
        link = target.link
        link.data = pe.data or link.data
        self.put(path, "file", b"", link=link, **attrs)
        node = self.live[path]
        assert isinstance(node, _New)
        link.members.append(node)

    def _id_map(self, path: str) -> dict[str, int]:
        node = self.live.get(self.resolve(path))
        if node is None or self.type_of(node) != "file":
            return {"root": 0}
        out = {"root": 0}
        for line in self.current_data(node).decode("utf-8", "replace").splitlines():
            f = line.split(":")
            if len(f) >= 3 and f[2].isdigit():
                out.setdefault(f[0], int(f[2]))
        return out

    def _owner(self, ids: dict[str, int], name: str, kind: str, label: str,
               missing: set[tuple[str, str]]) -> int:
        if name in ids:
            return ids[name]
        if name.isdigit():
            return int(name)
        if (kind, name) not in missing:
            missing.add((kind, name))
            self.warnings.append(f"{label}: {kind} '{name}' is not in the image's "
                                 f"{'etc/passwd' if kind == 'user' else 'etc/group'}; "
                                 "using 0 (root)")
        return 0

    # -- module index ---------------------------------------------------------

    def regenerate_module_indexes(self) -> None:
        for kver in sorted(self.affected):
            kdir = self.kernel_dirs.get(kver)
            node = self.live.get(kdir) if kdir else None
            if kdir is None or node is None or self.type_of(node) != "dir":
                continue  # the whole tree was removed
            check(self.cancel)
            self.progress.log(f"depmod {kver}")
            with tempfile.TemporaryDirectory(prefix="xcptui-depmod-") as td:
                root = Path(td)
                self._stage_depmod_tree(root, kver, kdir)
                for line in kmod.run_depmod(root, kver)[:5]:
                    self.warnings.append(f"depmod {kver}: {line}")
                out_dir = root / "lib" / "modules" / kver
                produced = {f.name: f.read_bytes() for f in sorted(out_dir.iterdir())
                            if f.is_file() and f.name.startswith("modules.")
                            and f.name not in kmod.DEPMOD_INPUTS}
            self._apply_index(kdir, kver, produced)

    def _stage_depmod_tree(self, root: Path, kver: str, kdir: str) -> None:
        """Write only what depmod reads: the tree's modules, its order/builtin files and
        etc/depmod.d. Everything is written 0644 whatever its mode in the image."""
        wanted: list[tuple[Path, Node]] = []
        base = root / "lib" / "modules" / kver
        for p, node in self.live.items():
            if not p.startswith(kdir + "/"):
                continue
            name = posixpath.basename(p)
            if not (kmod.module_stem(name) or name in kmod.DEPMOD_INPUTS):
                continue
            if self.type_of(node) == "symlink":
                real = self.live.get(self.resolve(p))
                if real is None or self.type_of(real) != "file":
                    continue
                node = real
            if self.type_of(node) == "file":
                wanted.append((base / p[len(kdir) + 1:], node))
        conf_dir = root / "etc" / "depmod.d"
        conf_dir.mkdir(parents=True)
        for p, node in self.live.items():
            if p.startswith(self._depmod_conf + "/") and self.type_of(node) == "file" \
                    and "/" not in p[len(self._depmod_conf) + 1:]:
                wanted.append((conf_dir / posixpath.basename(p), node))
        self._write_nodes(wanted, f"{self.img.name}: read the modules of {kver} for depmod")

    def _write_nodes(self, wanted: list[tuple[Path, Node]], label: str) -> None:
        """Write node data to host paths; original entries in one streaming pass."""
        spans: dict[tuple[int, int], list[Path]] = {}
        for host, node in wanted:
            host.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(node, int):
                a, b = self.img.data_range(self.raw[node])
                if b > a:
                    spans.setdefault((a, b), []).append(host)
                    continue
            _write_0644(host, [b""] if isinstance(node, int) else [_data_bytes(node.data)])
        for span in [sp for sp in spans if sp in self.img.spooled]:
            for host in spans.pop(span):
                _link_or_copy(self.img.spooled[span], host)
        order = sorted(spans)
        self.progress.step(label, sum(b - a for a, b in order))
        done, current = 0, -1
        fps: list[BinaryIO] = []
        try:
            for i, chunk in self.img.iter_ranges(order, self.cancel):
                if i != current:
                    for fp in fps:
                        fp.close()
                    fps = [_open_0644(h) for h in spans[order[i]]]
                    current = i
                for fp in fps:
                    fp.write(chunk)
                done += len(chunk)
                self.progress.update(done)
        finally:
            for fp in fps:
                fp.close()

    def _apply_index(self, kdir: str, kver: str, produced: dict[str, bytes]) -> None:
        existing = {n: self.live[f"{kdir}/{n}"] for n in produced if f"{kdir}/{n}" in self.live}
        current = self._current_many(existing)
        template = self.live.get(f"{kdir}/modules.dep")
        anchor = max((node for p, node in self.live.items()
                      if isinstance(node, int) and posixpath.dirname(p) == kdir
                      and posixpath.basename(p).startswith("modules.")), default=None)
        changed: list[str] = []
        for name, data in produced.items():
            path = f"{kdir}/{name}"
            if name in existing:
                if current.get(name) == data:
                    continue
                node = existing[name]
                h = self._clone_header(node)
                new = _New(path, h, data)
                if isinstance(node, int):
                    self.replaced[node] = new
                    self.where[id(new)] = node
                    self.live[path] = new
                else:
                    node.data = data
            else:
                self._add_index_file(path, data, template, anchor)
            changed.append(name)
        if changed:
            self.changes.append(f"regenerate module index of {kver} with depmod: "
                                f"{', '.join(changed)}")

    def _current_many(self, nodes: dict[str, Node]) -> dict[str, bytes]:
        originals = [self.raw[n] for n in nodes.values() if isinstance(n, int)]
        got = self.img.read_many(originals, self.cancel) if originals else {}
        return {name: got[n] if isinstance(n, int) else _data_bytes(n.data)
                for name, n in nodes.items()}

    def _clone_header(self, node: Node) -> cpio.Header:
        """The header of ``node`` as it will be emitted (size is set when serialising)."""
        if isinstance(node, _New):
            h = node.header
            return cpio.Header(h.ino, h.mode, h.uid, h.gid, h.nlink, h.mtime, 0, h.devmajor,
                               h.devminor, h.rdevmajor, h.rdevminor, h.name, 0, h.magic)
        e = self.raw[node]
        return cpio.Header(e.ino, e.st_mode, e.uid, e.gid, e.nlink, e.mtime, 0, e.dev[0],
                           e.dev[1], e.rdev[0], e.rdev[1],
                           e.name.encode("utf-8", "surrogateescape"), 0, e.magic)

    def _add_index_file(self, path: str, data: bytes, template: Node | None,
                        anchor: int | None) -> None:
        h = self.header(path, stat.S_IFREG | 0o644, 0, 0, self.now)
        if template is not None and self.type_of(template) == "file":
            t = self._clone_header(template)
            h.mode, h.uid, h.gid, h.mtime = t.mode, t.uid, t.gid, t.mtime
        new = _New(path, h, data)
        self.insert(new, posixpath.dirname(path), anchor)

    # -- final layout ----------------------------------------------------------

    def fix_hardlinks(self) -> None:
        """Original hardlink groups that lost or had a member replaced: the remaining
        members get the right link count and the last one carries the data."""
        for members in self.img._groups.values():
            if not any(m in self.removed or m in self.replaced for m in members):
                continue
            keep = [m for m in members if m not in self.removed and m not in self.replaced]
            if not keep:
                continue
            data = self.current_data(keep[0])
            for k, m in enumerate(keep):
                h = self._clone_header(m)
                h.nlink = len(keep)
                last = k == len(keep) - 1
                new = _New(self.raw[m].path, h, data if last else b"")
                self.replaced[m] = new
                self.where[id(new)] = m

    def emitted(self) -> list[tuple[int, list[_New]]]:
        """(slot, new entries) in archive order, for hardlink data placement."""
        out = []
        for slot in sorted(set(self.replaced) | set(self.after)):
            items = []
            if slot in self.before:
                items += self.after.get(slot, [])
            if slot in self.replaced:
                items.append(self.replaced[slot])
            if slot not in self.before:
                items += self.after.get(slot, [])
            out.append((slot, items))
        return out

    def fix_new_links(self) -> None:
        """New hardlink groups: shared inode, link count, data on the last member."""
        order = [n for _, items in self.emitted() for n in items]
        groups: dict[int, list[_New]] = {}
        for n in order:
            if n.link is not None and self.live.get(n.path) is n:
                groups.setdefault(id(n.link), []).append(n)
        for members in groups.values():
            link = members[0].link
            assert link is not None
            for k, n in enumerate(members):
                n.header.ino = link.ino
                n.header.nlink = len(members)
                n.data = link.data if k == len(members) - 1 else b""

    def units(self) -> list[Unit]:
        """Per changed segment (or run of segments), the new content as pieces."""
        splices: dict[int, list[tuple[int, int, int, list[_New]]]] = {}
        for slot in sorted(self.removed | set(self.replaced) | set(self.after)):
            e = self.raw[slot]
            lst = splices.setdefault(e.segment, [])
            if slot in self.replaced:
                lst.append((e.offset, e.end, slot, [self.replaced[slot]]))
            elif slot in self.removed:
                lst.append((e.offset, e.end, slot, []))
            news = self.after.get(slot, [])
            if news:
                at = e.offset if slot in self.before else e.end
                lst.append((at, at, slot, news))
        units: list[Unit] = []
        segs = self.img.segment_info
        for si in sorted(splices):
            spl = sorted(splices[si], key=lambda t: (t[0], t[1], t[2]))
            last = si
            while last + 1 < len(segs) and max(t[1] for t in spl) > segs[last].uend:
                last += 1
            if units and units[-1].last >= si:
                raise InputError(f"{self.img.name}: an edited entry spans compressed "
                                 "segments; rewrite of this image is not supported")
            units.append(self._unit(si, last, spl))
        return units

    def _unit(self, first: int, last: int, spl: list[tuple[int, int, int, list[_New]]]
              ) -> Unit:
        segs = self.img.segment_info
        start, end = segs[first].uoffset, segs[last].uend
        pieces: list[Piece] = []
        cursor = start
        for a, b, _, news in spl:
            if a > cursor:
                pieces.append(Copy(cursor, a))
            for n in news:
                pieces += _serialise(n)
            cursor = max(cursor, b)
        if end > cursor:
            pieces.append(Copy(cursor, end))
        pieces = _merge_pieces(pieces)
        usize = sum(_piece_len(p) for p in pieces)
        pieces, usize = self._repad(pieces, usize, first, last)
        seg = segs[first]
        level = max(s.level for s in segs[first:last + 1]) if seg.codec == "bzip2" \
            else seg.level
        return Unit(first, last, seg.codec, level, pieces, usize)

    def _repad(self, pieces: list[Piece], usize: int, first: int, last: int
               ) -> tuple[list[Piece], int]:
        """Keep GNU cpio's 512-byte archive padding when the original had it."""
        segs = self.img.segment_info
        old = sum(s.usize for s in segs[first:last + 1])
        tail = pieces[-1] if pieces else None
        if old % 512 or usize % 512 == 0 or not isinstance(tail, Copy):
            return pieces, usize
        trailers = [e for e in self.raw if e.is_trailer and e.segment == last]
        if not trailers or trailers[-1].end < tail.start:
            return pieces, usize
        zstart = trailers[-1].end
        if any(b"".join(self.img.iter_range(zstart, tail.end)).strip(b"\0")) or \
                tail.end - zstart > 65536:
            return pieces, usize
        body = [*pieces[:-1], Copy(tail.start, zstart)] if zstart > tail.start else pieces[:-1]
        size = usize - (tail.end - zstart)
        return _merge_pieces([*body, b"\0" * (-size % 512)]), size + (-size % 512)


def _serialise(n: _New) -> list[Piece]:
    h = n.header
    h.filesize = n.data_len()
    if h.magic == cpio.MAGIC_CRC:
        h.check = cpio.checksum(_data_bytes(n.data))
    pad = b"\0" * cpio.pad4(h.filesize)
    if isinstance(n.data, HostFile):
        return [h.encode(), n.data, pad]
    return [h.encode() + n.data + pad]


def _merge_pieces(pieces: list[Piece]) -> list[Piece]:
    out: list[Piece] = []
    for p in pieces:
        if isinstance(p, bytes):
            if not p:
                continue
            if out and isinstance(out[-1], bytes):
                out[-1] = out[-1] + p
                continue
        elif isinstance(p, Copy):
            if p.end <= p.start:
                continue
            if out and isinstance(out[-1], Copy) and out[-1].end == p.start:
                out[-1] = Copy(out[-1].start, p.end)
                continue
        out.append(p)
    return out


def _piece_len(p: Piece) -> int:
    if isinstance(p, Copy):
        return p.end - p.start
    if isinstance(p, HostFile):
        return p.size
    return len(p)


def _data_bytes(d: bytes | HostFile) -> bytes:
    if isinstance(d, bytes):
        return d
    return _read_host(d.path)


def _data_len(d: bytes | HostFile) -> int:
    return d.size if isinstance(d, HostFile) else len(d)


def _read_host(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a file") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None


SMALL_FILE = 4 << 20  # host files up to this size are held in memory by the plan


def _file_source(source: Path | bytes, now: int) -> tuple[bytes | HostFile, str, bool, int]:
    """(data, label, executable, mtime) for an AddFile source."""
    if isinstance(source, bytes | bytearray):
        return bytes(source), "inline data", False, now
    p = Path(source)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except OSError as e:
        raise InputError(f"{p}: cannot read: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{p}: is not a regular file")
    if not os.access(p, os.R_OK):
        raise InputError(f"{p}: is not readable")
    executable = bool(st.st_mode & 0o111)
    data: bytes | HostFile = _read_host(p) if st.st_size <= SMALL_FILE else \
        HostFile(p, st.st_size, st.st_mtime_ns)
    return data, str(p), executable, int(st.st_mtime)


def _link_or_copy(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)
        os.chmod(dest, 0o644)


def depmod_input(path: str) -> bool:
    """Files depmod reads in a kernel tree: modules and modules.order/builtin*."""
    if not path.startswith("lib/modules/"):
        return False
    name = posixpath.basename(path)
    return bool(kmod.module_stem(name)) or name in kmod.DEPMOD_INPUTS


def _open_0644(path: Path) -> BinaryIO:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    os.fchmod(fd, 0o644)
    return os.fdopen(fd, "wb")


def _write_0644(path: Path, parts: list[bytes]) -> None:
    with _open_0644(path) as fp:
        for p in parts:
            fp.write(p)


def plan(img: InstallImage, edits: list[Any], *, progress: Progress | None = None,
         cancel: threading.Event | None = None) -> ImagePlan:
    """Validate ``edits`` against the image and compute the new content.

    Nothing is written anywhere but a temporary directory for depmod, removed before
    returning. An empty edit list gives an empty plan (``plan.empty``).
    """
    progress = progress or Progress()
    if not edits:
        return ImagePlan()
    progress.step(f"{img.name}: planning {len(edits)} change(s)")
    p = _Planner(img, progress, cancel)
    handlers: dict[type, Callable[[Any], None]] = {
        AddFile: p.add_file, RemovePath: p.remove_path, AddDriver: p.add_driver,
        AddRpmPayload: p.add_rpm,
    }
    for ed in edits:
        check(cancel)
        handler = handlers.get(type(ed))
        if handler is None:
            raise TypeError(f"unknown install.img edit: {ed!r}")
        handler(ed)
    p.regenerate_module_indexes()
    p.fix_hardlinks()
    p.fix_new_links()
    for e in img.entries():
        if e.unsafe:
            p.warnings.append(f"{img.name}: entry '{e.name}' has an unsafe name (absolute or "
                              "'..'); copied unchanged")
    result = ImagePlan(p.changes, p.warnings, p.units())
    progress.finish_step()
    return result


# ---------------------------------------------------------------------------
# writing


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

# Sources of a compress task: ("blk", block, level, lo, hi) | ("lit", bytes)
# | ("host", HostFile, off, n)
_Src = tuple[Any, ...]
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
    fresh: list[_Src] = []
    size = 0

    def flush() -> Iterator[Callable[[], _Result]]:
        nonlocal fresh, size
        if fresh:
            srcs, fresh, size = fresh, [], 0
            yield lambda: _compress_sources(img, srcs, unit.level)

    def add(src: _Src, n: int) -> Iterator[Callable[[], _Result]]:
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
                yield from add(("blk", blk, level, lo - blk.uoff, hi - blk.uoff), hi - lo)
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
                yield from add(("host", p, off, min(cap, p.size - off)), min(cap, p.size - off))
        else:
            for off in range(0, len(p), cap):
                yield from add(("lit", p[off:off + cap]), len(p[off:off + cap]))
    yield from flush()


def _reuse_task(img: InstallImage, blk: bzb.Block) -> Callable[[], _Result]:
    return lambda: ([bzb.block_bits(img.region, blk)], blk.ulen, False)


def _compress_sources(img: InstallImage, srcs: list[_Src], level: int) -> _Result:
    """Worker: gather the bytes (decoding original blocks as needed) and compress them."""
    parts: list[bytes] = []
    cache: dict[int, bytes] = {}
    for s in srcs:
        if s[0] == "blk":
            _, blk, blevel, lo, hi = s
            if id(blk) not in cache:
                try:
                    cache = {id(blk): bzb.decode_block(img.region, blk, blevel)}
                except bzb.BlockError:
                    raise InputError(f"{img.name}: bzip2 block at offset {blk.start >> 3} no "
                                     "longer decodes (file changed?)") from None
            parts.append(cache[id(blk)][lo:hi])
        elif s[0] == "host":
            parts.append(b"".join(_host_chunks(s[1], s[2], s[3])))
        else:
            parts.append(s[1])
    data = b"".join(parts)
    return bzb.compress_blocks(data, level), len(data), True


# ---------------------------------------------------------------------------
# extraction


class ExtractResult(list[Path]):
    """Paths written; ``skipped`` lists entries that were not (device nodes...)."""

    def __init__(self) -> None:
        super().__init__()
        self.skipped: list[str] = []


def extract(img: InstallImage, path: str, dest: Path, *, progress: Progress | None = None,
            cancel: threading.Event | None = None) -> ExtractResult:
    """Copy a file or subtree of the image into directory ``dest``.

    Files come out user-readable (0644/0755; 0600 when the image had no group/other
    access, e.g. etc/shadow); device nodes, fifos and sockets are skipped and listed.
    Unsafe names and anything that would land outside ``dest`` are refused.
    """
    progress = progress or Progress()
    top = cpio.image_path(path)
    if top is None:
        raise InputError(f"{img.name}: refusing unsafe path {path}")
    if top and img.get(top) is None:
        raise InputError(f"{img.name}: no such file or directory: {path}")
    for e in img.entries():
        if e.unsafe:
            raise InputError(f"{img.name}: entry '{e.name}' has an unsafe name (absolute or "
                             "'..'); refusing to extract")
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise InputError(f"{dest}: exists and is not a directory")
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    base = posixpath.dirname(top)
    entries = list(img.walk(top))
    result = ExtractResult()
    files: list[tuple[Entry, Path]] = []
    progress.step(f"{img.name}: extract /{top}", sum(e.size for e in entries
                                                     if e.type == "file"))
    for e in entries:
        check(cancel)
        rel = posixpath.relpath(e.path, base) if base else (e.path or ".")
        target = _inside(root, rel, e)
        if e.is_dir:
            target.mkdir(parents=True, exist_ok=True)
        elif e.is_symlink:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink() or target.exists():
                target.unlink()
            os.symlink(e.link_target or "", target)
            result.append(target)
        elif e.type == "file":
            target.parent.mkdir(parents=True, exist_ok=True)
            files.append((e, target))
        else:
            result.skipped.append(f"/{e.path} ({e.type})")
    _extract_files(img, files, result, progress, cancel)
    progress.finish_step()
    return result


def _inside(root: Path, rel: str, e: Entry) -> Path:
    target = (root / rel).resolve() if rel != "." else root
    if target != root and root not in target.parents:
        raise InputError(f"/{e.path}: refusing to write outside {root}")
    return target


def _extract_files(img: InstallImage, files: list[tuple[Entry, Path]], result: ExtractResult,
                   progress: Progress, cancel: threading.Event | None) -> None:
    spans = sorted({img.data_range(e) for e, _ in files if img.data_range(e)[1] >
                    img.data_range(e)[0]})
    where = {s: i for i, s in enumerate(spans)}
    by_span: dict[int, list[tuple[Entry, Path]]] = {}
    for e, t in files:
        r = img.data_range(e)
        if r in where:
            by_span.setdefault(where[r], []).append((e, t))
        else:
            _write_extracted(t, e, [])
            result.append(t)
    current, done = -1, 0
    fps: list[BinaryIO] = []
    try:
        for i, chunk in img.iter_ranges(spans, cancel):
            if i != current:
                for fp in fps:
                    fp.close()
                fps = [_open_private(t) for _, t in by_span[i]]
                result.extend(t for _, t in by_span[i])
                current = i
            for fp in fps:
                fp.write(chunk)
            done += len(chunk)
            progress.update(done)
    finally:
        for fp in fps:
            fp.close()
    for e, t in files:
        os.chmod(t, _host_mode(e.mode))


def _open_private(path: Path) -> BinaryIO:
    if path.is_symlink():
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    return os.fdopen(fd, "wb")


def _write_extracted(path: Path, e: Entry, parts: list[bytes]) -> None:
    with _open_private(path) as fp:
        for p in parts:
            fp.write(p)


def _host_mode(mode: int) -> int:
    x = bool(mode & 0o111)
    if not mode & 0o077:
        return 0o700 if x else 0o600
    return 0o755 if x else 0o644


# ---------------------------------------------------------------------------
# kernel-rule check


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
        if isinstance(e, BuildError) or type(e).__name__ == "Cancelled":
            raise
        rep.problems.append(str(e))
        return rep
    with img:
        rep.problems += img.problems
        for s in img.segment_info:
            rep.segments.append(f"{s.codec} {human(s.end - s.offset)} -> {human(s.usize)}")
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
