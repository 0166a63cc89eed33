"""The layout of a rewrite: per changed segment (or run of segments), the new
content as pieces: bytes of the original to copy, new bytes, host files."""

from __future__ import annotations

import shutil
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from xcptui.engine import limits
from xcptui.engine.errors import InputError
from xcptui.engine.initrd import cpio
from xcptui.engine.initrd.compression import CHUNK
from xcptui.engine.initrd.edits import HostFile
from xcptui.engine.initrd.vtree import NewEntry, VTree


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
    #: private directories holding HostFile data of the plan (spooled RPM payload files):
    #: removed by ``close``, when the plan is garbage collected, or with the image
    scratch: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._release = weakref.finalize(self, remove_dirs, list(self.scratch))

    def close(self) -> None:
        """Remove the plan's private files; the plan cannot be written afterwards."""
        self._release()

    @property
    def empty(self) -> bool:
        return not self.units

    @property
    def new_usize(self) -> int:
        return sum(u.usize for u in self.units)


def build_units(t: VTree) -> list[Unit]:
    """Per changed segment (or run of segments), the new content as pieces."""
    splices: dict[int, list[tuple[int, int, int, list[NewEntry]]]] = {}
    for slot in sorted(t.removed | set(t.replaced) | set(t.after)):
        e = t.raw[slot]
        lst = splices.setdefault(e.segment, [])
        if slot in t.replaced:
            lst.append((e.offset, e.end, slot, [t.replaced[slot]]))
        elif slot in t.removed:
            lst.append((e.offset, e.end, slot, []))
        news = t.after.get(slot, [])
        if news:
            at = e.offset if slot in t.before else e.end
            lst.append((at, at, slot, news))
    units: list[Unit] = []
    segs = t.img.segment_info
    for si in sorted(splices):
        spl = sorted(splices[si], key=lambda x: (x[0], x[1], x[2]))
        last = si
        while last + 1 < len(segs) and max(x[1] for x in spl) > segs[last].uend:
            last += 1
        if units and units[-1].last >= si:
            raise InputError(f"{t.img.name}: an edited entry spans compressed "
                             "segments; rewrite of this image is not supported")
        units.append(_unit(t, si, last, spl))
    _check_size(t, units)
    return units


def _check_size(t: VTree, units: list[Unit]) -> None:
    """The edited image must stay under the cap every reader of it applies."""
    segs = t.img.segment_info
    new = t.img.usize + sum(u.usize - (segs[u.last].uend - segs[u.first].uoffset)
                            for u in units)
    if new > limits.MAX_DECODED:
        raise InputError(f"{t.img.name}: the edited image would be "
                         f"{limits.human_binary(new)} uncompressed, past the "
                         f"{limits.human_binary(limits.MAX_DECODED)} limit")


def remove_dirs(dirs: list[Path]) -> None:
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)

def _unit(t: VTree, first: int, last: int, spl: list[tuple[int, int, int, list[NewEntry]]]
          ) -> Unit:
    segs = t.img.segment_info
    start, end = segs[first].uoffset, segs[last].uend
    pieces: list[Piece] = []
    cursor = start
    for a, b, _, news in spl:
        if a > cursor:
            pieces.append(Copy(cursor, a))
        for n in news:
            pieces += serialise(n)
        cursor = max(cursor, b)
    if end > cursor:
        pieces.append(Copy(cursor, end))
    pieces = merge_pieces(pieces)
    usize = sum(piece_len(p) for p in pieces)
    pieces, usize = _repad(t, pieces, usize, first, last)
    seg = segs[first]
    level = max(s.level for s in segs[first:last + 1]) if seg.codec == "bzip2" \
        else seg.level
    return Unit(first, last, seg.codec, level, pieces, usize)


def _repad(t: VTree, pieces: list[Piece], usize: int, first: int, last: int
           ) -> tuple[list[Piece], int]:
    """Keep GNU cpio's 512-byte archive padding when the original had it."""
    segs = t.img.segment_info
    old = sum(s.usize for s in segs[first:last + 1])
    tail = pieces[-1] if pieces else None
    if old % 512 or usize % 512 == 0 or not isinstance(tail, Copy):
        return pieces, usize
    trailers = [e for e in t.raw if e.is_trailer and e.segment == last]
    if not trailers or trailers[-1].end < tail.start:
        return pieces, usize
    zstart = trailers[-1].end
    # the scan saw every byte after the trailer: without its "junk" problem they are zeros
    junk = any("after TRAILER" in p for p in t.img.problems)
    if tail.end - zstart > 65536 or \
            (junk and any(b"".join(t.img.iter_range(zstart, tail.end)).strip(b"\0"))):
        return pieces, usize
    body = [*pieces[:-1], Copy(tail.start, zstart)] if zstart > tail.start else pieces[:-1]
    size = usize - (tail.end - zstart)
    return merge_pieces([*body, b"\0" * (-size % 512)]), size + (-size % 512)


def serialise(n: NewEntry) -> list[Piece]:
    h = n.header
    h.filesize = n.data_len()
    if h.magic == cpio.MAGIC_CRC:
        h.check = _checksum(n.data)
    pad = b"\0" * cpio.pad4(h.filesize)
    if isinstance(n.data, HostFile):
        return [h.encode(), n.data, pad]
    return [h.encode() + n.data + pad]


def _checksum(d: bytes | HostFile) -> int:
    """The 070702 check of ``d``, a host file read in chunks (never whole)."""
    if isinstance(d, bytes):
        return cpio.checksum(d)
    total = 0
    try:
        with open(d.path, "rb") as fp:
            while chunk := fp.read(CHUNK):
                total += cpio.checksum(chunk)
    except OSError as e:
        raise InputError(f"{d.path}: cannot read: {e.strerror}") from None
    return total & 0xFFFFFFFF


def merge_pieces(pieces: list[Piece]) -> list[Piece]:
    """Adjacent byte pieces joined (each run once: linear, whatever the count) and
    touching copies merged; empty pieces dropped."""
    out: list[Piece] = []
    run: list[bytes] = []

    def flush() -> None:
        if run:
            out.append(run[0] if len(run) == 1 else b"".join(run))
            run.clear()

    for p in pieces:
        if isinstance(p, bytes):
            if p:
                run.append(p)
            continue
        if isinstance(p, Copy) and p.end <= p.start:
            continue
        flush()
        if isinstance(p, Copy) and out and isinstance(out[-1], Copy) \
                and out[-1].end == p.start:
            out[-1] = Copy(out[-1].start, p.end)
            continue
        out.append(p)
    flush()
    return out


def piece_len(p: Piece) -> int:
    if isinstance(p, Copy):
        return p.end - p.start
    if isinstance(p, HostFile):
        return p.size
    return len(p)

