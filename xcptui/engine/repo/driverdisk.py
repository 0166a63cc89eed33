"""XCP-ng driver disks: read the driver RPMs out of one, and write one.

A driver disk (xcp-ng/driver-disks, built with XenServer's ``build-update``) is an ISO
whose root holds ``update.xml`` (``<update name-label=... version=... uuid=...>``), a
``Packages/`` directory and ``repodata/`` with a comps group file. The installer
(host-installer repository.py, DriverUpdateYumRepository) accepts it when ``yum group
summary drivers`` finds the group ``drivers``, then runs ``yum install @drivers`` into
the running installer. For the host it re-reads the disk as an UpdateYumRepository and
installs ``update-<name-label>`` (backend.py getRepoSequence). On official disks both
comps groups (``drivers``, ``update``) list only that noarch ``update-<label>`` RPM, which
``Requires:`` the driver RPM: the driver RPMs are the group's dependency closure on the
disk. Some disks keep the RPM at the root. See docs/real-media.md section 9.
"""

from __future__ import annotations

import copy
import gzip
import os
import re
import shutil
import subprocess
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape, quoteattr

import createrepo_c as cr
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from xcptui.engine.errors import BuildError, InputError
from xcptui.engine.events import Progress, check
from xcptui.engine.iso.read import IsoReader, IsoSource
from xcptui.engine.recipe import DriverDisk, Recipe
from xcptui.engine.repo import repodata as repo_mod
from xcptui.engine.repo.pkg_source import copy_out
from xcptui.engine.rpm.header import RpmInfo, read_rpm
from xcptui.engine.tools import require

GROUP = "drivers"
UPDATE_XML = "/update.xml"
_REPO_NS = "{http://linux.duke.edu/metadata/repo}"
_LABEL = re.compile(r"^[\w-]+$")  # build-update's check_label
_XML_CAP = 8 << 20


@dataclass
class DiskRpms:
    """The driver RPMs of a driver disk (or of one RPM given directly)."""

    label: str
    rpms: list[RpmInfo] = field(default_factory=list)  # info.path: a host copy
    notes: list[str] = field(default_factory=list)


def read_disk(source: Path, workdir: Path, cancel: threading.Event | None = None
              ) -> DiskRpms:
    """The RPMs a driver disk's ``drivers`` group installs, copied under ``workdir``.

    ``source`` may also be a driver RPM. InputError names the file for anything else.
    """
    source = Path(source)
    if source.suffix == ".rpm":
        info = read_rpm(source, source.name, name=str(source))
        return DiskRpms(info.name, [info])
    with IsoSource.open(source) as iso:
        return _read_iso(iso, source, workdir, cancel)


def _read_iso(iso: IsoReader, source: Path, workdir: Path,
              cancel: threading.Event | None) -> DiskRpms:
    name = source.name
    if not iso.exists(UPDATE_XML):
        raise InputError(f"{name}: not a driver disk (no /update.xml at its root)")
    label = _update_label(iso.read(UPDATE_XML, _XML_CAP), name)
    group = _group_members(iso, name)
    found: list[RpmInfo] = []
    dest = Path(tempfile.mkdtemp(prefix="driverdisk-", dir=workdir))
    for d in ("/Packages", "/"):
        if not iso.is_dir(d):
            continue
        for e in iso.listdir(d):
            if not e.name.endswith(".rpm") or e.is_dir:
                continue
            check(cancel)
            host = copy_out(iso, e.path, dest / e.name)
            found.append(read_rpm(host, f"{name}:{e.path}", name=f"{name}:{e.path}"))
    if not found:
        raise InputError(f"{name}: driver disk without any RPM (looked in /Packages and /)")
    out = DiskRpms(label)
    if group is None:
        out.notes.append(f"{name}: no '{GROUP}' group in its repodata (the installer would "
                         "refuse it); using every RPM on it")
        out.rpms = found
        return out
    by_name = {i.name: i for i in found}
    missing = [g for g in group if g not in by_name]
    if missing:
        raise InputError(f"{name}: its '{GROUP}' group lists {', '.join(missing)}, which is "
                         "not on the disk")
    out.rpms = _closure([by_name[g] for g in group], found)
    return out


def _closure(roots: list[RpmInfo], found: list[RpmInfo]) -> list[RpmInfo]:
    """``roots`` and every RPM of the disk they require, transitively (by name or
    Provides): what ``yum install @drivers`` takes from the disk. Requires the disk does
    not satisfy are left to the target repository."""
    provider: dict[str, RpmInfo] = {}
    for info in found:
        for dep in [info.name, *(p.name for p in info.provides)]:
            provider.setdefault(dep, info)
    out: list[RpmInfo] = []
    todo = list(roots)
    while todo:
        info = todo.pop(0)
        if any(o is info for o in out):
            continue
        out.append(info)
        todo += [provider[r.name] for r in info.requires if r.name in provider]
    return out


def _update_label(text: bytes, name: str) -> str:
    root = _xml(text, f"{name}:{UPDATE_XML}")
    if root.tag != "update":
        raise InputError(f"{name}: {UPDATE_XML} is not an <update> document")
    return root.get("name-label") or Path(name).stem


def _xml(text: bytes, label: str) -> Element:
    try:
        return fromstring(text, forbid_dtd=False)
    except (ParseError, DefusedXmlException) as e:
        raise InputError(f"{label}: not well-formed XML ({e})") from None


def _group_members(iso: IsoReader, name: str) -> list[str] | None:
    """Package names of the ``drivers`` comps group; None when the repo has no group."""
    if not iso.exists("/repodata/repomd.xml"):
        raise InputError(f"{name}: driver disk without /repodata/repomd.xml")
    repomd = _xml(iso.read("/repodata/repomd.xml", _XML_CAP), f"{name}:/repodata/repomd.xml")
    hrefs: dict[str, str] = {}
    for data in repomd.iter(f"{_REPO_NS}data"):
        loc = data.find(f"{_REPO_NS}location")
        if loc is not None and loc.get("href"):
            hrefs[data.get("type", "")] = loc.get("href", "")
    href = hrefs.get("group") or hrefs.get("group_gz")
    if not href:
        return None
    path = "/" + href.lstrip("/")
    if not iso.exists(path):
        raise InputError(f"{name}: repomd.xml lists {href}, which is not on the disk")
    raw = iso.read(path, _XML_CAP)
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise InputError(f"{name}: {href} is not valid gzip ({e})") from None
    comps = _xml(raw, f"{name}:{href}")
    for g in comps.iter("group"):
        if (g.findtext("id") or "").strip() == GROUP:
            return [(p.text or "").strip() for p in g.iter("packagereq") if (p.text or "").strip()]
    return None


def with_disk_packages(recipe: Recipe, workdir: Path, cancel: threading.Event | None = None
                       ) -> tuple[Recipe, list[tuple[Path, DriverDisk, DiskRpms]]]:
    """A copy of ``recipe`` whose ``[packages] add`` / ``[deps] require`` carry the RPMs
    of its ``[[drivers.disk]]`` (and no disks left: applying it again changes nothing),
    with what each disk held ((source, disk, rpms))."""
    out = copy.deepcopy(recipe)
    out.drivers.disk = []
    if not recipe.drivers.disk:
        return out, []
    work = Path(tempfile.mkdtemp(prefix="drivers-", dir=workdir))
    required = {r.split()[0] for r in out.deps.require}
    added = {p.resolve() for p in out.packages.add}
    got = []
    for disk in recipe.drivers.disk:
        check(cancel)
        rpms = read_disk(disk.source, work, cancel)
        for info in rpms.rpms:
            assert info.path is not None
            if info.path.resolve() not in added:
                out.packages.add.append(info.path)
            if info.name not in required:
                out.deps.require.append(info.name)
                required.add(info.name)
        got.append((disk.source, disk, rpms))
    return out, got


# -- writing ---------------------------------------------------------------------------


@dataclass
class ModuleFile:
    """A kernel module to package: where it goes on the host, and its bytes."""

    kver: str
    name: str
    data: bytes


def module_rpm(modules: list[ModuleFile], name: str, version: str, workdir: Path) -> Path:
    """Package .ko files as an XCP-ng-style driver RPM (``/lib/modules/<kver>/updates``,
    ``%post depmod``) with the host's rpmbuild."""
    rpmbuild = require("rpmbuild", "package kernel modules as a driver RPM")
    top = Path(tempfile.mkdtemp(prefix="rpmbuild-", dir=workdir))
    root = top / "SOURCES" / "root"
    files = []
    for m in modules:
        rel = f"lib/modules/{m.kver}/updates/{m.name}.ko"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(m.data)
        files.append(f"%attr(644,root,root) /{rel}")
    kvers = sorted({m.kver for m in modules})
    depmod = [f'os.execute("/sbin/depmod {k}")' for k in kvers]
    spec = "\n".join([
        f"Name: {name}", f"Version: {version}", "Release: 1", "License: GPL",
        f"Summary: Kernel module(s) {', '.join(m.name for m in modules)}",
        "BuildArch: x86_64", "AutoReqProv: no", "", "%description",
        "Kernel driver packaged by xcptui driver-disk.", "", "%install",
        "cp -a %{_sourcedir}/root/. %{buildroot}/", "", "%files", *files, "",
        # rpm's built-in Lua: no Requires(post) on /bin/sh for the solver to chase
        "%post -p <lua>", *depmod, "", "%postun -p <lua>", *depmod, ""])
    (top / f"{name}.spec").write_text(spec)
    cmd = [rpmbuild, "-bb", "--quiet", "--define", f"_topdir {top}",
           "--define", "_binary_payload w9.gzdio", "--define", "_build_id_links none",
           "--define", "__os_install_post %{nil}",
           "--define", "_binary_filedigest_algorithm 8", str(top / f"{name}.spec")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, LC_ALL="C"))
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise BuildError(f"rpmbuild failed packaging {name}: {last}")
    return next((top / "RPMS").rglob("*.rpm"))


def update_rpm(label: str, version: str, drivers: list[RpmInfo], workdir: Path) -> Path:
    """build-update's ``update-<label>``: a noarch RPM without files that requires each
    driver RPM at its version; the installer installs it into the host."""
    rpmbuild = require("rpmbuild", "write the update-<label> package of a driver disk")
    top = Path(tempfile.mkdtemp(prefix="rpmbuild-", dir=workdir))
    reqs = [f"Requires: {d.name} >= {d.evr}" for d in drivers]
    spec = "\n".join([
        f"Name: update-{label}", f"Version: {rpm_version(version)}", "Release: 1",
        "License: GPL", f"Summary: Driver disk {label}", "BuildArch: noarch",
        "AutoReqProv: no", *reqs, "", "%description",
        f"Installs the drivers of the driver disk {label} into the host.", "",
        "%files", ""])
    (top / f"update-{label}.spec").write_text(spec)
    cmd = [rpmbuild, "-bb", "--quiet", "--define", f"_topdir {top}",
           "--define", "_binary_payload w9.gzdio", "--define", "_build_id_links none",
           "--define", "_binary_filedigest_algorithm 8", str(top / f"update-{label}.spec")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, LC_ALL="C"))
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise BuildError(f"rpmbuild failed writing update-{label}: {last}")
    return next((top / "RPMS").rglob("*.rpm"))


def rpm_version(v: str) -> str:
    """An RPM Version: no '-' and no spaces (modinfo's "5.4.0-k" -> "5.4.0_k")."""
    return re.sub(r"[^A-Za-z0-9._+~]", "_", v) or "1.0"


def _update_xml(label: str, version: str, description: str, size: int) -> str:
    uid = uuid.uuid5(uuid.NAMESPACE_URL, f"xcptui-driver-disk:{label}")
    return ('<?xml version="1.0" ?>\n'
            f"<update name-label={quoteattr(label)} version={quoteattr(version)} "
            f'uuid="{uid}" installation-size="{size}">\n'
            f"  <name-description>{escape(description)}</name-description>\n</update>\n")


def comps_xml(label: str, names: list[str]) -> str:
    """The comps file: the ``drivers`` group the installer installs, and build-update's
    ``update`` group (both list ``update-<label>``, as official disks do)."""
    reqs = "".join(f'      <packagereq type="mandatory">{escape(n)}</packagereq>\n'
                   for n in names)
    groups = ""
    for gid in (GROUP, "update"):
        groups += (f"  <group>\n    <id>{gid}</id>\n    <default>false</default>\n"
                   f"    <uservisible>true</uservisible>\n    <name>{escape(label)}</name>\n"
                   f"    <description></description>\n    <packagelist>\n{reqs}"
                   "    </packagelist>\n  </group>\n")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE comps PUBLIC "-//Red Hat, '
            'Inc.//DTD Comps info//EN" "comps.dtd">\n<comps>\n' + groups + "</comps>\n")


def write_disk(rpms: list[Path], out: Path, *, label: str, version: str = "1.0",
               description: str = "", workdir: Path, progress: Progress | None = None,
               cancel: threading.Event | None = None) -> list[str]:
    """Write a driver-disk ISO at ``out`` (via a temp file); returns what it holds."""
    if not _LABEL.match(label):
        raise InputError(f"driver disk label {label!r}: only letters, digits, '_' and '-'")
    infos = [read_rpm(p, p.name, name=str(p)) for p in rpms]
    names = [i.name for i in infos]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"driver disk: {', '.join(dup)} given twice")
    if f"update-{label}" in names:
        raise InputError(f"driver disk: update-{label} is the package the disk itself "
                         "provides; give the driver RPMs only")
    root = Path(tempfile.mkdtemp(prefix="disk-", dir=workdir))
    (root / "Packages").mkdir()
    rpms = [*rpms, update_rpm(label, version, infos, workdir)]
    for p in rpms:
        shutil.copyfile(p, root / "Packages" / p.name)
    size = sum(i.size for i in infos)
    (root / "update.xml").write_text(
        _update_xml(label, version, description or f"Driver disk {label}", size))
    entries = [repo_mod.RepoEntry(f"Packages/{p.name}", path=root / "Packages" / p.name)
               for p in rpms]
    res = repo_mod.write_repodata(entries, root, database=True, progress=progress,
                                  cancel=cancel)
    _add_group(res.repodata, comps_xml(label, [f"update-{label}"]))
    check(cancel)
    genisoimage = require("genisoimage", "write the driver disk ISO")
    tmp = out.with_name(f".{out.name}.tmp")
    proc = subprocess.run([genisoimage, "-o", str(tmp), "-quiet", "-r", "-J", "--joliet-long",
                           "-V", label[:32], "-input-charset", "utf-8", str(root)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise BuildError(f"{out}: genisoimage failed: {last}")
    tmp.replace(out)
    return [f"{out.name}: driver disk '{label}' {version}: update.xml, "
            f"Packages/ ({', '.join(i.nevra for i in infos)} and update-{label}), "
            f"repodata with groups '{GROUP}' and 'update' (update-{label})"]


def _add_group(repodata: Path, comps: str) -> None:
    """Add comps as ``group`` and ``group_gz`` records (what createrepo_c -g writes)."""
    path = repodata / "comps.xml"
    path.write_text(comps, encoding="utf-8")
    repomd = cr.Repomd(str(repodata / "repomd.xml"))
    rec = cr.RepomdRecord("group", str(path))
    gz = rec.compress_and_fill(cr.SHA256, cr.GZ_COMPRESSION)
    gz.type = "group_gz"
    rec.fill(cr.SHA256)
    for r in (rec, gz):
        r.rename_file()
        repomd.set_record(r)
    repomd.sort_records()
    (repodata / "repomd.xml").write_text(repomd.xml_dump(), encoding="utf-8")
