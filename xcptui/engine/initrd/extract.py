"""Copying a file or subtree of install.img to the host, safely and without root."""

from __future__ import annotations

import os
import posixpath
import threading
from pathlib import Path
from typing import BinaryIO

from xcptui.engine.errors import InputError
from xcptui.engine.events import Progress, check
from xcptui.engine.initrd import cpio
from xcptui.engine.initrd.entry import Entry
from xcptui.engine.initrd.image import InstallImage


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
    Symlinks in the parents of ``path`` are followed ("lib/modules/4.19.0+1" is
    usr/lib/modules/4.19.0+1 on real media); a symlink named last comes out as a link.
    """
    progress = progress or Progress()
    top = cpio.image_path(path)
    if top is None:
        raise InputError(f"{img.name}: refusing unsafe path {path}")
    if top:
        top = img.resolve(top, follow_last=False)
    if top is None:
        raise InputError(f"{img.name}: too many symlinks resolving {path}")
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
            if target.is_dir() and not target.is_symlink():
                # a later segment's symlink over a directory: the kernel's unpacker cannot
                # replace a non-empty directory either, and keeps it
                result.skipped.append(f"/{e.path} (symlink over a directory, kept the "
                                      "directory)")
                continue
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

