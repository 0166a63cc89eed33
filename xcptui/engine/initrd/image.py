"""install.img: the read side (open, merged listing, reading entries).

install.img is the installer's initramfs: one or more compressed (or plain) newc cpio
segments, later entries overriding earlier ones, exactly as the kernel unpacks it.

``InstallImage.open`` runs the one decoding pass (``scan.ImageScan``) and indexes its
headers; reading an entry afterwards decodes just the bzip2 blocks that cover it.
What the pass learns is kept in the persistent index (``index_cache``): opening the
same content again (any path) decodes nothing until data is read.
Editing lives in ``planner`` (``plan``) and ``splice_write`` (``write``), copying
files out in ``extract``, the kernel's unpacking rules in ``kernel_rules``.
"""

from __future__ import annotations

import bisect
import posixpath
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from xcptui.engine.errors import BuildError, InputError
from xcptui.engine.events import Progress, check
from xcptui.engine.initrd import bzip2blocks as bzb
from xcptui.engine.initrd import cpio, index_cache, index_codec, kmod
from xcptui.engine.initrd.compression import CHUNK, FileRegion, SeqDecoder
from xcptui.engine.initrd.entry import Entry, Segment
from xcptui.engine.initrd.scan import ImageScan, open_0644
from xcptui.engine.initrd.symlinks import resolve_links
from xcptui.engine.layout import MODULES_DIRS

__all__ = ["Entry", "InstallImage", "Segment"]


class InstallImage:
    """Read-only view of an install.img (a whole file or a region of the ISO)."""

    def __init__(self, scan: ImageScan) -> None:
        self.region = scan.region
        self.name = scan.name
        self.segment_info: list[Segment] = scan.segment_info
        self.problems: list[str] = scan.problems  # kernel-rule problems tools would not see
        self._scan = scan
        self._raw: list[Entry] = scan.raw
        self._groups: dict[int, list[int]] = scan.groups
        self._map: dict[str, int] = {}  # path -> index of the winning entry
        self._all: dict[str, list[int]] = {}  # path -> every index (shadowed ones too)
        self._children: dict[str, list[int]] | None = None
        self.spool_parent: Path | None = None  # where private directories go (open's spool_dir)
        self._index()

    # -- opening ----------------------------------------------------------

    @classmethod
    def open(cls, path: Path | str, offset: int = 0, size: int | None = None, *,
             name: str = "install.img", progress: Progress | None = None,
             cancel: threading.Event | None = None,
             spool: Callable[[str], bool] | None = None,
             spool_dir: Path | None = None, cache: bool = True) -> InstallImage:
        """Scan the image once: codec(s), segments, every header. Never loads it whole.

        With ``cache`` the persistent index is used when it holds this content (no
        decode at all) and written after a full scan.

        ``spool`` selects files (by image path) whose data is copied to a temporary
        directory under ``spool_dir`` during this scan (from the index: by decoding
        just their blocks); ``depmod_stage.depmod_input`` is the predicate a driver
        edit wants. The copies are removed by ``close``.
        """
        progress = progress or Progress()
        region = FileRegion(Path(path), offset, size, name)
        idx = index_cache.IndexCache.default() if cache else None
        scan: ImageScan | None = None
        try:
            if idx is not None:
                found = index_codec.load(idx, region, name, cancel)
                scan = found[0] if found is not None else None
            if scan is None:
                scan = ImageScan(region, name, spool, spool_dir)
                scan.run(progress, cancel)
                if idx is not None:
                    index_codec.save(idx, scan, Path(path).name, cancel)
                img = cls(scan)
                img.spool_parent = spool_dir
                return img
            img = cls(scan)
            img.spool_parent = spool_dir
            if spool is not None:
                img._spool(spool, spool_dir, progress, cancel)
            return img
        except BaseException:
            if scan is not None:
                scan.close()
            region.close()
            raise

    def _spool(self, pred: Callable[[str], bool], parent: Path | None, progress: Progress,
               cancel: threading.Event | None) -> None:
        """Spool with the index: decode only the blocks that hold the chosen files."""
        want = [e for e in self._raw if ImageScan.spool_wanted(e, pred)]
        where = self._scan.make_spool_dir(parent)
        spans = [(e.data_offset, e.data_offset + e.stored_size) for e in want]
        progress.step(f"{self.name}: copying {len(want)} files out", len(want), unit="files")
        files: dict[int, BinaryIO] = {}
        try:
            for i, data in self.iter_ranges(spans, cancel):
                fp = files.get(i)
                if fp is None:
                    fp = files[i] = open_0644(where / str(want[i].index))
                    progress.update(len(files))
                fp.write(data)
        finally:
            for fp in files.values():
                fp.close()
        for i, e in enumerate(want):
            if i in files:
                self._scan.spooled[spans[i]] = where / str(e.index)
        progress.finish_step()

    def private_dir(self, prefix: str) -> Path:
        """A new 0700 directory inside this image's spool directory (made under open's
        ``spool_dir``, else the system temp dir), removed with it by ``close``."""
        try:
            parent = self._scan.spool_dir or self._scan.make_spool_dir(self.spool_parent)
            return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        except OSError as e:
            where = self._scan.spool_dir or self.spool_parent or tempfile.gettempdir()
            raise BuildError(f"{where}: cannot create a temporary directory: "
                             f"{e.strerror}") from None

    @property
    def scan_result(self) -> ImageScan:
        """The scan this image was made from (its block map and block digests)."""
        return self._scan

    def close(self) -> None:
        self._scan.close()
        self.region.close()

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

    # -- what the planner reads (copies: callers cannot disturb the index) -----

    def winners(self) -> dict[str, int]:
        """Path -> index (into ``all_headers()``) of the entry that wins for that path."""
        return dict(self._map)

    def shadowed(self, path: str) -> list[int]:
        """Indexes of every header at ``path``, earlier overridden copies included."""
        return list(self._all.get(path, []))

    def hardlink_groups(self) -> list[list[int]]:
        """Member indexes of each hardlink group, in archive order."""
        return [list(m) for m in self._groups.values()]

    def spooled_copy(self, span: tuple[int, int]) -> Path | None:
        """The host copy of data range ``span`` made during the scan, if any."""
        return self._scan.spooled.get(span)

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

    def get(self, path: str, follow: bool = False) -> Entry | None:
        """The entry at "etc/shadow" (also "/etc/shadow", "./etc/shadow").

        No symlinks are followed unless ``follow``: then every component is, like
        stat(2) after unpacking ("lib/modules/..." finds "usr/lib/modules/...").
        """
        p = self.resolve(path) if follow else cpio.image_path(path)
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

    def walk(self, top: str = "", follow: bool = False) -> Iterator[Entry]:
        """``top`` and everything below it (merged view, archive order). With ``follow``
        symlinks in ``top`` are resolved first; the entries carry their real paths."""
        p = self.resolve(top) if follow else cpio.image_path(top)
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
        return resolve_links(p, self._lookup_link, follow_last)

    def _lookup_link(self, p: str) -> str | None:
        e = self.get(p)
        return e.link_target if e is not None and e.is_symlink else None

    def kernels(self) -> list[str]:
        """Kernel versions with a <modules dir>/<version> tree, the main kernel first
        (``kmod.order_kernels``). The modules dirs are looked up through the image's
        symlinks: on real media lib -> usr/lib, so both spellings find one tree."""
        return kmod.order_kernels(list(self._kernel_dirs()))

    def kernel_dir(self, kver: str) -> str:
        """The real path of kernel ``kver``'s tree, e.g. "usr/lib/modules/4.19.0+1"."""
        found = self._kernel_dirs().get(kver)
        if found is not None:
            return found
        d = self.resolve(MODULES_DIRS[0]) or MODULES_DIRS[0]
        return f"{d}/{kver}"

    def _kernel_dirs(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for spelling in MODULES_DIRS:
            d = self.resolve(spelling)
            if d is None:
                continue
            for e in self.listdir_safe(d):
                if e.is_dir:
                    out.setdefault(posixpath.basename(e.path), e.path)
        return out

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

