"""The typed edit requests ``plan`` accepts, and the host data they carry."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from xcptui.engine.errors import InputError
from xcptui.engine.limits import human_binary


@dataclass
class AddFile:
    """Add or replace a regular file. A replaced file keeps its owner and mode unless
    given; a new one is root:root 0644 (0755 when the host file is executable)."""

    dest: str
    source: Path | bytes
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    origin: str = ""  # for bytes: where they come from, as the change line says it


@dataclass
class RemovePath:
    """Remove a file, a symlink or a whole directory subtree."""

    path: str


@dataclass
class AddDriver:
    """Install a kernel module (default <kernel tree>/updates/<name>.ko; the tree is
    usr/lib/modules/<kver> on real media, reached through lib -> usr/lib), remove
    every other copy of the same module in that kernel tree, regenerate the index.

    ``kernels``: "main", "alt", "all" or unames, each tree checked on its own (vermagic,
    then symbol CRCs); empty: ``kernel``, else the tree ``dest`` is in, else main.
    ``force`` turns a vermagic or CRC refusal into a warning.
    """

    source: Path
    kernel: str | None = None
    dest: str | None = None
    force: bool = False
    kernels: tuple[str, ...] = ()


@dataclass
class AddDriverSet:
    """The kernel modules of a driver package (a driver disk's RPM), each built for the
    kernel its path names: ``modules`` is (kver, host .ko, path in the payload).

    ``kernels`` ("main", "alt", "all" or unames) picks the trees; empty: every tree of
    the image the package has modules for. A chosen tree without a module is an error.
    """

    label: str
    modules: list[tuple[str, Path, str]]
    kernels: tuple[str, ...] = ()
    force: bool = False


@dataclass
class AddRpmPayload:
    """Copy an RPM's files into the image (no scriptlets, no rpmdb update)."""

    source: Path


Edit = AddFile | RemovePath | AddDriver | AddDriverSet | AddRpmPayload


@dataclass(frozen=True)
class HostFile:
    """File data that stays on the host until written (checked unchanged at write)."""

    path: Path
    size: int
    mtime_ns: int



def data_bytes(d: bytes | HostFile) -> bytes:
    if isinstance(d, bytes):
        return d
    return read_host(d.path)


def data_len(d: bytes | HostFile) -> int:
    return d.size if isinstance(d, HostFile) else len(d)


def read_host(path: Path, limit: int | None = None, what: str = "file") -> bytes:
    """A host file's bytes; past ``limit`` refused in one line before reading."""
    try:
        if limit is not None and (size := Path(path).stat().st_size) > limit:
            raise InputError(f"{path}: {human_binary(size)} is too big for {what} "
                             f"(limit {human_binary(limit)})")
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a file") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None


SMALL_FILE = 4 << 20  # host files up to this size are held in memory by the plan


def file_source(source: Path | bytes, now: int, origin: str = ""
                ) -> tuple[bytes | HostFile, str, bool, int]:
    """(data, label, executable, mtime) for an AddFile source."""
    if isinstance(source, bytes | bytearray):
        return bytes(source), origin or "data the recipe generated", False, now
    p = Path(source)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except OSError as e:
        raise InputError(f"{p}: cannot read: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{p}: is not a regular file")
    if not os.access(p, os.R_OK):
        raise InputError(f"{p}: is not readable")
    executable = bool(st.st_mode & 0o111)
    data: bytes | HostFile = read_host(p) if st.st_size <= SMALL_FILE else \
        HostFile(p, st.st_size, st.st_mtime_ns)
    return data, str(p), executable, int(st.st_mtime)

