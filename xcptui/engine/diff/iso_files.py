"""ISO-level files: added, removed, changed (size, content, mode, symlink target).

Content is compared by sha256 of each file's extent, and only when the sizes agree
(a size change is already a change). Two files at the same extent offset and size in
two ISOs say nothing about their bytes, so equal sizes are always hashed. install.img
and Packages/*.rpm are not hashed here: their own sections compare what is inside.
"""

from __future__ import annotations

import hashlib
import os
import threading

from xcptui.engine.diff.model import Change, FileChange
from xcptui.engine.errors import InputError
from xcptui.engine.events import Progress, check
from xcptui.engine.iso.read import IsoEntry, IsoSource
from xcptui.engine.layout import INSTALL_IMG, PACKAGES

CHUNK = 1 << 20


def sha256_extent(src: IsoSource, path: str, progress: Progress | None = None,
                  cancel: threading.Event | None = None) -> str:
    """sha256 of a file's bytes, read from its extent in 1 MiB chunks."""
    off, n = src.extent(path)
    h = hashlib.sha256()
    with open(src.path, "rb") as f:
        pos = 0
        while pos < n:
            check(cancel)
            data = os.pread(f.fileno(), min(CHUNK, n - pos), off + pos)
            if not data:
                raise InputError(f"{src.path.name}: {path} is truncated (the file shrank)")
            h.update(data)
            pos += len(data)
            if progress is not None:
                progress.advance(len(data))
    return h.hexdigest()


def _index(src: IsoSource) -> dict[str, IsoEntry]:
    return {e.path: e for e in src.walk("/") if e.path != "/" and not own_rpm(e.path)}


def own_rpm(path: str) -> bool:
    # RPMs are reported by NEVRA in the packages section, never as files
    return path.startswith(PACKAGES + "/") and path.endswith(".rpm")


def compare(a: IsoSource, b: IsoSource, progress: Progress | None = None,
            cancel: threading.Event | None = None) -> list[FileChange]:
    """Every ISO path that differs, sorted by path."""
    ia, ib = _index(a), _index(b)
    out: list[FileChange] = []
    to_hash: list[tuple[str, FileChange]] = []
    for path in sorted(ia.keys() | ib.keys()):
        ea, eb = ia.get(path), ib.get(path)
        if eb is None:
            assert ea is not None
            out.append(FileChange(_shown(ea), Change.REMOVED, old_size=_fsize(ea)))
            continue
        if ea is None:
            out.append(FileChange(_shown(eb), Change.ADDED, new_size=_fsize(eb)))
            continue
        fc = FileChange(_shown(eb), Change.CHANGED, _fsize(ea), _fsize(eb))
        fc.details = _meta_details(ea, eb)
        if not (ea.is_dir or eb.is_dir or ea.is_symlink or eb.is_symlink):
            if ea.size != eb.size:
                fc.details.insert(0, "size")
            elif ea.size and path != INSTALL_IMG:
                to_hash.append((path, fc))
        out.append(fc)  # unchanged ones are dropped once hashed
    total = sum(ia[p].size * 2 for p, _fc in to_hash)
    if progress is not None and total:
        progress.step("comparing ISO files", total)
    for path, fc in to_hash:
        ha, hb = sha256_extent(a, path, progress, cancel), sha256_extent(b, path, progress, cancel)
        if ha != hb:
            fc.details.insert(0, "content")
            fc.sha256 = (ha, hb)
    if progress is not None and total:
        progress.finish_step()
    return [fc for fc in out if fc.change is not Change.CHANGED or fc.details]


def _fsize(e: IsoEntry) -> int | None:
    return None if e.is_dir else e.size


def _shown(e: IsoEntry) -> str:
    return e.path + "/" if e.is_dir else e.path


def _meta_details(ea: IsoEntry, eb: IsoEntry) -> list[str]:
    out: list[str] = []
    ka, kb = _kind(ea), _kind(eb)
    if ka != kb:
        return [f"type {ka} -> {kb}"]
    if ea.is_symlink and ea.link_target != eb.link_target:
        out.append(f"symlink {ea.link_target} -> {eb.link_target}")
    if ea.mode != eb.mode:
        out.append(f"mode {ea.mode:04o} -> {eb.mode:04o}")
    return out


def _kind(e: IsoEntry) -> str:
    return "dir" if e.is_dir else "symlink" if e.is_symlink else "file"
