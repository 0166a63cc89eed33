"""install.img: entries added, removed, changed, grouped per kernel tree and "other".

Byte-identical images (same size, same sha256 of the extent) are not decoded. Otherwise
each image is opened once (the header scan) and its file data streamed once through
``iter_ranges`` with every file's range in archive order, digesting each chunk as it
comes: nothing but the headers and one digest per file is held in memory.

Paths are compared resolved through the image's own symlinks (on EL7 roots
lib -> usr/lib). Entries of a kernel tree are keyed by kernel version and their path
inside the tree ("updates/igc.ko"), so an image with usr/lib/modules/<kver> and one with
a real lib/modules/<kver> still pair up, file by file. Modification times are not
compared: any repack may touch them, and they do not change what the installer runs.
"""

from __future__ import annotations

import hashlib
import posixpath
import threading
from dataclasses import dataclass

from xcptui.engine.diff.iso_files import sha256_extent
from xcptui.engine.diff.model import Change, EntryChange, ImageDiff
from xcptui.engine.events import Progress, check
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
    ka, ma = _load(a, "A", progress, cancel)
    kb, mb = _load(b, "B", progress, cancel)
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


def _load(src: IsoSource, which: str, progress: Progress | None,
          cancel: threading.Event | None) -> tuple[list[str], dict[tuple[str, str], _Seen]]:
    """(kernel versions, (group, path) -> what we compare) of one image."""
    off, size = src.extent(INSTALL_IMG)
    with InstallImage.open(src.path, off, size, name=f"install.img ({which})",
                           progress=progress, cancel=cancel) as img:
        kernels = {k: img.resolve(img.kernel_dir(k)) or img.kernel_dir(k)
                   for k in img.kernels()}
        entries = [e for e in img.entries() if not e.unsafe and e.path]
        digests = _digests(img, entries, which, progress, cancel)
        seen: dict[tuple[str, str], _Seen] = {}
        for e in entries:
            seen[_key(_resolved(img, e.path), kernels)] = _Seen(
                e.type, e.mode, e.uid, e.gid, e.size, e.link_target,
                e.rdev if e.type in ("chardev", "blockdev") else None,
                digests.get(img.data_range(e)) if e.type == "file" else None)
        return list(kernels), seen


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
