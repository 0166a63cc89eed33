"""The payload of an RPM as entries to install into install.img (no rpm, no root).

libarchive reads the cpio payload (any compressor it knows). File owners are NOT
in that cpio in a usable form (rpm writes the build host's ids): rpm itself takes
them from the header tags FILEUSERNAME / FILEGROUPNAME, so we read those too (with
``rpmheader``'s structural reader) and match them to paths. Scriptlets are never run and no rpmdb
is touched; the caller says so in its plan.

Given a spool directory, file data past a small size is written there block by block
as it decodes (``PayloadEntry.spool``), so a payload's memory stays bounded whatever
its files' sizes; without one, data is held in memory (capped by the decode budget).
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import libarchive
import libarchive.exception

from xcptui.engine import layout, limits
from xcptui.engine.errors import BuildError, InputError
from xcptui.engine.events import check
from xcptui.engine.rpm.header import HeaderBlock, read_layout

TAG_NAME = 1000
TAG_OLDFILENAMES = 1027
TAG_FILEUSERNAME = 1039
TAG_FILEGROUPNAME = 1040
TAG_DIRINDEXES = 1116
TAG_BASENAMES = 1117
TAG_DIRNAMES = 1118

# With a spool directory: a file's data goes to disk once it passes SPOOL_MIN, and every
# file does once the data held in memory for the whole payload passes MEMORY_CAP.
SPOOL_MIN = 1 << 20
MEMORY_CAP = 32 << 20


@dataclass
class PayloadEntry:
    path: str  # relative to the image root, e.g. "usr/bin/some-tool"
    type: str  # file | dir | symlink | hardlink | chardev | blockdev | fifo | socket
    mode: int  # permission bits
    uname: str
    gname: str
    mtime: int
    data: bytes = b""  # empty when spooled
    link_target: str | None = None  # symlink target, or hardlink: path of the other link
    rdev: tuple[int, int] = (0, 0)
    spool: Path | None = None  # the data's host copy (a file in the spool directory)
    size: int = 0  # data size, spooled or not

    def read_data(self) -> bytes:
        """The data, from memory or the spool file (for small consumers only)."""
        return self.spool.read_bytes() if self.spool is not None else self.data


@dataclass
class RpmPayload:
    label: str  # the file name, for messages
    name: str  # the package name
    entries: list[PayloadEntry] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.entries:
            out[e.type] = out.get(e.type, 0) + 1
        return out


def _strings(block: HeaderBlock, tag: int) -> list[str]:
    v = block.raw_value(tag)
    if v is None or v[0] not in (6, 8, 9):  # STRING, STRING_ARRAY, I18NSTRING
        return []
    return [x.decode("utf-8", "replace") for x in v[2].split(b"\0")[:v[1]]]


def _ints(block: HeaderBlock, tag: int) -> list[int]:
    v = block.raw_value(tag)
    if v is None or v[0] != 4:  # INT32
        return []
    return list(struct.unpack(f">{v[1]}I", v[2][:4 * v[1]]))


def read_owners(path: Path) -> tuple[str, dict[str, tuple[str, str]]]:
    """(package name, {relative path: (user, group)}) from the RPM header.

    The header is checked first (lead, both headers, payload size), so a non-RPM or
    a truncated download is a one-line InputError naming the file.
    """
    lay = read_layout(path)
    if lay.is_source:
        raise InputError(f"{path.name}: is a source RPM; only binary RPM payloads can be "
                         "installed into install.img")
    h = lay.header
    name = (_strings(h, TAG_NAME) or [path.name])[0]
    users, groups = _strings(h, TAG_FILEUSERNAME), _strings(h, TAG_FILEGROUPNAME)
    files = _strings(h, TAG_OLDFILENAMES)
    if not files:
        dirs, bases = _strings(h, TAG_DIRNAMES), _strings(h, TAG_BASENAMES)
        idx = _ints(h, TAG_DIRINDEXES)
        files = [dirs[i] + b for i, b in zip(idx, bases, strict=False) if i < len(dirs)]
    owners = {}
    for i, f in enumerate(files):
        rel = layout.image_path(f)
        if rel is not None:
            owners[rel] = (users[i] if i < len(users) else "root",
                           groups[i] if i < len(groups) else "root")
    return name, owners


def _entry_type(e: libarchive.ArchiveEntry) -> str:
    if e.islnk:
        return "hardlink"
    for attr, kind in (("isdir", "dir"), ("issym", "symlink"), ("isreg", "file"),
                       ("ischr", "chardev"), ("isblk", "blockdev"), ("isfifo", "fifo"),
                       ("issock", "socket")):
        if getattr(e, attr):
            return kind
    return "file"


def read_payload(path: Path, spool_dir: Path | None = None,
                 cancel: threading.Event | None = None) -> RpmPayload:
    """Every payload entry of the RPM at ``path``; InputError if it is not a readable RPM.

    File data is read block by block against a budget (total size, expansion ratio
    against the RPM's size, entry count), so a payload bomb is refused after a bounded
    amount of work instead of being decompressed whole. With ``spool_dir`` (an existing
    private directory the caller removes) data past ``SPOOL_MIN`` goes there as it
    decodes, so memory stays bounded too.
    """
    path = Path(path)
    label = path.name
    if not path.is_file():
        raise InputError(f"{label}: no such file ({path})")
    name, owners = read_owners(path)
    out = RpmPayload(label, name)
    budget = limits.DecodeBudget(label, limits.MAX_RPM_PAYLOAD, "payload decompresses")
    # Only the RPM's size is known as "compressed input": the ratio's base, counted once.
    budget.add("rpm", 0, path.stat().st_size)
    sink = _Sink(spool_dir, budget, cancel)
    try:
        with libarchive.file_reader(str(path)) as archive:
            for e in archive:
                check(cancel)
                if len(out.entries) >= limits.MAX_CPIO_ENTRIES:
                    raise InputError(f"{label}: payload has more than "
                                     f"{limits.MAX_CPIO_ENTRIES} entries (a bomb?)")
                out.entries.append(_convert(e, owners, label, sink, len(out.entries)))
    except libarchive.exception.ArchiveError as e:
        raise InputError(f"{label}: cannot read the RPM payload (truncated or corrupt: "
                         f"{_short(e)})") from None
    return out


class _Sink:
    """Where entry data goes: memory, or (past the thresholds) a spool file."""

    def __init__(self, spool_dir: Path | None, budget: limits.DecodeBudget,
                 cancel: threading.Event | None) -> None:
        self.dir, self.budget, self.cancel = spool_dir, budget, cancel
        self.in_memory = 0

    def read(self, e: libarchive.ArchiveEntry, key: int) -> tuple[bytes, Path | None, int]:
        """(data, spool file, size) of the entry, checked against the budget after every
        block it decodes."""
        parts: list[bytes] = []
        got = 0
        blocks = iter(e.get_blocks())
        for block in blocks:
            parts.append(block)
            got += len(block)
            self.budget.add(key, got, 0)
            if self.dir is not None and (got > SPOOL_MIN or
                                         self.in_memory + got > MEMORY_CAP):
                host, size = self._spool(self.dir / f"{key}", key, parts, blocks, got)
                return b"", host, size
        self.in_memory += got
        return b"".join(parts), None, got

    def _spool(self, host: Path, key: int, parts: list[bytes], rest: Iterator[bytes],
               got: int) -> tuple[Path, int]:
        try:
            # O_EXCL and O_NOFOLLOW: nothing placed there beforehand is written through
            fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | getattr(os, "O_CLOEXEC", 0), 0o600)
            with os.fdopen(fd, "wb") as fp:
                for p in parts:
                    fp.write(p)
                parts.clear()
                for block in rest:
                    check(self.cancel)
                    fp.write(block)
                    got += len(block)
                    self.budget.add(key, got, 0)
        except OSError as e:
            raise BuildError(f"{host}: cannot write the RPM payload's data: "
                             f"{e.strerror}") from None
        return host, got


def _text(value: str | bytes | None) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value or ""


def _convert(e: libarchive.ArchiveEntry, owners: dict[str, tuple[str, str]], label: str,
             sink: _Sink, index: int) -> PayloadEntry:
    pathname = _text(e.pathname)
    rel = layout.safe_relpath(pathname) if "\0" not in pathname else None
    if not rel:
        raise InputError(f"{label}: payload entry with an unsafe name: {pathname!r}")
    kind = _entry_type(e)
    user, group = owners.get(rel, (e.uname or "root", e.gname or "root"))
    data, spool, size = b"", None, 0
    if kind in ("file", "hardlink"):
        data, spool, size = sink.read(e, index)
    target: str | None = None
    if kind == "symlink":
        target = _text(e.linkpath)
        if "\0" in target:
            raise InputError(f"{label}: symlink {rel} has a NUL byte in its target")
    elif kind == "hardlink":
        target = layout.safe_relpath(_text(e.linkpath))
        if not target or "\0" in target:
            raise InputError(f"{label}: hardlink {rel} has an unsafe target")
    return PayloadEntry(
        path=rel, type=kind, mode=e.mode & 0o7777, uname=user, gname=group,
        mtime=int(e.mtime or 0), data=data, link_target=target,
        rdev=(e.rdevmajor, e.rdevminor) if kind in ("chardev", "blockdev") else (0, 0),
        spool=spool, size=size,
    )


def _short(e: Exception) -> str:
    return " ".join(str(e).split())[:160]
