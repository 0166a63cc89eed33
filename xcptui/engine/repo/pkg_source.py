"""Reading the source repository: the Packages/ listing and each RPM's data (from
repodata where it matches the file, from the RPM's headers otherwise)."""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xcptui.engine.errors import InputError
from xcptui.engine.events import Progress
from xcptui.engine.events import check as check_cancel
from xcptui.engine.iso.read import IsoReader
from xcptui.engine.layout import PACKAGES, REPODATA
from xcptui.engine.repo import repodata as repo_mod
from xcptui.engine.rpm.header import RpmInfo, read_rpm
from xcptui.engine.rpm.metadata import parse_repodata_packages, read_repomd


@dataclass
class Source:
    files: dict[str, Any]  # basename -> IsoEntry of /Packages/*.rpm
    infos: dict[str, RpmInfo]  # basename -> info (for every file in `files`)
    old: repo_mod.OldRepo | None  # loaded repodata (update mode), None without repodata
    repodata_files: list[str]  # ISO paths of the files under /repodata
    notes: list[str] = field(default_factory=list)  # consistency problems of the source
    primary_href: str = ""


def require_packages(iso: IsoReader) -> None:
    if not iso.is_dir(PACKAGES):
        raise InputError(f"{iso.path.name}: has no /Packages directory (a netinstall ISO?): "
                         "there is no local repository to list, check or change")


def copy_out(iso: IsoReader, iso_path: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with iso.open_file(iso_path) as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
    return dest


def norm_href(href: str) -> str:
    while href.startswith("./"):
        href = href[2:]
    return href


def load_source(iso: IsoReader, workdir: Path, *, full: bool, progress: Progress,
                 cancel: threading.Event | None) -> Source:
    """Packages/ listing + package data (repodata where it matches, headers otherwise)."""
    require_packages(iso)
    files = {e.name: e for e in iso.listdir(PACKAGES)
             if not e.is_dir and e.name.endswith(".rpm")}
    src = Source(files, {}, None, [])
    old_pkgs: dict[str, Any] = {}
    if iso.exists(REPODATA + "/repomd.xml"):
        progress.step("load repository metadata")
        root = workdir / "old"
        for ent in iso.listdir(REPODATA):
            if not ent.is_dir:
                src.repodata_files.append(ent.path)
                copy_out(iso, ent.path, root / "repodata" / ent.name)
        try:
            if full:
                src.old = repo_mod.load_old(root)
                old_pkgs = src.old.packages
                src.primary_href = src.old.files.records["primary"][0]
            else:
                md = read_repomd(root)
                src.primary_href = md.records["primary"][0]
                for p in parse_repodata_packages(md, filelists=True, other=False):
                    old_pkgs.setdefault(norm_href(p.location_href), p)
        except InputError as err:
            src.notes.append(f"the ISO's repodata cannot be read ({err}); yum cannot use it")
            src.old, old_pkgs = None, {}
        if src.primary_href and not src.primary_href.endswith(".gz"):
            src.notes.append(f"{src.primary_href} is not gzip: the installer (which always "
                             "gunzips primary) cannot read it")
        progress.finish_step()
    else:
        src.notes.append("the ISO has no repodata/repomd.xml: the installer cannot use "
                         "Packages/")
    to_read: list[tuple[str, Any]] = []
    for name, e in sorted(files.items()):
        pkg = old_pkgs.get(f"Packages/{name}")
        if pkg is not None and int(pkg.size_package or -1) == e.size:
            src.infos[name] = RpmInfo.from_package(pkg)
        else:
            if pkg is not None:
                src.notes.append(f"Packages/{name} does not match its repodata entry "
                                 f"(size {e.size}, repodata says {pkg.size_package})")
            elif old_pkgs:
                src.notes.append(f"Packages/{name} is not in the repodata: yum cannot see it")
            to_read.append((name, e))
    for href in sorted(set(old_pkgs) - {f"Packages/{n}" for n in files}):
        src.notes.append(f"the repodata lists {href}, which is not on the ISO: installs "
                         "that need it fail")
    if to_read:
        progress.step("read RPM headers", sum(e.size for _n, e in to_read))
        done = 0
        for name, e in to_read:
            check_cancel(cancel)
            host = copy_out(iso, e.path, workdir / "src-rpms" / name)
            try:
                src.infos[name] = read_rpm(host, f"Packages/{name}", name=f"Packages/{name}")
            except InputError as err:  # the ISO's own file: report it, leave it out
                src.notes.append(f"{err}; it is left out of the repository")
                host.unlink(missing_ok=True)
            done += e.size
            progress.update(done)
        progress.finish_step()
    return src


def list_packages(iso: IsoReader, progress: Progress | None = None,
                  cancel: threading.Event | None = None) -> list[RpmInfo]:
    """Every RPM in /Packages, sorted by name (repodata when it matches, else headers)."""
    progress = progress or Progress()
    with tempfile.TemporaryDirectory(prefix="xcptui-pk-") as td:
        src = load_source(iso, Path(td), full=False, progress=progress, cancel=cancel)
        out = sorted(src.infos.values(), key=lambda i: (i.name, i.nevra))
        for i in out:
            i.path = None
        return out
