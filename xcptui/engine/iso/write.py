"""Applying file-level changes to an opened ISO through pycdlib, then mastering it.

Names: every file keeps its Rock Ridge name (the one users and the installer see).
New files get a unique ISO 9660 level-1 name (8.3, d-characters) and a Joliet name;
Joliet names are capped at 64 characters by pycdlib, so longer names (RPMs,
createrepo_c's hashed repodata files) get a shortened, unique Joliet name while the
Rock Ridge name stays complete.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from pycdlib.pycdlibexception import PyCdlibException

from xcptui.engine.errors import BuildError, InputError
from xcptui.engine.events import Progress, check
from xcptui.engine.iso.read import IsoSource, norm

JOLIET_MAX = 64
_D_CHARS = re.compile(r"[^A-Z0-9_]")


@dataclass
class IsoChanges:
    """File-level edits to the ISO tree, by Rock Ridge path."""

    put: dict[str, Path] = field(default_factory=dict)  # add or replace from a host file
    remove: set[str] = field(default_factory=set)  # files or whole directories
    volume_id: str | None = None

    def empty(self) -> bool:
        return not self.put and not self.remove and self.volume_id is None


def _d_name(s: str, maxlen: int) -> str:
    return (_D_CHARS.sub("_", s.upper()) or "_")[:maxlen]


class _Namer:
    """Unique ISO 9660 and Joliet names per directory for files the build adds."""

    def __init__(self, src: IsoSource) -> None:
        self.src = src
        self._iso_taken: dict[str, set[str]] = {}
        self._joliet_taken: dict[str, set[str]] = {}

    def _iso_names(self, iso_dir: str) -> set[str]:
        if iso_dir not in self._iso_taken:
            names: set[str] = set()
            try:
                for rec in self.src.pycdlib.list_children(iso_path=iso_dir):
                    if not (rec.is_dot() or rec.is_dotdot()):
                        names.add(rec.file_identifier().decode("ascii", "replace"))
            except PyCdlibException:
                pass
            self._iso_taken[iso_dir] = names
        return self._iso_taken[iso_dir]

    def _joliet_names(self, jdir: str) -> set[str]:
        if jdir not in self._joliet_taken:
            names: set[str] = set()
            try:
                for rec in self.src.pycdlib.list_children(joliet_path=jdir):
                    if not (rec.is_dot() or rec.is_dotdot()):
                        names.add(rec.file_identifier().decode("utf-16-be", "replace"))
            except PyCdlibException:
                pass
            self._joliet_taken[jdir] = names
        return self._joliet_taken[jdir]

    def iso_file(self, iso_dir: str, name: str) -> str:
        stem, _, ext = name.rpartition(".") if "." in name.lstrip(".") else (name, "", "")
        base, e = _d_name(stem, 8), _d_name(ext, 3) if ext else ""
        taken = self._iso_names(iso_dir)
        i = 0
        while True:
            b = base if i == 0 else base[: 8 - len(str(i)) - 1] + "~" + str(i)
            b = b.replace("~", "_")
            ident = f"{b}.{e};1"
            if ident not in taken:
                taken.add(ident)
                return posixpath.join(iso_dir, ident)
            i += 1

    def iso_dir(self, parent: str, name: str) -> str:
        taken = self._iso_names(parent)
        base = _d_name(name, 8)
        i = 0
        while True:
            b = base if i == 0 else base[: 8 - len(str(i)) - 1] + "_" + str(i)
            if b not in taken:
                taken.add(b)
                return posixpath.join(parent, b)
            i += 1

    def joliet(self, jdir: str, name: str) -> str:
        taken = self._joliet_names(jdir)
        cand = name
        if len(cand) > JOLIET_MAX:
            stem, dot, ext = name.rpartition(".")
            ext = (dot + ext) if dot and len(ext) <= 8 else ""
            stem = name[: -len(ext)] if ext else name
            i = 0
            while True:
                tag = f"~{i}" if i else ""
                cand = stem[: JOLIET_MAX - len(ext) - len(tag)] + tag + ext
                if cand not in taken:
                    break
                i += 1
        taken.add(cand)
        return posixpath.join(jdir, cand)


def _iso_path_of_dir(src: IsoSource, created: dict[str, tuple[str, str | None]],
                     rr_dir: str) -> tuple[str, str | None]:
    """ISO 9660 and Joliet path of an existing or just-created directory."""
    if rr_dir in created:
        return created[rr_dir]
    if rr_dir == "/":
        return "/", "/"
    iso = src.iso9660_path(rr_dir)
    jol = src.joliet_path(rr_dir) if src.pycdlib.has_joliet() else None
    return iso, jol


def apply(src: IsoSource, changes: IsoChanges, keepalive: list[BinaryIO]) -> list[str]:
    """Apply ``changes`` to the pycdlib object of ``src`` (in memory). Returns human lines."""
    iso = src.pycdlib
    has_joliet = bool(iso.has_joliet())
    has_rr = bool(iso.has_rock_ridge())
    namer = _Namer(src)
    created: dict[str, tuple[str, str | None]] = {}
    lines: list[str] = []
    try:
        for rr in sorted(changes.remove, key=lambda p: -p.count("/")):
            _remove(src, rr)
            lines.append(f"removed {rr}")
        for rr, host in sorted(changes.put.items()):
            rr = norm(rr)
            size = host.stat().st_size
            fp = open(host, "rb")  # noqa: SIM115 - pycdlib reads it during write
            keepalive.append(fp)
            if src.exists(rr) and rr not in changes.remove:
                if src.is_dir(rr):
                    raise InputError(f"{rr}: is a directory on the ISO; cannot replace it "
                                     "by a file")
                iso.update_file_contents_fp(fp, size, iso_path=src.iso9660_path(rr))
                lines.append(f"replaced {rr}")
                continue
            parent, name = posixpath.split(rr)
            _ensure_dir(src, namer, created, parent, has_rr, has_joliet)
            iso_dir, jdir = _iso_path_of_dir(src, created, parent)
            kw: dict[str, Any] = {"iso_path": namer.iso_file(iso_dir, name)}
            if has_rr:
                kw["rr_name"] = name
                kw["file_mode"] = 0o100444
            if has_joliet and jdir is not None:
                kw["joliet_path"] = namer.joliet(jdir, name)
            iso.add_fp(fp, size, **kw)
            lines.append(f"added {rr}")
        if changes.volume_id is not None:
            set_volume_id(src, changes.volume_id)
            lines.append(f"volume id: {src.volume_id!r} -> {changes.volume_id!r}")
    except PyCdlibException as e:
        raise BuildError(f"{src.path.name}: cannot apply the change ({e})") from None
    return lines


def _ensure_dir(src: IsoSource, namer: _Namer, created: dict[str, tuple[str, str | None]],
                rr_dir: str, has_rr: bool, has_joliet: bool) -> None:
    if rr_dir == "/" or rr_dir in created or (src.exists(rr_dir) and src.is_dir(rr_dir)):
        return
    if src.exists(rr_dir):
        raise InputError(f"{rr_dir}: is a file on the ISO; cannot create a directory there")
    parent, name = posixpath.split(rr_dir)
    _ensure_dir(src, namer, created, parent, has_rr, has_joliet)
    iso_parent, jparent = _iso_path_of_dir(src, created, parent)
    kw: dict[str, Any] = {"iso_path": namer.iso_dir(iso_parent, name)}
    if has_rr:
        kw["rr_name"] = name
        kw["file_mode"] = 0o40555
    jpath = None
    if has_joliet and jparent is not None:
        jpath = namer.joliet(jparent, name)
        kw["joliet_path"] = jpath
    src.pycdlib.add_directory(**kw)
    created[rr_dir] = (kw["iso_path"], jpath)


def _remove(src: IsoSource, rr: str) -> None:
    iso = src.pycdlib
    e = src.entry(rr)
    if not e.is_dir:
        iso.rm_file(iso_path=src.iso9660_path(rr))
        return
    for child in reversed(list(src.walk(rr))):
        if child.is_dir:
            jp = src.joliet_path(child.path) if iso.has_joliet() else None
            iso.rm_directory(iso_path=src.iso9660_path(child.path))
            if jp:
                with contextlib.suppress(PyCdlibException):
                    iso.rm_joliet_directory(jp)
        else:
            iso.rm_file(iso_path=src.iso9660_path(child.path))


def set_volume_id(src: IsoSource, volume_id: str) -> None:
    iso = src.pycdlib
    raw = volume_id.encode("ascii")
    iso.pvd.volume_identifier = raw.ljust(32, b" ")
    jvd = getattr(iso, "joliet_vd", None)
    if jvd is not None:
        # Joliet's copy is UCS-2 big endian, 16 characters max.
        jvd.volume_identifier = volume_id[:16].encode("utf-16-be").ljust(32, b"\0")


def master(src: IsoSource, out: BinaryIO, progress: Progress,
           cancel: threading.Event | None) -> None:
    """Write the (modified) ISO to ``out``; raises Cancelled as soon as cancel is set."""
    total_holder = [0]

    def cb(done: int, total: int, _opaque: Any) -> None:
        check(cancel)
        if total_holder[0] != total:
            total_holder[0] = total
            progress.update(done, total)
        else:
            progress.update(done)

    progress.step("write ISO", 0)
    try:
        src.pycdlib.write_fp(out, blocksize=1 << 20, progress_cb=cb)
    except PyCdlibException as e:
        raise BuildError(f"{src.path.name}: pycdlib could not master the ISO ({e})") from None
    progress.finish_step()

