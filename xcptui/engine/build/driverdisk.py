"""Driver disks in a build, and the ``xcptui driver-disk`` writer.

A recipe's ``[[drivers.disk]]`` does both halves of adding a driver in one step:

* install.img: the ``.ko`` files of the disk's driver RPMs, each into the kernel tree
  its payload path names (``lib/modules/<kver>/...``), checked like any driver
  (vermagic, then symbol CRCs) - so the installer sees the hardware;
* Packages/: the RPMs themselves, added like ``[packages] add`` and required from
  xcp-ng-deps like ``[deps] require`` - so the installed host gets the driver too.

The expansion happens on a copy of the recipe; the user's recipe is never changed.
"""

from __future__ import annotations

import posixpath
import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from xcptui.engine.errors import InputError
from xcptui.engine.events import Progress, check
from xcptui.engine.initrd import installimg as ii
from xcptui.engine.initrd import kmod
from xcptui.engine.recipe import Recipe
from xcptui.engine.repo import driverdisk as dd
from xcptui.engine.rpm.header import read_rpm
from xcptui.engine.rpm.payload import read_payload

_KVER_PATH = re.compile(r"^(?:usr/)?lib/modules/([^/]+)/(.+)$")
_FIRMWARE_PATH = re.compile(r"^(?:usr/)?lib/firmware/.+$")


@dataclass
class DiskExpansion:
    recipe: Recipe  # the recipe with the disks' RPMs in [packages] add / [deps] require
    edits: list[ii.Edit] = field(default_factory=list)  # install.img: one set per RPM
    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def expand(recipe: Recipe, workdir: Path, cancel: threading.Event | None = None
           ) -> DiskExpansion:
    """Read every ``[[drivers.disk]]`` and turn it into install.img edits and repo edits."""
    eff, disks = dd.with_disk_packages(recipe, workdir, cancel)
    out = DiskExpansion(eff)
    for source, disk, got in disks:
        out.warnings += got.notes
        before = len(out.edits)
        for info in got.rpms:
            assert info.path is not None
            check(cancel)
            mods, firmware = _modules(info.path, info.nevra, info.path.parent)
            # firmware first: the driver's firmware= check then finds it in the image
            out.edits += [ii.AddFile(dest, data, mode=0o644, uid=0, gid=0,
                                     origin=f"{source.name}: {info.nevra}")
                          for dest, data in firmware]
            if mods:
                out.edits.append(ii.AddDriverSet(f"{source.name}: {info.nevra}", mods,
                                                 tuple(disk.kernels), disk.force))
            if mods or firmware:
                what = f"{len(mods)} kernel module(s)" if mods else "firmware only"
                out.changes.append(f"driver disk {source.name}: {info.nevra} ({what}) "
                                   "into install.img and Packages/, required from "
                                   "xcp-ng-deps")
            else:  # update-<label> and other helper packages: the host installs them
                out.changes.append(f"driver disk {source.name}: {info.nevra} into "
                                   "Packages/, required from xcp-ng-deps")
        if len(out.edits) == before:
            out.warnings.append(f"{source.name}: no kernel module or firmware in its "
                                "RPMs; install.img is not changed by it")
    return out


def _modules(rpm: Path, label: str, work: Path
             ) -> tuple[list[tuple[str, Path, str]], list[tuple[str, Path | bytes]]]:
    """(kver, host copy, payload path) of every .ko in the RPM's payload, and its
    firmware files (image path, data or its spooled host copy): the installer needs
    both. Big payload files are spooled under ``work`` as they decode, never held whole."""
    out = []
    firmware: list[tuple[str, Path | bytes]] = []
    spool = work / f"payload-{rpm.stem}"
    spool.mkdir(mode=0o700, parents=True, exist_ok=True)
    payload = read_payload(rpm, spool_dir=spool)
    for n, e in enumerate(payload.entries):
        m = _KVER_PATH.match(e.path)
        if e.type == "file" and _FIRMWARE_PATH.match(e.path):
            firmware.append(("/" + e.path, e.spool if e.spool is not None else e.data))
        if e.type != "file" or not m or not e.path.endswith(".ko"):
            continue
        host = work / f"ko-{rpm.stem}" / f"{n}" / posixpath.basename(e.path)
        host.parent.mkdir(parents=True, exist_ok=True)
        if e.spool is not None:
            e.spool.replace(host)
        else:
            host.write_bytes(e.data)
        out.append((m.group(1), host, "/" + e.path))
    if not out and any(kmod.module_stem(e.path) for e in payload.entries):
        raise InputError(f"{label}: its kernel modules are compressed (.ko.xz/.gz/.zst); "
                         "XCP-ng kernels load only plain .ko files")
    return out, firmware


# -- xcptui driver-disk ---------------------------------------------------------------


def make_disk(sources: list[Path], out: Path, *, label: str | None = None,
              version: str | None = None, description: str = "",
              progress: Progress | None = None,
              cancel: threading.Event | None = None) -> list[str]:
    """Write a driver disk from .ko files (packaged as one driver RPM) and RPMs."""
    if not sources:
        raise InputError("driver-disk: give at least one .ko or .rpm")
    kos = [s for s in sources if s.suffix == ".ko"]
    rpms = [s for s in sources if s.suffix == ".rpm"]
    bad = [s for s in sources if s not in kos and s not in rpms]
    if bad:
        raise InputError(f"{bad[0]}: not a .ko or .rpm file")
    with tempfile.TemporaryDirectory(prefix="xcptui-disk-") as td:
        work = Path(td)
        lines: list[str] = []
        if kos:
            mods = []
            for ko in kos:
                info = kmod.read_modinfo(dd_read(ko), ko.name)
                if not info.kernel:
                    raise InputError(f"{ko}: has no vermagic: cannot tell its kernel")
                mods.append(dd.ModuleFile(info.kernel, info.name, ko.read_bytes()))
            first = kmod.read_modinfo(dd_read(kos[0]), kos[0].name)
            name = label or f"{first.name.replace('_', '-')}-module"
            ver = dd.rpm_version(version or first.first("version") or "1.0")
            rpm = dd.module_rpm(mods, name, ver, work)
            lines.append(f"packaged {', '.join(k.name for k in kos)} as {rpm.name} "
                         f"(kernels {', '.join(sorted({m.kver for m in mods}))})")
            rpms = [rpm, *rpms]
        disk_label = label or _label_of(rpms[0])
        lines += dd.write_disk(rpms, out, label=disk_label, version=version or "1.0",
                               description=description, workdir=work, progress=progress,
                               cancel=cancel)
    return lines


def dd_read(p: Path) -> bytes:
    try:
        return p.read_bytes()
    except OSError as e:
        raise InputError(f"{p}: cannot read: {e.strerror}") from None


def _label_of(rpm: Path) -> str:
    return read_rpm(rpm, rpm.name, name=str(rpm)).name
