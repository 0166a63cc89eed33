"""install.img: entries added, removed, changed, grouped per kernel tree and "other".

Byte-identical images (same size, same sha256 of the extent) are not decoded. Otherwise
A is opened through the persistent index (decoded once, ever) and B is scanned against
A's blocks (``known_blocks``): a bzip2 block of B whose compressed bits are a block of A
decodes to the same bytes, so B is decoded only where it differs (a build of A re-encodes
only around its edits). A file whose data in B lies wholly in such blocks, at the same
place relative to the same file of A, has the same content; only the other files' data
is read (``iter_ranges``, in archive order, digesting each chunk as it comes). Images
that share no blocks are each decoded once for their headers and once for the digests.

Paths are compared resolved through the image's own symlinks (on EL7 roots
lib -> usr/lib). Entries of a kernel tree are keyed by kernel version and their path
inside the tree ("updates/igc.ko"), so an image with usr/lib/modules/<kver> and one with
a real lib/modules/<kver> still pair up, file by file. Modification times are not
compared: any repack may touch them, and they do not change what the installer runs.
"""

from __future__ import annotations

import bisect
import hashlib
import posixpath
import threading
from dataclasses import dataclass

from xcptui.engine.diff.iso_files import sha256_extent
from xcptui.engine.diff.model import Change, EntryChange, ImageDiff
from xcptui.engine.events import Progress, check
from xcptui.engine.initrd import known_blocks
from xcptui.engine.initrd.compression import FileRegion
from xcptui.engine.initrd.image import Entry, InstallImage
from xcptui.engine.iso.read import IsoSource
from xcptui.engine.layout import INSTALL_IMG

OTHER = "other"


@dataclass
class _Seen:
    """What is compared of one entry."""

    type: str
    mode: int
    uid: int
    gid: int
    size: int
    link: str | None
    rdev: tuple[int, int] | None
    digest: str | None  # sha256 of the file data


def compare(a: IsoSource, b: IsoSource, progress: Progress | None = None,
            cancel: threading.Event | None = None) -> ImageDiff:
    pa, pb = a.exists(INSTALL_IMG), b.exists(INSTALL_IMG)
    if not (pa and pb):
        return ImageDiff(present=(pa, pb))
    sa, sb = a.extent(INSTALL_IMG)[1], b.extent(INSTALL_IMG)[1]
    out = ImageDiff(sizes=(sa, sb))
    if sa == sb:
        if progress is not None:
            progress.step("install.img: comparing bytes", 2 * sa)
        same = sha256_extent(a, INSTALL_IMG, progress, cancel) == sha256_extent(
            b, INSTALL_IMG, progress, cancel)
        if progress is not None:
            progress.finish_step()
        if same:
            out.identical = True
            return out
    ka, ma, kb, mb = _load_pair(a, b, progress, cancel)
    out.kernels = (ka, kb)
    groups: dict[str, list[EntryChange]] = {k: [] for k in sorted({*ka, *kb})}
    groups[OTHER] = []
    for group, path in sorted(ma.keys() | mb.keys()):
        change = _entry_change(path, ma.get((group, path)), mb.get((group, path)))
        if change is not None:
            groups[group].append(change)
    out.groups = {g: cs for g, cs in groups.items() if cs}
    return out


def _key(path: str, trees: dict[str, str]) -> tuple[str, str]:
    """(kernel version, path inside its tree), or ("other", path)."""
    for kver, tree in trees.items():
        if path == tree:
            return kver, "."
        if path.startswith(tree + "/"):
            return kver, path[len(tree) + 1:]
    return OTHER, path


def _load_pair(a: IsoSource, b: IsoSource, progress: Progress | None,
               cancel: threading.Event | None
               ) -> tuple[list[str], dict[tuple[str, str], _Seen],
                          list[str], dict[tuple[str, str], _Seen]]:
    """(kernel versions, (group, path) -> what we compare) of A and of B."""
    with _open(a, "A", progress, cancel) as ia:
        ib, reused = _open_against(b, ia, progress, cancel)
        with ib:
            ka, ea = _entries(ia)
            kb, eb = _entries(ib)
            same = _same_by_blocks(ia, ea, ib, eb, reused)
            da = _digests(ia, [e for k, e in ea.items() if k not in same], "A", progress,
                          cancel)
            db = _digests(ib, [e for k, e in eb.items() if k not in same], "B", progress,
                          cancel)
            return (list(ka), _seen(ia, ea, da, same), list(kb), _seen(ib, eb, db, same))


def _open(src: IsoSource, which: str, progress: Progress | None,
          cancel: threading.Event | None) -> InstallImage:
    off, size = src.extent(INSTALL_IMG)
    return InstallImage.open(src.path, off, size, name=f"install.img ({which})",
                             progress=progress, cancel=cancel)


def _open_against(src: IsoSource, base: InstallImage, progress: Progress | None,
                  cancel: threading.Event | None
                  ) -> tuple[InstallImage, list[tuple[int, int, int]]]:
    """B scanned against A's blocks: the image and (uoff, ulen, uoff in A) of every block
    of B that is a block of A; a plain open (no such blocks) when that cannot be used."""
    scan_a = base.scan_result
    if len(scan_a.segment_info) == 1 and scan_a.segment_info[0].codec == "bzip2" \
            and scan_a.block_digests:
        off, size = src.extent(INSTALL_IMG)
        region = FileRegion(src.path, off, size, "install.img (B)")
        known = known_blocks.KnownBlocks()
        known.add_source(scan_a)
        inc = known_blocks.scan_or_none(region, "install.img (B)", known,
                                        progress or Progress(), cancel)
        if inc is not None and not inc.scan.problems and len(inc.scan.segment_info) == 1:
            return InstallImage(inc.scan), [(u, n, su) for u, n, s, su in inc.reused_from
                                            if s is scan_a]
        if inc is not None:
            inc.scan.close()
        region.close()
    return _open(src, "B", progress, cancel), []


def _entries(img: InstallImage) -> tuple[dict[str, str], dict[tuple[str, str], Entry]]:
    kernels = {k: img.resolve(img.kernel_dir(k)) or img.kernel_dir(k) for k in img.kernels()}
    return kernels, {_key(_resolved(img, e.path), kernels): e
                     for e in img.entries() if not e.unsafe and e.path}


def _same_by_blocks(ia: InstallImage, ea: dict[tuple[str, str], Entry], ib: InstallImage,
                    eb: dict[tuple[str, str], Entry], reused: list[tuple[int, int, int]]
                    ) -> set[tuple[str, str]]:
    """Files of B whose data lies wholly in blocks of A, shifted exactly as from the same
    file's data in A: their content is A's, without reading it."""
    runs: list[tuple[int, int, int]] = []  # (start in B, end in B, A - B offset)
    for u, n, su in sorted(reused):
        if runs and runs[-1][1] == u and runs[-1][2] == su - u:
            runs[-1] = (runs[-1][0], u + n, su - u)
        else:
            runs.append((u, u + n, su - u))
    starts = [r[0] for r in runs]
    out: set[tuple[str, str]] = set()
    for key, e in eb.items():
        old = ea.get(key)
        if e.type != "file" or old is None or old.type != "file" or old.size != e.size:
            continue
        (a0, a1), (b0, b1) = ia.data_range(old), ib.data_range(e)
        if a1 - a0 != b1 - b0:
            continue
        i = bisect.bisect_right(starts, b0) - 1
        if b1 == b0 or (i >= 0 and runs[i][1] >= b1 and a0 - b0 == runs[i][2]):
            out.add(key)
    return out


def _seen(img: InstallImage, entries: dict[tuple[str, str], Entry],
          digests: dict[tuple[int, int], str], same: set[tuple[str, str]]
          ) -> dict[tuple[str, str], _Seen]:
    return {k: _Seen(e.type, e.mode, e.uid, e.gid, e.size, e.link_target,
                     e.rdev if e.type in ("chardev", "blockdev") else None,
                     ("same as A" if k in same else digests.get(img.data_range(e)))
                     if e.type == "file" else None)
            for k, e in entries.items()}


def _resolved(img: InstallImage, path: str) -> str:
    """The path with every symlink in its parent directories resolved."""
    parent, name = posixpath.split(path)
    if not parent:
        return path
    real = img.resolve(parent)
    return posixpath.join(real, name) if real else path


def _digests(img: InstallImage, entries: list[Entry], which: str, progress: Progress | None,
             cancel: threading.Event | None) -> dict[tuple[int, int], str]:
    """sha256 of every file's data range, in one streaming pass over the image."""
    spans = sorted({img.data_range(e) for e in entries if e.type == "file"})
    spans = [s for s in spans if s[1] > s[0]]
    total = sum(b - a for a, b in spans)
    hashes = [hashlib.sha256() for _ in spans]
    if progress is not None:
        progress.step(f"install.img ({which}): digesting files", total)
    for i, data in img.iter_ranges(spans, cancel):
        check(cancel)
        hashes[i].update(data)
        if progress is not None:
            progress.advance(len(data))
    if progress is not None:
        progress.finish_step()
    empty = hashlib.sha256().hexdigest()
    out = {s: h.hexdigest() for s, h in zip(spans, hashes, strict=True)}
    return out | {(e.data_offset, e.data_offset): empty for e in entries}


def _entry_change(path: str, a: _Seen | None, b: _Seen | None) -> EntryChange | None:
    if a is None:
        assert b is not None
        return EntryChange(path, Change.ADDED, b.type, _describe(b), _data(b))
    if b is None:
        return EntryChange(path, Change.REMOVED, a.type, _describe(a), _data(a))
    if a.type != b.type:
        return EntryChange(path, Change.CHANGED, b.type, [f"type {a.type} -> {b.type}"],
                           _data(b))
    details: list[str] = []
    if a.digest != b.digest:
        details.append("content" if a.size == b.size else f"content ({a.size} -> {b.size} B)")
    if a.link != b.link:
        details.append(f"symlink {a.link} -> {b.link}")
    if a.mode != b.mode:
        details.append(f"mode {a.mode:04o} -> {b.mode:04o}")
    if (a.uid, a.gid) != (b.uid, b.gid):
        details.append(f"owner {a.uid}:{a.gid} -> {b.uid}:{b.gid}")
    if a.rdev != b.rdev and a.rdev is not None and b.rdev is not None:
        details.append(f"device {a.rdev[0]},{a.rdev[1]} -> {b.rdev[0]},{b.rdev[1]}")
    return EntryChange(path, Change.CHANGED, b.type, details, _data(b)) if details else None


def _data(s: _Seen) -> int:
    return s.size if s.type == "file" else 0


def _describe(s: _Seen) -> list[str]:
    if s.type == "symlink":
        return [f"-> {s.link}"]
    if s.type == "file":
        return [f"{s.size} B"]
    return []
