"""An ImageScan to and from the index's JSON body, validated field by field on the way in.

Headers are stored as columns of their fields (not their bytes); restoring rebuilds
``cpio.RawEntry`` objects and runs them through the scan's own ``entry_of`` and
hardlink grouping, so an indexed image lists exactly as a freshly scanned one.
Kernel trees and the merged view are not stored: ``InstallImage`` derives them from
the headers in milliseconds.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from xcptui.engine import limits
from xcptui.engine.initrd import bzip2blocks as bzb
from xcptui.engine.initrd import cpio
from xcptui.engine.initrd.compression import SUPPORTED, FileRegion
from xcptui.engine.initrd.entry import TYPE_BITS, Segment
from xcptui.engine.initrd.index_cache import IndexCache, IndexCorrupt, extent_sha256
from xcptui.engine.initrd.scan import ImageScan

_U32 = 0xFFFFFFFF
_FIELDS = ("mode", "uid", "gid", "size", "mtime", "nlink", "ino", "devmaj", "devmin",
           "rdevmaj", "rdevmin")
_POS = ("segment", "offset", "data_offset", "end", "archive")


def encode(scan: ImageScan) -> dict[str, Any]:
    cols: dict[str, list[Any]] = {k: [] for k in ("name", *_FIELDS, *_POS)}
    links: dict[str, str] = {}
    crc_magic: list[int] = []
    for e in scan.raw:
        vals = (e.name, TYPE_BITS.get(e.type, 0) | e.mode, e.uid, e.gid, e.stored_size,
                e.mtime, e.nlink, e.ino, *e.dev, *e.rdev, e.segment, e.offset,
                e.data_offset, e.end, e.archive)
        for k, v in zip(cols, vals, strict=True):
            cols[k].append(v)
        if e.link_target is not None:
            links[str(e.index)] = e.link_target
        if e.magic == cpio.MAGIC_CRC:
            crc_magic.append(e.index)
    prefix = f"{scan.name}:"
    return {
        "problems": [p[len(prefix):] if p.startswith(prefix) else p for p in scan.problems],
        "prefixed": [p.startswith(prefix) for p in scan.problems],
        "junk": list(scan.junk),
        "segments": [_encode_segment(s, scan.block_digests.get(s.index, []))
                     for s in scan.segment_info],
        "entries": cols, "links": links, "crc_magic": crc_magic,
    }


def _encode_segment(s: Segment, digests: list[bytes]) -> dict[str, Any]:
    flat = [v for b in s.blocks for v in (b.start, b.end, b.crc, b.uoff, b.ulen)]
    return {"codec": s.codec, "offset": s.offset, "end": s.end, "uoffset": s.uoffset,
            "usize": s.usize, "level": s.level, "head": s.head.hex(), "blocks": flat,
            "digests": "".join(d.hex() for d in digests)}


# -- restoring ------------------------------------------------------------------


def _ints(v: Any, n: int | None, lo: int = 0, hi: int = 1 << 62) -> list[int]:
    if not isinstance(v, list) or (n is not None and len(v) != n):
        raise IndexCorrupt("bad column")
    for x in v:
        if type(x) is not int or not lo <= x <= hi:
            raise IndexCorrupt("bad number")
    return v


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise IndexCorrupt("bad string")
    return v


def restore(body: dict[str, Any], region: FileRegion, name: str,
            size: int | None = None) -> ImageScan:
    """The ImageScan ``body`` describes; IndexCorrupt when anything is off.

    ``size``: of the image the body was made from, when ``region`` is another one
    (known_blocks reads only the headers of such a scan, never its data)."""
    try:
        return _restore(body, region, name, region.size if size is None else size)
    except IndexCorrupt:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        raise IndexCorrupt(f"{type(e).__name__}: {e}") from None


def _restore(body: dict[str, Any], region: FileRegion, name: str, size: int) -> ImageScan:
    scan = ImageScan(region, name)
    problems = [_str(p) for p in body["problems"]]
    prefixed = body["prefixed"]
    if not isinstance(prefixed, list) or len(prefixed) != len(problems):
        raise IndexCorrupt("bad problems")
    scan.problems = [f"{name}:{p}" if pre is True else p
                     for p, pre in zip(problems, prefixed, strict=True)]
    scan.junk = _ints(body["junk"], None)
    segs = body["segments"]
    if not isinstance(segs, list) or not segs:
        raise IndexCorrupt("no segments")
    uend = 0
    for i, d in enumerate(segs):
        seg, digests = _restore_segment(i, d, size)
        if seg.uoffset < uend:
            raise IndexCorrupt("segments overlap")
        uend = seg.uend
        scan.segment_info.append(seg)
        scan.block_digests[i] = digests
    _restore_entries(scan, body, len(segs), uend)
    return scan


def _restore_segment(i: int, d: dict[str, Any], size: int) -> tuple[Segment, list[bytes]]:
    codec = _str(d["codec"])
    if codec not in SUPPORTED:
        raise IndexCorrupt("bad codec")
    off, end, uoff, usize, level = (_ints([d[k]], 1)[0] for k in
                                    ("offset", "end", "uoffset", "usize", "level"))
    if not off < end <= size or not 0 <= level <= 9:
        raise IndexCorrupt("bad segment")
    seg = Segment(i, codec, off, end, uoff, usize, level, bytes.fromhex(_str(d["head"])))
    flat = _ints(d["blocks"], None)
    hexd = _str(d["digests"])
    if len(flat) % 5 or len(hexd) != len(flat) // 5 * 64 or (codec == "bzip2") != bool(flat):
        raise IndexCorrupt("bad block map")
    u = uoff
    prev = off * 8
    for k in range(0, len(flat), 5):
        start, stop, crc, boff, blen = flat[k:k + 5]
        if start < prev or stop <= start or stop > end * 8 or crc > _U32 or boff != u:
            raise IndexCorrupt("bad block")
        seg.blocks.append(bzb.Block(start, stop, crc, boff, blen))
        seg.block_starts.append(boff)
        u, prev = boff + blen, stop
    if flat and u != uoff + usize:
        raise IndexCorrupt("block map does not cover the segment")
    digests = [bytes.fromhex(hexd[j:j + 64]) for j in range(0, len(hexd), 64)]
    return seg, digests


def _restore_entries(scan: ImageScan, body: dict[str, Any], nseg: int, uend: int) -> None:
    cols = body["entries"]
    names = cols["name"]
    if not isinstance(names, list) or len(names) > limits.MAX_CPIO_ENTRIES:
        raise IndexCorrupt("bad names")
    n = len(names)
    f = {k: _ints(cols[k], n, 0, _U32) for k in _FIELDS}
    p = {k: _ints(cols[k], n) for k in _POS}
    links = body["links"]
    crc_magic = set(_ints(body["crc_magic"], None))
    if not isinstance(links, dict):
        raise IndexCorrupt("bad links")
    last = -1
    for i in range(n):
        off, doff, end, seg = p["offset"][i], p["data_offset"][i], p["end"][i], p["segment"][i]
        if not last <= off < doff <= end <= uend or seg >= nseg:
            raise IndexCorrupt("bad entry position")
        name = _str(names[i]).encode("utf-8", "surrogateescape")
        if doff + f["size"][i] > end or off + cpio.HEADER_LEN + len(name) + 1 > doff:
            raise IndexCorrupt("entry does not fit its place")
        last = end
        target = links.get(str(i))
        h = cpio.Header(f["ino"][i], f["mode"][i], f["uid"][i], f["gid"][i], f["nlink"][i],
                        f["mtime"][i], f["size"][i], f["devmaj"][i], f["devmin"][i],
                        f["rdevmaj"][i], f["rdevmin"][i],
                        name, magic=cpio.MAGIC_CRC if i in crc_magic else cpio.MAGIC_NEWC)
        link = _str(target).encode("utf-8", "surrogateescape") if target is not None else None
        scan.restore_raw(cpio.RawEntry(h, off, doff, end, p["archive"][i], link), seg)


# -- the cache, seen from a scan --------------------------------------------------------


def load(cache: IndexCache, region: FileRegion, name: str,
         cancel: threading.Event | None = None, sha256: str | None = None
         ) -> tuple[ImageScan, dict[str, Any]] | None:
    """(restored scan, summary) for ``region``'s content, or None (miss or corrupt)."""
    found = cache.lookup(region, cancel, sha256)
    if found is None:
        return None
    summary, body = found
    try:
        return restore(body, region, name), summary
    except IndexCorrupt:
        cache.drop_entry(region)
        return None


def origin_name(path: Any) -> str:
    """A file name to show as where an index came from (a build's temp output shows as
    the output it becomes)."""
    name = str(getattr(path, "name", path))
    m = re.fullmatch(r"\.(.+)\.xcptui-[^.]+\.part", name)
    return m.group(1) if m else name


def save(cache: IndexCache, scan: ImageScan, origin: str,
         cancel: threading.Event | None = None, sha256: str | None = None) -> str:
    """Store what ``scan`` learnt; returns the extent's sha256. Never raises OSError."""
    hashed_at = time.time()
    if sha256 is None:
        sha256 = extent_sha256(scan.region, cancel)
    crcs = "".join(f"{b.crc:08x}" for s in scan.segment_info for b in s.blocks)
    cache.store(scan.region, {"origin": origin_name(origin), "crcs": crcs}, encode(scan), sha256,
                hashed_at)
    return sha256
