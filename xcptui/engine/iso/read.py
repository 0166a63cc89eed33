"""Read-only access to an ISO image through pycdlib: tree, files, extents, boot facts.

The source is never mounted or modified. Names come from Rock Ridge when present,
else Joliet, else plain ISO 9660 (version suffix stripped). File data is read
straight from each file's extent in the image, so install.img can be decoded in
parallel without extracting it.
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Protocol

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException

from xcptui.engine import limits
from xcptui.engine.errors import InputError
from xcptui.engine.events import Progress

SECTOR = 2048
PLATFORMS = {0: "BIOS", 1: "PowerPC", 2: "Mac", 0xEF: "UEFI"}


@dataclass
class IsoEntry:
    path: str  # "/boot/isolinux/isolinux.cfg"
    name: str
    is_dir: bool
    size: int
    offset: int  # byte offset of the data in the image
    is_symlink: bool = False
    link_target: str | None = None
    mode: int = 0
    truncated: bool = False  # its directory record says it runs past the end of the ISO


@dataclass
class BootImage:
    platform: str  # "BIOS" | "UEFI" | ...
    platform_id: int
    path: str | None  # the file the entry loads, None if no file has that extent
    load_size: int  # 512-byte sectors loaded by the firmware (El Torito sector count)
    load_rba: int
    media: str  # "no-emul" | "floppy" | "hdd"
    bootable: bool
    boot_info_table: bool


def norm(iso_path: str) -> str:
    """Canonical absolute ISO path: '/a/b' (no trailing slash, no '.' parts)."""
    p = posixpath.normpath("/" + iso_path.strip().lstrip("/"))
    return "/" if p in ("/", "//") else p


class RegionReader(io.RawIOBase):
    """A seekable read-only view of [offset, offset+size) of a host file."""

    def __init__(self, path: Path, offset: int, size: int, label: str = "") -> None:
        super().__init__()
        self._f = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._off, self._size, self._pos = offset, size, 0
        self._label = label or path.name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, b: Any) -> int:
        n = max(0, min(len(b), self._size - self._pos))
        if n == 0:
            return 0
        try:
            data = os.pread(self._f.fileno(), n, self._off + self._pos)
        except OSError as e:
            raise InputError(f"{self._label}: read error: {e.strerror}") from None
        if not data:  # the file shrank after it was opened
            raise InputError(f"{self._label}: truncated (the file shrank while being read)")
        b[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        self._f.close()
        super().close()


class IsoReader(Protocol):
    """The file-reading side of IsoSource: what the repository code needs of an ISO."""

    path: Path

    def exists(self, iso_path: str) -> bool: ...
    def is_dir(self, iso_path: str) -> bool: ...
    def listdir(self, iso_path: str = "/") -> list[IsoEntry]: ...
    def read(self, iso_path: str, limit: int | None = None) -> bytes: ...
    def open_file(self, iso_path: str) -> BinaryIO: ...
    def extract(self, iso_path: str, dest: Path, progress: Progress | None = None,
                cancel: threading.Event | None = None) -> list[Path]: ...


class IsoSource:
    """An ISO image opened read-only. Use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._iso = pycdlib.PyCdlib()
        self._lock = threading.Lock()  # pycdlib objects are not thread-safe
        self._entries: dict[str, IsoEntry] = {}
        self._children: dict[str, list[str]] = {}
        self._records: dict[str, Any] = {}
        self.name_source = "iso9660"
        self.size = 0
        self.volume_id = ""
        self._fp: BinaryIO | None = None

    # -- opening -----------------------------------------------------------
    @classmethod
    def open(cls, path: Path | str) -> IsoSource:
        src = cls(Path(path))
        src._open()
        return src

    def _open(self) -> None:
        p = self.path
        if not p.exists():
            raise InputError(f"{p}: no such file")
        if p.is_dir():
            raise InputError(f"{p}: is a directory, not an ISO image")
        try:
            self.size = p.stat().st_size
            self._fp = open(p, "rb")  # noqa: SIM115 - closed in close()
        except OSError as e:
            raise InputError(f"{p}: cannot read: {e.strerror}") from None
        if self.size < 17 * SECTOR:
            self.close()
            raise InputError(f"{p}: not an ISO 9660 image (only {self.size} bytes)")
        head = os.pread(self._fp.fileno(), 6, 16 * SECTOR)
        if head[1:6] != b"CD001":
            self.close()
            raise InputError(f"{p}: not an ISO 9660 image (no CD001 volume descriptor)")
        try:
            self._iso.open_fp(self._fp)
        except Exception as e:  # noqa: BLE001 - a parser fed hostile bytes fails in any way
            self.close()
            raise InputError(f"{p}: unreadable ISO 9660 structure ({_one_line(e)})") from None
        space = self._iso.pvd.space_size * SECTOR
        if space > self.size:
            self.close()
            raise InputError(
                f"{p}: truncated: the volume is {space} bytes but the file has {self.size}"
            )
        self.volume_id = self._iso.pvd.volume_identifier.decode("ascii", "replace").rstrip()
        if self._iso.has_rock_ridge():
            self.name_source = "rockridge"
        elif self._iso.has_joliet():
            self.name_source = "joliet"
        try:
            self._index()
        except Exception as e:  # noqa: BLE001 - as above: pycdlib objects built from bad bytes
            self.close()
            raise InputError(f"{p}: unreadable directory tree ({_one_line(e)})") from None
        try:
            self._check_extents()
            self._check_boot_entries()
        except InputError:
            self.close()
            raise

    def _check_extents(self) -> None:
        """Refuse an ISO with a file whose data lies past the end of the image.

        pycdlib would silently cut it (and a build would master the cut copy); empty
        files are exempt, mastering tools point them anywhere.
        """
        for e in self._entries.values():
            if e.is_dir or e.is_symlink:
                continue
            if e.truncated or (e.size and e.offset + e.size > self.size):
                raise InputError(f"{self.path}: {e.path} lies past the end of the image "
                                 "(truncated ISO)")

    def _check_boot_entries(self) -> None:
        """Every El Torito entry must load sectors that lie inside the file."""
        try:
            boots = self.eltorito()
        except Exception as e:  # noqa: BLE001 - pycdlib catalog objects from bad bytes
            raise InputError(f"{self.path}: unreadable El Torito boot catalog "
                             f"({_one_line(e)})") from None
        for i, b in enumerate(boots):
            end = b.load_rba * SECTOR + b.load_size * 512
            if end > self.size:
                raise InputError(f"{self.path}: El Torito entry {i + 1} ({b.platform}) loads "
                                 f"{b.load_size} sectors from sector {b.load_rba}, past the "
                                 f"end of the image ({self.size} bytes)")

    def _kw(self, path: str) -> dict[str, str]:
        key = {"rockridge": "rr_path", "joliet": "joliet_path"}.get(self.name_source, "iso_path")
        return {key: path}

    def _name_of(self, rec: Any) -> str:
        if self.name_source == "rockridge" and rec.rock_ridge is not None:
            return str(rec.rock_ridge.name().decode("utf-8", "replace"))
        ident = rec.file_identifier()
        if self.name_source == "joliet":
            return str(ident.decode("utf-16-be", "replace").split(";")[0])
        name = ident.decode("ascii", "replace").split(";")[0]
        return name[:-1] if name.endswith(".") else name

    def _index(self) -> None:
        root = Path("/")
        self._entries["/"] = IsoEntry("/", "", True, 0, 0, mode=0o755)
        stack = [str(root)]
        while stack:
            d = stack.pop()
            kids: list[str] = []
            for rec in self._iso.list_children(**self._kw(d)):
                if rec.is_dot() or rec.is_dotdot():
                    continue
                name = self._name_of(rec)
                if not name or "/" in name or "\0" in name or name in (".", ".."):
                    continue  # a name that would escape its directory is never listed
                path = posixpath.join(d, name)
                if path in self._entries:
                    continue  # a duplicate name (hostile or broken ISO): the first one wins
                is_link = bool(rec.rock_ridge is not None and rec.rock_ridge.is_symlink())
                mode = 0
                if rec.rock_ridge is not None:
                    try:
                        mode = int(rec.rock_ridge.get_file_mode())
                    except PyCdlibException:
                        mode = 0
                target = _link_target(rec.rock_ridge) if is_link else None
                is_dir = bool(rec.is_dir())
                # pycdlib cuts a file that runs past the end of the ISO to what is there,
                # which is negative when it starts past the end: 0, and extent() refuses it.
                raw_size = 0 if is_dir else int(rec.get_data_length())
                size = max(0, raw_size)
                e = IsoEntry(path, name, is_dir, size,
                             int(rec.extent_location()) * SECTOR, is_link, target,
                             stat.S_IMODE(mode) if mode else (0o755 if is_dir else 0o644))
                if not is_dir and not is_link:
                    declared = self._declared_lengths(rec.parent).get(e.offset // SECTOR)
                    e.truncated = raw_size < 0 or (declared is not None and declared > size)
                self._entries[path] = e
                self._records[path] = rec
                kids.append(path)
                if is_dir:
                    stack.append(path)
            self._children[d] = sorted(kids)

    _lengths: dict[int, dict[int, int]] | None = None

    def _declared_lengths(self, parent: Any) -> dict[int, int]:
        """extent -> data length as written in the directory's records.

        pycdlib silently cuts a file that runs past the end of the ISO, so the lengths
        are read again from the raw records to tell a truncated file from a short one.
        """
        if self._lengths is None:
            self._lengths = {}
        key = int(parent.extent_location())
        if key in self._lengths:
            return self._lengths[key]
        assert self._fp is not None
        off = key * SECTOR
        n = max(0, min(int(parent.get_data_length()), self.size - off, 16 << 20))
        raw = os.pread(self._fp.fileno(), n, off) if n else b""
        out: dict[int, int] = {}
        pos = 0
        while pos + 33 <= len(raw):
            rlen = raw[pos]
            if rlen == 0:  # records never cross a sector: the rest of it is padding
                pos = (pos // SECTOR + 1) * SECTOR
                continue
            if rlen < 33:
                break
            ext = int.from_bytes(raw[pos + 2:pos + 6], "little")
            out.setdefault(ext, int.from_bytes(raw[pos + 10:pos + 14], "little"))
            pos += rlen
        self._lengths[key] = out
        return out

    # -- context management ------------------------------------------------
    def close(self) -> None:
        if self._fp is not None:
            self._fp.close()
            self._fp = None

    def __enter__(self) -> IsoSource:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def pycdlib(self) -> pycdlib.PyCdlib:
        """The underlying pycdlib object (the build writes through it)."""
        return self._iso

    # -- tree --------------------------------------------------------------
    def exists(self, iso_path: str) -> bool:
        return norm(iso_path) in self._entries

    def is_dir(self, iso_path: str) -> bool:
        e = self._entries.get(norm(iso_path))
        return bool(e and e.is_dir)

    def entry(self, iso_path: str) -> IsoEntry:
        p = norm(iso_path)
        e = self._entries.get(p)
        if e is None:
            raise InputError(f"{self.path.name}: no {p} in the ISO")
        return e

    def listdir(self, iso_path: str = "/") -> list[IsoEntry]:
        p = norm(iso_path)
        e = self.entry(p)
        if not e.is_dir:
            return [e]
        return [self._entries[c] for c in self._children.get(p, [])]

    def walk(self, top: str = "/") -> Iterator[IsoEntry]:
        """Every entry under ``top`` (inclusive), parents before children."""
        e = self.entry(top)
        yield e
        if e.is_dir:
            for c in self._children.get(e.path, []):
                yield from self.walk(c)

    def record(self, iso_path: str) -> Any:
        return self._records[norm(iso_path)]

    def iso9660_path(self, iso_path: str) -> str:
        """The plain ISO 9660 path (e.g. '/BOOT/ISOLINUX/ISOLINUX.CFG;1') of an entry."""
        rec = self.record(iso_path)
        with self._lock:
            return str(self._iso.full_path_from_dirrecord(rec))

    def joliet_path(self, iso_path: str) -> str | None:
        """The Joliet path of an entry, or None if the ISO has no Joliet tree or no such name."""
        if not self._iso.has_joliet():
            return None
        try:
            rec = self._iso.get_record(**self._kw(norm(iso_path)))
        except PyCdlibException:
            return None
        if self.name_source == "joliet":
            return norm(iso_path)
        if self.entry(iso_path).is_dir:
            # Joliet directories have their own extents; mastering tools give them the
            # Rock Ridge name (when it fits in 64 characters).
            try:
                with self._lock:
                    self._iso.get_record(joliet_path=norm(iso_path))
            except PyCdlibException:
                return None
            return norm(iso_path)
        # The Joliet and ISO 9660 records of a file share its extent.
        return self._joliet_by_extent().get(int(rec.extent_location()))

    _joliet_cache: dict[int, str] | None = None

    def _joliet_by_extent(self) -> dict[int, str]:
        if self._joliet_cache is None:
            cache: dict[int, str] = {}
            with self._lock:
                for dirpath, _dirs, files in self._iso.walk(joliet_path="/"):
                    for f in files:
                        jp = posixpath.join(dirpath, f)
                        try:
                            rec = self._iso.get_record(joliet_path=jp)
                        except PyCdlibException:
                            continue
                        cache[int(rec.extent_location())] = jp
            self._joliet_cache = cache
        return self._joliet_cache

    # -- data --------------------------------------------------------------
    def extent(self, iso_path: str) -> tuple[int, int]:
        e = self.entry(iso_path)
        if e.is_dir:
            raise InputError(f"{self.path.name}: {e.path} is a directory")
        if e.truncated or e.offset + e.size > self.size:
            raise InputError(
                f"{self.path.name}: {e.path} lies past the end of the image (truncated ISO)"
            )
        return e.offset, e.size

    def read(self, iso_path: str, limit: int | None = None) -> bytes:
        """A file's bytes (at most ``limit``); files over MAX_ISO_READ must be streamed."""
        off, size = self.extent(iso_path)
        if limit is None and size > limits.MAX_ISO_READ:
            raise InputError(f"{self.path.name}: {norm(iso_path)} is {size} bytes, too big "
                             "to read into memory")
        n = size if limit is None else min(size, limit)
        assert self._fp is not None
        try:
            data = os.pread(self._fp.fileno(), n, off)
        except OSError as e:
            raise InputError(f"{self.path.name}: read error: {e.strerror}") from None
        if len(data) < n:
            raise InputError(f"{self.path.name}: {norm(iso_path)} is truncated (the file "
                             "shrank after it was opened)")
        return data

    def open_file(self, iso_path: str) -> BinaryIO:
        off, size = self.extent(iso_path)
        reader: BinaryIO = io.BufferedReader(
            RegionReader(self.path, off, size, f"{self.path.name}: {norm(iso_path)}"), 1 << 20)
        return reader

    def extract(self, iso_path: str, dest: Path, progress: Progress | None = None,
                cancel: threading.Event | None = None) -> list[Path]:
        """Copy a file or a subtree to ``dest`` (a directory); see ``iso.extract``."""
        from xcptui.engine.iso.extract import extract_tree

        return extract_tree(self, iso_path, dest, progress, cancel)

    # -- boot facts --------------------------------------------------------
    def eltorito(self) -> list[BootImage]:
        cat = getattr(self._iso, "eltorito_boot_catalog", None)
        if cat is None:
            return []
        by_extent = {e.offset // SECTOR: e.path for e in self._entries.values() if not e.is_dir}
        out: list[BootImage] = []
        media = {0: "no-emul", 1: "floppy", 2: "floppy", 3: "floppy", 4: "hdd"}

        def add(entry: Any, pid: int) -> None:
            ino = getattr(entry, "inode", None)
            out.append(BootImage(
                PLATFORMS.get(pid, f"0x{pid:02x}"), pid, by_extent.get(int(entry.load_rba)),
                int(entry.sector_count), int(entry.load_rba),
                media.get(int(entry.boot_media_type), "?"), entry.boot_indicator == 0x88,
                bool(ino is not None and ino.boot_info_table is not None),
            ))

        add(cat.initial_entry, int(cat.validation_entry.platform_id))
        for sec in cat.sections:
            for entry in sec.section_entries:
                add(entry, int(sec.platform_id))
        return out

    def boot_catalog_path(self) -> str | None:
        cat = getattr(self._iso, "eltorito_boot_catalog", None)
        if cat is None:
            return None
        ext = int(cat.extent_location())
        return next((e.path for e in self._entries.values()
                     if not e.is_dir and e.offset // SECTOR == ext), None)


def _link_target(rr: Any) -> str:
    """A Rock Ridge symlink's target ("/" too: pycdlib renders a lone root as "")."""
    target = rr.symlink_path().decode("utf-8", "replace")
    if not target:
        recs = list(rr.dr_entries.sl_records)
        if rr.ce_entries is not None:
            recs += list(rr.ce_entries.sl_records)
        if any(c.flags & 0x8 for r in recs for c in r.symlink_components):
            target = "/"
    return str(target)


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__
