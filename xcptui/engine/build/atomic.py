"""The output's temporary files: named so their owner is known, held by a lock, swept later.

A build writes ``.NAME.xcptui-PID-TOKEN.part`` (the new ISO) and
``.NAME.xcptui-PID-TOKEN.work`` (scratch) next to the output, and holds an ``flock``
on ``.NAME.xcptui-PID-TOKEN.lock`` for its whole life. Only ``commit`` puts the
output in place (rename). On any error, cancel or signal the files are removed; after
``kill -9`` or a power cut they stay, and the next build into the folder removes the
ones whose lock nobody holds (a live build's lock is held, so its files are never
touched). Live slots are registered so a signal handler can remove them
(``remove_live``) before the process exits.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

MARK = ".xcptui-"
_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.xcptui-(?P<pid>\d+)-(?P<token>[0-9a-f]{8})"
                       r"\.(?P<kind>lock|part|work)$")

_live: set[OutputSlot] = set()
_live_lock = threading.Lock()
_idle = threading.Condition(_live_lock)


@dataclass(eq=False)
class OutputSlot:
    """The temp names of one build into ``output``; a context manager."""

    output: Path
    token: str = field(default_factory=lambda: f"{os.getpid()}-{secrets.token_hex(4)}")
    _lock_fd: int | None = None

    @property
    def folder(self) -> Path:
        return self.output.parent

    def _name(self, kind: str) -> Path:
        return self.folder / f".{self.output.name}{MARK}{self.token}.{kind}"

    @property
    def lock_path(self) -> Path:
        return self._name("lock")

    @property
    def part(self) -> Path:
        return self._name("part")

    @property
    def work(self) -> Path:
        return self._name("work")

    def open(self) -> OutputSlot:
        # registered first, so a signal landing anywhere below still finds and removes it
        with _live_lock:
            _live.add(self)
        try:
            self._lock_fd = os.open(self.lock_path,
                                    os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            os.write(self._lock_fd, f"{os.getpid()}\n".encode())
            self.work.mkdir(mode=0o700)
        except BaseException:
            self.close()
            raise
        return self

    def open_part(self) -> int:
        """Create the .part file (mode as any new file would get) and return its fd."""
        umask = os.umask(0)
        os.umask(umask)
        return os.open(self.part, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                       0o666 & ~umask)

    def commit(self) -> None:
        """Rename the finished .part into place and make the rename durable."""
        os.replace(self.part, self.output)
        fsync_dir(self.folder)

    def close(self) -> None:
        """Remove what is left (part, work) and release the lock. Idempotent."""
        self.part.unlink(missing_ok=True)
        shutil.rmtree(self.work, ignore_errors=True)
        fd, self._lock_fd = self._lock_fd, None
        self.lock_path.unlink(missing_ok=True)  # ours (pid + token); before unlocking
        if fd is not None:
            os.close(fd)
        with _idle:
            _live.discard(self)
            _idle.notify_all()

    def __enter__(self) -> OutputSlot:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def remove_live() -> None:
    """Remove every live slot's files (from a signal handler, just before exiting)."""
    with _live_lock:
        slots = list(_live)
    for s in slots:
        s.close()


def wait_idle(timeout: float) -> bool:
    """Wait until no build holds a slot (workers cleaning up after a cancel)."""
    with _idle:
        return _idle.wait_for(lambda: not _live, timeout)


@dataclass(frozen=True)
class Leftover:
    path: Path
    size: int


def _size(p: Path) -> int:
    try:
        if p.is_dir() and not p.is_symlink():
            return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        return p.lstat().st_size
    except OSError:
        return 0


def _owner_gone(folder: Path, stem: str, pid: int) -> bool:
    """True when no live process holds this build's lock."""
    lock = folder / f"{stem}.lock"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        # no lock (crash between unlink and rmtree?): judge by the pid alone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # EWOULDBLOCK: a live build holds it
    finally:
        os.close(fd)
    return True


def sweep(folder: Path) -> list[Leftover]:
    """Remove leftovers of dead builds in ``folder``; return what was removed."""
    groups: dict[str, list[Path]] = {}
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    for n in names:
        m = _LEFTOVER.match(n)
        if m:
            stem = n[: -len(m["kind"]) - 1]
            groups.setdefault(stem, []).append(folder / n)
    removed: list[Leftover] = []
    mine = {s.lock_path.name[:-5] for s in list(_live)}
    for stem, paths in sorted(groups.items()):
        pid = int(_LEFTOVER.match(paths[0].name)["pid"])  # type: ignore[index]
        if stem in mine or not _owner_gone(folder, stem, pid):
            continue
        for p in sorted(paths, key=lambda p: p.suffix == ".lock"):  # the lock last
            size = _size(p)
            try:
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                else:
                    p.unlink()
            except FileNotFoundError:
                continue
            except OSError:
                continue
            if p.suffix != ".lock":
                removed.append(Leftover(p, size))
    return removed


def fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
