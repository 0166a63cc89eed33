"""Planning an install.img rewrite: validate every edit against the image and describe
the new archive (``plan``), without writing anything but depmod's temporary tree.

Untouched entries are later copied with their header bytes unchanged, so owners,
modes including 000, device nodes, mtimes, inode numbers and hardlinks survive
without root and without anything touching the disk.
"""

from __future__ import annotations

import posixpath
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xcptui.engine import units
from xcptui.engine.errors import InputError
from xcptui.engine.events import Progress, check
from xcptui.engine.initrd import cpio, kmod, modversions
from xcptui.engine.initrd.depmod_stage import DepmodStage
from xcptui.engine.initrd.driver_checks import DriverChecks
from xcptui.engine.initrd.edits import (
    AddDriver,
    AddDriverSet,
    AddFile,
    AddRpmPayload,
    HostFile,
    RemovePath,
    data_len,
    file_source,
    read_host,
)
from xcptui.engine.initrd.image import InstallImage
from xcptui.engine.initrd.symlinks import resolve_links
from xcptui.engine.initrd.units import ImagePlan, build_units, remove_dirs
from xcptui.engine.initrd.vtree import NewEntry, NewLink, VTree

# etc/passwd and etc/group are read whole to map an RPM's owner names to ids
ID_MAP_MAX = 16 << 20
# a driver is read whole (modinfo, symbol CRCs); real modules are at most a few tens of MB
MODULE_MAX = 256 << 20


class Planner(VTree):
    """Applies edits to the virtual tree and remembers which kernel indexes to rebuild."""

    def __init__(self, img: InstallImage, progress: Progress,
                 cancel: threading.Event | None) -> None:
        super().__init__(img, cancel)
        self.progress = progress
        self.warnings: list[str] = []
        self.kernel_dirs = {k: img.kernel_dir(k) for k in img.kernels()}
        self.affected: set[str] = set()
        self.depmod_conf = resolve_links("etc/depmod.d", self.link_of, True) or "etc/depmod.d"
        self.checks = DriverChecks(self, self.kernel_dirs)
        self.scratch: list[Path] = []  # private directories holding planned data

    def touch(self, path: str) -> None:
        """Remember which kernels' module index must be rebuilt."""
        base = posixpath.basename(path)
        if path == self.depmod_conf or path.startswith(self.depmod_conf + "/"):
            self.affected.update(self.kernel_dirs)
            return
        for kver, kdir in self.kernel_dirs.items():
            if path == kdir or (path.startswith(kdir + "/") and
                                (kmod.module_stem(base) or base in kmod.DEPMOD_INPUTS)):
                self.affected.add(kver)

    # -- edits ---------------------------------------------------------------

    def add_file(self, ed: AddFile) -> None:
        dest = self.place(self.norm(ed.dest, "AddFile"))
        data, label, executable, mtime = file_source(ed.source, self.now, ed.origin)
        verb = self.put(dest, "file", data, mode=ed.mode, uid=ed.uid, gid=ed.gid, mtime=mtime,
                        default_mode=0o755 if executable else 0o644)
        h = self._header_of(dest)
        self.changes.append(f"{verb} {dest} ({units.size(data_len(data))}, "
                            f"{fmt_mode(h.mode)} {h.uid}:{h.gid}) from {label}")

    def _header_of(self, path: str) -> cpio.Header:
        node = self.live[path]
        assert isinstance(node, NewEntry)
        return node.header

    def remove_path(self, ed: RemovePath) -> None:
        p = self.norm(ed.path, "RemovePath")
        parent = posixpath.dirname(p)
        real = posixpath.join(self.resolve(parent), posixpath.basename(p)) if parent else p
        if real not in self.live:
            raise InputError(f"{self.img.name}: cannot remove {ed.path}: no such file or "
                             "directory in the image")
        n = self.remove(real)
        self.changes.append(f"remove {real}" + (f" ({n} entries)" if n > 1 else ""))

    def add_driver(self, ed: AddDriver) -> None:
        src = Path(ed.source)
        label = src.name
        data = read_host(src, MODULE_MAX, "a kernel module")
        info = kmod.read_modinfo(data, label)
        try:
            versions = modversions.read_versions(data)
        except ValueError as e:
            raise InputError(f"{label}: not a valid ELF kernel module ({e})") from None
        targets = self._pick_kernels(ed, label)
        if ed.dest and len(targets) > 1:
            raise InputError(f"{label}: dest names one path but the driver goes into "
                             f"{len(targets)} kernels; drop dest or choose one kernel")
        for kver, note in targets:
            check(self.cancel)
            # vermagic first (the kernel's own first check), then the symbol CRCs
            warn = kmod.check_vermagic(info, kver, label, self.img.name, ed.force)
            if warn:
                self.warnings.append(warn)
            self.warnings += self.checks.check_symbols(versions, kver, label, ed.force)
            self._put_driver(ed, src, data, info, kver, note)
            self.checks.added(kver, versions)
        for w in self.checks.missing_firmware(info, label):
            if w not in self.warnings:
                self.warnings.append(w)

    def add_driver_set(self, ed: AddDriverSet) -> None:
        have = sorted({k for k, _, _ in ed.modules})
        if ed.kernels:
            chosen = [k for k, _ in self._pick_kernels(AddDriver(Path(ed.label),
                                                                 kernels=ed.kernels),
                                                       ed.label)]
        else:
            chosen = [k for k in self.kernel_dirs if k in have]
            if not chosen:
                raise InputError(f"{ed.label}: has kernel modules for {', '.join(have)}, "
                                 f"none of which is a kernel of {self.img.name} "
                                 f"({', '.join(self.kernel_dirs)})")
        for kver in chosen:
            mods = [(path, dest) for k, path, dest in ed.modules if k == kver]
            if not mods:
                raise InputError(f"{ed.label}: has no kernel module for kernel {kver} "
                                 f"(only for {', '.join(have)})")
            for path, dest in mods:
                self.add_driver(AddDriver(path, kernel=kver, dest=dest, force=ed.force))

    def _put_driver(self, ed: AddDriver, src: Path, data: bytes, info: kmod.ModInfo,
                    kver: str, note: str) -> None:
        kdir = self.kernel_dirs[kver]
        dest = self.norm(ed.dest, "AddDriver") if ed.dest else \
            f"{kdir}/updates/{info.name}.ko"
        self.changes.append(f"driver {src.name} -> kernel {kver}{note}")
        dest = self.place(dest)
        want = kmod.normalise(info.name)
        for p in sorted(self.live):
            stem = kmod.module_stem(p)
            if p != dest and p.startswith(kdir + "/") and stem and kmod.normalise(stem) == want:
                self.remove(p)
                self.changes.append(f"remove {p} (replaced by {dest})")
        st = src.stat()
        verb = self.put(dest, "file", data, mode=None, uid=None, gid=None,
                        mtime=int(st.st_mtime))
        version = info.first("version")
        self.changes.append(f"{verb} {dest} ({info.name}"
                            f"{' ' + version if version else ''}, {units.size(len(data))})")
        self.affected.add(kver)

    def _pick_kernels(self, ed: AddDriver, label: str) -> list[tuple[str, str]]:
        """(kernel version, note) of every tree the driver goes into."""
        if not ed.kernels:
            return [self._pick_kernel(ed, label)]
        kernels = list(self.kernel_dirs)
        if not kernels:
            raise InputError(f"{self.img.name}: has no lib/modules/<version> tree; cannot "
                             f"add driver {label}")
        out: list[str] = []
        for k in ed.kernels:
            if k == "all":
                picked = kernels
            elif k == "main":
                picked = kernels[:1]
            elif k == "alt":
                picked = kernels[1:]
                if not picked:
                    raise InputError(f"{label}: kernels = \"alt\", but {self.img.name} has "
                                     f"only the main kernel {kernels[0]}")
            elif k in self.kernel_dirs:
                picked = [k]
            else:
                raise InputError(f"{label}: kernel {k} is not in {self.img.name} "
                                 f"(available: {', '.join(kernels)}, or main, alt, all)")
            out += [p for p in picked if p not in out]
        return [(k, " (main)" if k == kernels[0] else " (alt)") for k in out]

    def _pick_kernel(self, ed: AddDriver, label: str) -> tuple[str, str]:
        kernels = list(self.kernel_dirs)
        if not kernels:
            raise InputError(f"{self.img.name}: has no lib/modules/<version> tree; cannot "
                             f"add driver {label}")
        if ed.kernel is not None:
            if ed.kernel not in self.kernel_dirs:
                raise InputError(f"{label}: kernel {ed.kernel} is not in {self.img.name} "
                                 f"(available: {', '.join(kernels)})")
            return ed.kernel, ""
        if ed.dest:
            d = cpio.image_path(ed.dest) or ""
            real = self.resolve(d, follow_last=False) if d else ""  # lib -> usr/lib
            for k, kdir in self.kernel_dirs.items():
                if real.startswith(kdir + "/") or d.startswith(f"lib/modules/{k}/"):
                    return k, ""
        others = kernels[1:]
        note = " (main" + (f"; the image also has {', '.join(others)})" if others else ")")
        return kernels[0], note

    def add_rpm(self, ed: AddRpmPayload) -> None:
        from xcptui.engine.rpm import payload as rpmpayload

        # big files go to a private directory the plan keeps (see ImagePlan.scratch)
        where = self.img.private_dir("rpm-")
        self.scratch.append(where)
        payload = rpmpayload.read_payload(Path(ed.source), where, self.cancel)
        label = payload.label
        users = self._id_map("etc/passwd")
        groups = self._id_map("etc/group")
        missing: set[tuple[str, str]] = set()
        for pe in payload.entries:
            check(self.cancel)
            uid = self._owner(users, pe.uname, "user", label, missing)
            gid = self._owner(groups, pe.gname, "group", label, missing)
            self._rpm_entry(pe, uid, gid)
        counts = payload.counts()
        what = ", ".join(f"{n} {k}{'s' if n > 1 else ''}" for k, n in sorted(counts.items()))
        self.changes.append(f"{label}: install payload of {payload.name} ({what})")
        self.warnings.append(f"{label}: payload copied; scriptlets not run and the image's "
                             "rpmdb not updated")

    def _rpm_entry(self, pe: Any, uid: int, gid: int) -> None:
        path = self.place(pe.path)
        attrs: dict[str, Any] = {"mode": pe.mode, "uid": uid, "gid": gid, "mtime": pe.mtime}
        if pe.type == "dir":
            node = self.live.get(path)
            if node is not None and self.type_of(node) == "symlink":
                # "/lib" of an EL7 payload is the image's lib -> usr/lib: keep the link
                node = self.live.get(self.resolve(path))
                if node is not None and self.type_of(node) == "dir":
                    return
            if node is None or self.type_of(node) != "dir":  # existing dirs keep theirs
                self.put(path, "dir", b"", **attrs)
        elif pe.type == "symlink":
            self.put(path, "symlink", (pe.link_target or "").encode(), **attrs)
        elif pe.type == "hardlink":
            self._rpm_hardlink(path, pe, attrs)
        elif pe.type == "file":
            self.put(path, "file", _data_of(pe), **attrs)
        else:
            self.put(path, pe.type, b"", rdev=pe.rdev, **attrs)

    def _rpm_hardlink(self, path: str, pe: Any, attrs: dict[str, Any]) -> None:
        """Join ``path`` to the hardlink group of an earlier payload file."""
        tdir = posixpath.dirname(pe.link_target)
        tpath = posixpath.join(self.resolve(tdir), posixpath.basename(pe.link_target)) \
            if tdir else pe.link_target
        target = self.live.get(tpath)
        data = _data_of(pe)
        if not isinstance(target, NewEntry) or target.type != "file":
            self.put(path, "file", data, **attrs)  # not linkable: a plain copy
            return
        if target.link is None:
            target.link = NewLink(target.header.ino, target.data, [target])
        link = target.link
        link.data = data if data_len(data) else link.data
        self.put(path, "file", b"", link=link, **attrs)
        node = self.live[path]
        assert isinstance(node, NewEntry)
        link.members.append(node)

    def _id_map(self, path: str) -> dict[str, int]:
        real = self.resolve(path)
        node = self.live.get(real)
        if node is None or self.type_of(node) != "file":
            return {"root": 0}
        out = {"root": 0}
        text = self.current_data(node, ID_MAP_MAX, real)
        for line in text.decode("utf-8", "replace").splitlines():
            f = line.split(":")
            if len(f) >= 3 and f[2].isdigit():
                out.setdefault(f[0], int(f[2]))
        return out

    def _owner(self, ids: dict[str, int], name: str, kind: str, label: str,
               missing: set[tuple[str, str]]) -> int:
        if name in ids:
            return ids[name]
        if name.isdigit():
            return int(name)
        if (kind, name) not in missing:
            missing.add((kind, name))
            self.warnings.append(f"{label}: {kind} '{name}' is not in the image's "
                                 f"{'etc/passwd' if kind == 'user' else 'etc/group'}; "
                                 "using 0 (root)")
        return 0

    # -- module index ---------------------------------------------------------


def plan(img: InstallImage, edits: list[Any], *, progress: Progress | None = None,
         cancel: threading.Event | None = None) -> ImagePlan:
    """Validate ``edits`` against the image and compute the new content.

    Nothing is written anywhere but a temporary directory for depmod, removed before
    returning, and the big files of RPM payloads, spooled to a private directory inside
    the image's spool directory (``ImagePlan.scratch``: removed by ``ImagePlan.close``,
    when the plan is dropped, on error, and by ``img.close``). An empty edit list gives
    an empty plan (``plan.empty``).
    """
    progress = progress or Progress()
    if not edits:
        return ImagePlan()
    progress.step(f"{img.name}: planning {len(edits)} change(s)")
    p = Planner(img, progress, cancel)
    try:
        result = _run(p, img, edits, progress, cancel)
    except BaseException:
        remove_dirs(p.scratch)
        raise
    progress.finish_step()
    return result


def _run(p: Planner, img: InstallImage, edits: list[Any], progress: Progress,
         cancel: threading.Event | None) -> ImagePlan:
    handlers: dict[type, Callable[[Any], None]] = {
        AddFile: p.add_file, RemovePath: p.remove_path, AddDriver: p.add_driver,
        AddRpmPayload: p.add_rpm, AddDriverSet: p.add_driver_set,
    }
    for ed in edits:
        check(cancel)
        handler = handlers.get(type(ed))
        if handler is None:
            raise TypeError(f"unknown install.img edit: {ed!r}")
        handler(ed)
    stage = DepmodStage(p, p.kernel_dirs, p.depmod_conf, progress, cancel)
    stage.run(p.affected)
    p.warnings += stage.warnings
    p.fix_hardlinks()
    p.fix_new_links()
    for e in img.entries():
        if e.unsafe:
            p.warnings.append(f"{img.name}: entry '{e.name}' has an unsafe name (absolute or "
                              "'..'); copied unchanged")
    return ImagePlan(p.changes, p.warnings, build_units(p), scratch=p.scratch)


def fmt_mode(mode: int) -> str:
    return f"{mode & 0o7777:04o}"


def _data_of(pe: Any) -> bytes | HostFile:
    """A payload entry's data: in memory, or its spool file as a host file source."""
    if pe.spool is None:
        return bytes(pe.data)
    st = pe.spool.stat()
    return HostFile(pe.spool, st.st_size, st.st_mtime_ns)
