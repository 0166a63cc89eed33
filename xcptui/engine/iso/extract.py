"""Copy files or a subtree out of an ISO onto the host, never outside the destination.

The ISO is hostile input: names were already sanitised by ``IsoSource`` (no "/", NUL,
"." or ".."), and here only each entry's parent directory is resolved, never the entry
itself, so a symlink extracted earlier (to "/" or "..") is replaced, not followed, and
files are opened with O_NOFOLLOW.
"""

from __future__ import annotations

import os
import posixpath
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from xcptui.engine.errors import InputError
from xcptui.engine.events import Progress, check

if TYPE_CHECKING:
    from xcptui.engine.iso.read import IsoEntry, IsoSource

CHUNK = 1 << 20


def extract_tree(src: IsoSource, iso_path: str, dest: Path, progress: Progress | None = None,
                 cancel: threading.Event | None = None) -> list[Path]:
    """Copy a file or a subtree to ``dest`` (a directory); files come out user-writable.

    Nothing is written outside ``dest``; El Torito images are not added as
    "[BOOT]" files. Returns the regular files written.
    """
    progress = progress or Progress()
    top = src.entry(iso_path)
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise InputError(f"{dest}: exists and is not a directory")
    entries = list(src.walk(top.path))
    total = sum(e.size for e in entries if not e.is_dir and not e.is_symlink)
    progress.step(f"extract {top.path}", total)
    base = posixpath.dirname(top.path) if top.path != "/" else "/"
    written: list[Path] = []
    done = 0
    root = dest.resolve()
    for e in entries:
        check(cancel)
        rel = posixpath.relpath(e.path, base) if e.path != "/" else "."
        target = _target(e, root, rel, dest)
        if e.is_dir:
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if e.is_symlink:
            _make_symlink(e, target)
            continue
        src.extent(e.path)  # refuses a file past the end of the ISO before creating it
        # O_NOFOLLOW: a link left at this name must never be written through.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with open(fd, "wb") as out, src.open_file(e.path) as fp:
            while chunk := fp.read(CHUNK):
                check(cancel)
                out.write(chunk)
                done += len(chunk)
                progress.update(done)
        os.chmod(target, 0o755 if e.mode & 0o111 else 0o644)
        written.append(target)
    progress.finish_step()
    return written


def _target(e: IsoEntry, root: Path, rel: str, dest: Path) -> Path:
    """Where ``e`` goes under ``root``, with whatever stood at that name removed."""
    if rel == ".":
        return root
    path = root / rel
    parent = path.parent.resolve()
    if parent != root and root not in parent.parents:
        raise InputError(f"{e.path}: refusing to write outside {dest}")
    target = parent / path.name
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        target.unlink()  # replaced below (a file, a link, or a directory)
    elif target.is_dir() and not e.is_dir:
        raise InputError(f"{target}: is a directory; cannot extract {e.path} over it")
    return target


def _make_symlink(e: IsoEntry, target: Path) -> None:
    link = e.link_target or ""
    if not link or "\0" in link:
        raise InputError(f"{e.path}: symlink with an empty or NUL-containing target")
    try:
        os.symlink(link, target)
    except OSError as err:
        raise InputError(f"{target}: cannot create symlink: {err.strerror}") from None
