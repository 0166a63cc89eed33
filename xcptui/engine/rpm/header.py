"""RPM metadata: read RPM files and existing repodata into :class:`RpmInfo`.

Package data comes from createrepo_c's bindings (``package_from_rpm`` for RPM files,
its XML parsers for repodata). This module adds what the bindings do not do:

* a structural check of the lead / signature header / header / payload size, run before
  librpm sees the file, so a non-RPM, a source RPM or a truncated download is a one-line
  :class:`InputError` naming the file (librpm would only print to stderr, and a file cut
  inside its payload reads fine header-wise);
* rpm's version comparison and dependency strings (in :mod:`.evr`, re-exported here);
* reading existing repodata (in :mod:`.metadata`).

The low-level header-block parser (:func:`parse_header_block`) is shared with
:mod:`xcptui.engine.rpmwrite`.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import createrepo_c as cr

from xcptui.engine.errors import InputError
from xcptui.engine.events import Progress, check
from xcptui.engine.rpm.evr import (  # noqa: F401  (re-exported: the rpm API)
    CR_FLAGS,
    OP_TO_CR,
    OPERATORS,
    SENSE_EQUAL,
    SENSE_GREATER,
    SENSE_LESS,
    SENSE_RPMLIB,
    Dep,
    Evr,
    evrcmp,
    parse_dep,
    parse_evr,
    rpmvercmp,
)

# --- format constants -------------------------------------------------------------------

LEAD_SIZE = 96
LEAD_MAGIC = b"\xed\xab\xee\xdb"
HEADER_MAGIC = b"\x8e\xad\xe8\x01"
HEADER_INTRO = 16  # magic (4) + reserved (4) + index count (4) + data size (4)
ENTRY_SIZE = 16  # tag, type, offset, count (big-endian int32 each)
MAX_HEADER_ENTRIES = 0xFFFF  # rpm's own sanity limits
MAX_HEADER_DATA = 256 * 1024 * 1024

# entry data types
T_NULL, T_CHAR, T_INT8, T_INT16, T_INT32, T_INT64 = 0, 1, 2, 3, 4, 5
T_STRING, T_BIN, T_STRING_ARRAY, T_I18NSTRING = 6, 7, 8, 9
TYPE_ALIGN = {T_INT16: 2, T_INT32: 4, T_INT64: 8}
TYPE_SIZE = {T_NULL: 0, T_CHAR: 1, T_INT8: 1, T_INT16: 2, T_INT32: 4, T_INT64: 8, T_BIN: 1}

# region tags
TAG_HEADERSIGNATURES = 62
TAG_HEADERIMMUTABLE = 63

# signature tags
SIG_SIZE = 1000
SIG_LONGSIZE = 270

@dataclass
class RpmInfo:
    """What xcptui knows about one RPM (from its header or from repodata)."""

    name: str
    epoch: int
    version: str
    release: str
    arch: str
    size: int  # bytes of the .rpm file
    installed_size: int = 0
    summary: str = ""
    requires: list[Dep] = field(default_factory=list)
    provides: list[Dep] = field(default_factory=list)
    conflicts: list[Dep] = field(default_factory=list)
    obsoletes: list[Dep] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    filename: str = ""  # basename of the .rpm
    href: str = ""  # location in the repository ("Packages/x.rpm")
    checksum: str | None = None  # sha256 of the file (pkgId)
    sourcerpm: str = ""
    path: Path | None = None  # host file, when read from one
    package: Any = field(default=None, repr=False, compare=False)  # createrepo_c.Package

    @property
    def evr_obj(self) -> Evr:
        return Evr(self.epoch, self.version, self.release)

    @property
    def evr(self) -> str:
        return str(self.evr_obj)

    @property
    def nevra(self) -> str:
        e = f"{self.epoch}:" if self.epoch else ""
        return f"{self.name}-{e}{self.version}-{self.release}.{self.arch}"

    @property
    def nvra(self) -> str:
        return f"{self.name}-{self.version}-{self.release}.{self.arch}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "epoch": self.epoch, "version": self.version,
            "release": self.release, "arch": self.arch, "nevra": self.nevra,
            "size": self.size, "installed_size": self.installed_size,
            "summary": self.summary, "filename": self.filename, "href": self.href,
            "checksum": self.checksum, "sourcerpm": self.sourcerpm,
            "requires": [str(d) for d in self.requires],
            "provides": [str(d) for d in self.provides],
            "conflicts": [str(d) for d in self.conflicts],
            "obsoletes": [str(d) for d in self.obsoletes],
            "files": list(self.files),
        }

    to_json = to_dict

    @classmethod
    def from_package(cls, pkg: Any, path: Path | None = None) -> RpmInfo:
        href = pkg.location_href or ""
        files = [f"{d}{n}" for _t, d, n, *_ in (pkg.files or [])]
        return cls(
            name=pkg.name, epoch=int(pkg.epoch or 0), version=pkg.version,
            release=pkg.release, arch=pkg.arch, size=int(pkg.size_package or 0),
            installed_size=int(pkg.size_installed or 0), summary=pkg.summary or "",
            requires=[Dep.from_cr(t) for t in pkg.requires],
            provides=[Dep.from_cr(t) for t in pkg.provides],
            conflicts=[Dep.from_cr(t) for t in pkg.conflicts],
            obsoletes=[Dep.from_cr(t) for t in pkg.obsoletes],
            files=files, filename=href.rsplit("/", 1)[-1], href=href,
            checksum=pkg.pkgId if (pkg.checksum_type or "").lower() == "sha256" else None,
            sourcerpm=pkg.rpm_sourcerpm or "", path=path, package=pkg,
        )


# --- structural check -------------------------------------------------------------------


@dataclass
class HeaderBlock:
    """One parsed header structure (signature header or main header)."""

    offset: int  # file offset of the magic
    size: int  # bytes from the magic to the end of the data store
    entries: list[tuple[int, int, int, int]]  # (tag, type, offset, count), index order
    data: bytes  # the data store
    region_tag: int | None

    def raw_value(self, tag: int) -> tuple[int, int, bytes] | None:
        """(type, count, bytes) of ``tag``'s data, or None."""
        for t, ty, off, cnt in self.entries:
            if t == tag:
                return ty, cnt, self.data[off:off + entry_data_length(ty, cnt, self.data, off)]
        return None

    def int_value(self, tag: int) -> int | None:
        v = self.raw_value(tag)
        if v is None:
            return None
        ty, cnt, raw = v
        if ty == T_INT32 and cnt >= 1:
            return int(struct.unpack(">I", raw[:4])[0])
        if ty == T_INT64 and cnt >= 1:
            return int(struct.unpack(">Q", raw[:8])[0])
        return None


def entry_data_length(ty: int, count: int, data: bytes, offset: int) -> int:
    """Bytes of an entry's data in the store; ValueError when it does not fit."""
    if ty in TYPE_SIZE:
        n = TYPE_SIZE[ty] * count
        if offset + n > len(data):
            raise ValueError("entry data past the end of the store")
        return n
    if ty in (T_STRING, T_STRING_ARRAY, T_I18NSTRING):
        if ty == T_STRING and count != 1:
            raise ValueError("string entry with count != 1")
        pos = offset
        for _ in range(count):
            end = data.find(b"\0", pos)
            if end < 0:
                raise ValueError("unterminated string in header data")
            pos = end + 1
        return pos - offset
    raise ValueError(f"unknown entry type {ty}")


def parse_header_block(buf: bytes, offset: int, what: str, *, deep: bool = False
                       ) -> HeaderBlock:
    """Parse the header structure at ``buf[offset:]``; ValueError (with ``what``) when bad.

    Every entry's type and offset are checked; ``deep`` also walks each entry's data
    (string terminators), which costs a Python loop per string.
    """
    if len(buf) < offset + HEADER_INTRO:
        raise ValueError(f"truncated inside the {what}")
    if buf[offset:offset + 4] != HEADER_MAGIC:
        raise ValueError(f"no {what} magic at offset {offset}")
    il, dl = struct.unpack(">ii", buf[offset + 8:offset + 16])
    if not (0 < il <= MAX_HEADER_ENTRIES) or not (0 <= dl <= MAX_HEADER_DATA):
        raise ValueError(f"{what} has an impossible size ({il} entries, {dl} bytes)")
    start = offset + HEADER_INTRO + il * ENTRY_SIZE
    end = start + dl
    if len(buf) < end:
        raise ValueError(f"truncated inside the {what}: needs {end} bytes, has {len(buf)}")
    entries = list(struct.iter_unpack(">iiii", buf[offset + HEADER_INTRO:start]))
    data = bytes(buf[start:end])
    for tag, ty, off, cnt in entries:
        if tag in (TAG_HEADERSIGNATURES, TAG_HEADERIMMUTABLE):
            continue
        if off < 0 or off > dl or cnt < 0 or not T_NULL <= ty <= T_I18NSTRING:
            raise ValueError(f"{what} entry {tag} is corrupt")
        if deep or ty in TYPE_SIZE:
            entry_data_length(ty, cnt, data, off)
    region = entries[0][0] if entries[0][0] in (TAG_HEADERSIGNATURES,
                                                TAG_HEADERIMMUTABLE) else None
    return HeaderBlock(offset, end - offset, entries, data, region)


@dataclass
class RpmLayout:
    """Where the parts of an RPM file are."""

    lead: bytes
    sig: HeaderBlock
    header: HeaderBlock
    payload_offset: int
    file_size: int
    is_source: bool
    prefix: bytes = b""  # the file's bytes up to the payload (lead + both headers)
    mtime: int = 0


def _read_prefix(fp: BinaryIO, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = fp.read(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


def read_layout(path: Path, name: str | None = None) -> RpmLayout:
    """Check the lead, both headers and the total size; InputError "x.rpm: not a valid RPM"."""
    label = name or path.name
    try:
        st = path.stat()
        with open(path, "rb") as fp:
            lay = _layout(fp, st.st_size, label)
        lay.mtime = int(st.st_mtime)
        return lay
    except FileNotFoundError:
        raise InputError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{label}: is a directory, not an RPM") from None
    except OSError as e:
        raise InputError(f"{label}: cannot read: {e.strerror or e}") from None


def _bad(label: str, why: str) -> InputError:
    return InputError(f"{label}: not a valid RPM ({why})")


def _layout(fp: BinaryIO, size: int, label: str) -> RpmLayout:
    head = _read_prefix(fp, LEAD_SIZE + HEADER_INTRO)
    if len(head) < 4 or head[:4] != LEAD_MAGIC:
        raise _bad(label, "no RPM lead magic")
    if len(head) < LEAD_SIZE + HEADER_INTRO:
        raise _bad(label, f"truncated: only {size} bytes")
    lead = head[:LEAD_SIZE]
    if lead[4] < 3:
        raise _bad(label, f"RPM format v{lead[4]} is too old")
    is_source = struct.unpack(">h", lead[6:8])[0] == 1
    il, dl = struct.unpack(">ii", head[LEAD_SIZE + 8:LEAD_SIZE + 16])
    if head[LEAD_SIZE:LEAD_SIZE + 4] != HEADER_MAGIC:
        raise _bad(label, "no signature header after the lead")
    if not (0 < il <= MAX_HEADER_ENTRIES and 0 <= dl <= MAX_HEADER_DATA):
        raise _bad(label, "impossible signature header size")
    sig_end = LEAD_SIZE + HEADER_INTRO + il * ENTRY_SIZE + dl
    hdr_off = sig_end + (-sig_end % 8)
    # read the main header's intro too, then the main header
    fp.seek(0)
    buf = _read_prefix(fp, hdr_off + HEADER_INTRO)
    if len(buf) < hdr_off + HEADER_INTRO:
        raise _bad(label, f"truncated inside the signature header: {size} bytes")
    try:
        sig = parse_header_block(buf, LEAD_SIZE, "signature header")
        il2, dl2 = struct.unpack(">ii", buf[hdr_off + 8:hdr_off + 16])
        if buf[hdr_off:hdr_off + 4] != HEADER_MAGIC:
            raise ValueError("no header magic after the signature header")
        if not (0 < il2 <= MAX_HEADER_ENTRIES and 0 <= dl2 <= MAX_HEADER_DATA):
            raise ValueError("impossible header size")
        hdr_end = hdr_off + HEADER_INTRO + il2 * ENTRY_SIZE + dl2
        if hdr_end > size:
            raise ValueError(f"truncated inside the header: {size} of {hdr_end}+ bytes")
        buf += _read_prefix(fp, hdr_end - len(buf))
        header = parse_header_block(buf, hdr_off, "header")
    except ValueError as e:
        raise _bad(label, str(e)) from None
    expected = sig.int_value(SIG_LONGSIZE) or sig.int_value(SIG_SIZE)
    if expected is not None:
        total = hdr_off + expected
        if size < total:
            raise _bad(label, f"truncated: {size} bytes, its signature header says {total}")
        if size > total:
            raise _bad(label, f"{size - total} unexpected bytes after the payload")
    return RpmLayout(lead, sig, header, hdr_end, size, is_source, bytes(buf[:hdr_end]))


# --- reading ----------------------------------------------------------------------------

CR_LOCK = threading.Lock()  # librpm's global state is not thread-safe


def read_rpm(path: Path, href: str | None = None, *, name: str | None = None,
             changelog_limit: int = 10) -> RpmInfo:
    """Read one binary RPM (header + sha256 of the file) with createrepo_c.

    ``href`` is its location in the repository (default ``Packages/<basename>``).
    InputError naming the file when it is not a valid (binary) RPM.
    """
    label = name or path.name
    lay = read_layout(path, label)
    if lay.is_source:
        raise InputError(f"{label}: is a source RPM; Packages/ holds binary RPMs")
    href = href if href is not None else f"Packages/{path.name}"
    try:
        with CR_LOCK:
            pkg = cr.package_from_rpm(str(path), cr.SHA256, href, None, changelog_limit,
                                      cr.HDRR_NONE)
    except (OSError, cr.CreaterepoCError) as e:
        msg = str(e).split(":")[-1].strip() or "unreadable header"
        raise _bad(label, f"librpm: {msg}") from None
    return RpmInfo.from_package(pkg, path)


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()  # releases the GIL


class Hasher:
    """sha256 of files in a thread pool (hashlib releases the GIL while hashing).

    ``package_from_rpm`` hashes the whole file while holding the GIL; hashing here
    instead lets two cores work. Use as a context manager; leaving it cancels pending
    work.
    """

    def __init__(self, workers: int | None = None) -> None:
        self._pool = ThreadPoolExecutor(workers or max(1, min(4, os.cpu_count() or 1)),
                                        thread_name_prefix="xcptui-sha256")

    def submit(self, path: Path) -> Future[str]:
        return self._pool.submit(sha256_file, path)

    def __enter__(self) -> Hasher:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def read_headers(items: list[tuple[Path, str]], progress: Progress | None = None,
                 cancel: threading.Event | None = None) -> list[RpmInfo]:
    """Validate and read the headers of many RPMs ((path, href) pairs), without hashing.

    createrepo_c reads a copy of each file's lead + signature header + header (every
    field it takes from the header is the same as from the whole file); the file's size
    and mtime are set on the package. ``checksum`` is None and ``package.pkgId`` must be
    set to the file's sha256 (:class:`Hasher`) before the package is written anywhere.
    """
    progress = progress or Progress()
    out: list[RpmInfo] = []
    progress.step("read RPM headers", len(items), unit="packages")
    with _HeaderFile() as head:
        for i, (path, href) in enumerate(items):
            check(cancel)
            lay = read_layout(path, href)
            if lay.is_source:
                raise InputError(f"{href}: is a source RPM; Packages/ holds binary RPMs")
            try:
                with CR_LOCK:
                    pkg = cr.package_from_rpm(head.write(lay.prefix), cr.SHA256, href,
                                              None, 10, cr.HDRR_NONE)
            except (OSError, cr.CreaterepoCError) as e:
                msg = str(e).split(":")[-1].strip() or "unreadable header"
                raise _bad(href, f"librpm: {msg}") from None
            pkg.size_package = lay.file_size
            pkg.time_file = lay.mtime
            pkg.pkgId = ""
            info = RpmInfo.from_package(pkg, path)
            info.checksum = None
            out.append(info)
            progress.update(i + 1)
    progress.finish_step()
    return out


def read_rpms(items: list[tuple[Path, str]], progress: Progress | None = None,
              cancel: threading.Event | None = None, *, workers: int | None = None
              ) -> list[RpmInfo]:
    """Read many RPMs ((path, href) pairs, in order) like :func:`read_rpm`, faster:
    headers first (one thread), then the files hashed in parallel.

    (Headers first: a Python thread making many small system calls next to busy hashing
    threads loses much of its time waiting for the GIL.)
    """
    progress = progress or Progress()
    infos = read_headers(items, progress, cancel)
    progress.step("checksum RPMs", sum(i.size for i in infos))
    with Hasher(workers) as hasher:
        futures = [hasher.submit(p) for p, _h in items]
        done = 0
        for info, fut in zip(infos, futures, strict=True):
            check(cancel)
            set_checksum(info, fut.result())
            done += info.size
            progress.update(done)
    progress.finish_step()
    return infos


def set_checksum(info: RpmInfo, digest: str) -> None:
    info.package.pkgId = digest
    info.checksum = digest


class _HeaderFile:
    """A scratch file holding one RPM's lead + headers for createrepo_c to read.

    An anonymous memory file (memfd) where the platform has one, reopened by librpm
    through /proc/self/fd; a temporary file otherwise.
    """

    def __enter__(self) -> _HeaderFile:
        self._tmp: Path | None = None
        if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
            self.fd = os.memfd_create("xcptui-rpm-header")
            self.path = f"/proc/self/fd/{self.fd}"
        else:  # pragma: no cover - non-Linux
            self.fd, name = tempfile.mkstemp(suffix=".rpm")
            self._tmp = Path(name)
            self.path = name
        return self

    def write(self, data: bytes) -> str:
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)
        return self.path

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)


