"""Pending changes of a recipe: summary lines (each with its undo) and tree marks.

Nothing here is stored: it is all recomputed from the ``Recipe`` plus what the ISO
and install.img hold (to tell "added" from "replaced"). Paths inside install.img
are seen through its symlinks: the real image has ``lib -> usr/lib``, so a mark on
``/lib/modules/...`` is also put on the real ``/usr/lib/modules/...`` path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Protocol

from xcptui.engine.initrd.kmod import DEPMOD_INPUTS, module_stem, normalise
from xcptui.engine.layout import (
    EFIBOOT_IMG,
    GRUB_CFG,
    INSTALL_IMG,
    ISOLINUX_CFG,
    MODULES_DIRS,
    PACKAGES,
    REPODATA,
    TREEINFO,
)
from xcptui.engine.recipe import edits
from xcptui.engine.recipe.model import Driver, Recipe


class Mark(StrEnum):
    """What a change does to a path (also the kind of a summary line)."""

    ADDED = "added"
    REPLACED = "replaced"
    REMOVED = "removed"
    CHANGED = "changed"


class ChangeStep(StrEnum):
    """The wizard step that owns a change (where the user makes and undoes it)."""

    BROWSE = "browse"
    INSTALLER = "installer"
    PACKAGES = "packages"
    IDENTITY = "identity"


class ChangeArea(StrEnum):
    """What part of the ISO a change is about, as the summary groups it."""

    ISO_FILES = "ISO files"
    INSTALL_IMG = "install.img"
    PACKAGES = "Packages"
    DEPS = "xcp-ng-deps"
    SIGNING = "Signing"
    IDENTITY = "Identity"
    BOOT = "Boot"
    ANSWERFILE = "Answerfile"


#: the ISO files a boot/answerfile change rewrites
BOOT_FILES = (ISOLINUX_CFG, GRUB_CFG, EFIBOOT_IMG)


@dataclass(frozen=True)
class Change:
    step: ChangeStep
    area: ChangeArea
    kind: Mark
    text: str
    undo: Callable[[Recipe], None] = field(repr=False, compare=False)


Exists = Callable[[str], bool | None]  # True/False, or None when not known yet
ShowPath = Callable[[Path | str], str]


class _Entry(Protocol):
    @property
    def path(self) -> str: ...


class ImageView(Protocol):
    """What the marks need of an opened install.img (``InstallImage`` has it)."""

    def get(self, path: str) -> object | None: ...

    def resolve(self, path: str, follow_last: bool = True) -> str | None: ...

    def walk(self, top: str = "") -> Iterable[_Entry]: ...


def _kind(exists: bool | None) -> Mark:
    return Mark.REPLACED if exists else (Mark.ADDED if exists is False else Mark.CHANGED)


def driver_dest(d: Driver, kernels: list[str]) -> str:
    """Where a driver lands, as the user sees it ('/lib/modules/<kver>/updates/igb.ko').

    The install.img planner names the file after the module's modinfo name and does
    not expose its rule (it needs the .ko read); this is the same default from the
    file name, which is what the summary can know without reading the module.
    """
    if d.dest:
        return d.dest
    kver = d.kernel or (kernels[0] if kernels else "<main kernel>")
    name = Path(d.source).name
    return f"/{MODULES_DIRS[0]}/{kver}/updates/{module_stem(name) or name}.ko"


def image_exists(img: ImageView, path: str) -> bool:
    """True when ``path`` exists in the image, following symlinked directories."""
    real = img.resolve(path, follow_last=False)
    return real is not None and img.get(real) is not None


def changes(rec: Recipe, iso_exists: Exists, img_exists: Exists,
            kernels: list[str] | None = None, show_path: ShowPath = str) -> list[Change]:
    """Every pending change of ``rec``, in review order, each with its undo."""
    kernels = kernels or []
    return (_iso_changes(rec, iso_exists, show_path)
            + _image_changes(rec, img_exists, kernels, show_path)
            + _package_changes(rec, iso_exists, show_path)
            + _identity_changes(rec, show_path))


def _iso_changes(rec: Recipe, iso_exists: Exists, show: ShowPath) -> list[Change]:
    s, a = ChangeStep.BROWSE, ChangeArea.ISO_FILES
    out = [Change(s, a, _kind(iso_exists(f.dest)), f"{f.dest}  ← {show(f.source)}",
                  partial(edits.undo_iso_file, dest=f.dest)) for f in rec.iso.files]
    out += [Change(s, a, Mark.REMOVED, rm.path, partial(edits.undo_iso_remove, path=rm.path))
            for rm in rec.iso.remove]
    return out


def _image_changes(rec: Recipe, img_exists: Exists, kernels: list[str],
                   show: ShowPath) -> list[Change]:
    s, a = ChangeStep.INSTALLER, ChangeArea.INSTALL_IMG
    inst = rec.installer
    out = []
    for d in inst.drivers:
        dest = driver_dest(d, kernels)
        kernel = d.kernel or "main kernel"
        force = ", vermagic check skipped" if d.force else ""
        if d.kernels and d.kernels != ["main"]:  # several trees: no one path to show
            out.append(Change(s, a, Mark.CHANGED, f"driver {Path(d.source).name} → "
                              f"updates/ of kernel trees {', '.join(d.kernels)}{force}",
                              partial(edits.undo_driver, driver=d)))
            continue
        out.append(Change(s, a, _kind(img_exists(dest)),
                          f"driver {Path(d.source).name} → {dest} ({kernel}{force})",
                          partial(edits.undo_driver, driver=d)))
    for inf in inst.files:
        mode = f" mode {inf.mode:04o}" if inf.mode is not None else ""
        out.append(Change(s, a, _kind(img_exists(inf.dest)),
                          f"{inf.dest}  ← {show(inf.source)}{mode}",
                          partial(edits.undo_installer_file, dest=inf.dest)))
    out += [Change(s, a, Mark.REMOVED, irm.path,
                   partial(edits.undo_installer_remove, path=irm.path)) for irm in inst.remove]
    out += [Change(s, a, Mark.ADDED, f"payload of {Path(rpm.source).name}",
                   partial(edits.undo_installer_rpm, source=rpm.source)) for rpm in inst.rpms]
    for disk in rec.drivers.disk:  # both halves; the plan names the modules and RPMs
        trees = ", ".join(disk.kernels) if disk.kernels else "the trees it has modules for"
        force = ", checks only warn" if disk.force else ""
        out.append(Change(s, a, Mark.ADDED,
                          f"driver disk {show(disk.source)}: modules → install.img ({trees}"
                          f"{force}), RPMs → Packages/",
                          partial(edits.undo_driver_disk, disk=disk)))
    return out


_FLAG_LABELS = {"downgrade": "allow downgrades",
                "auto_require": "require every added package from xcp-ng-deps",
                "force": "build even if the dependency check fails"}


def _package_changes(rec: Recipe, iso_exists: Exists, show: ShowPath) -> list[Change]:
    s = ChangeStep.PACKAGES
    pk = rec.packages
    out = [Change(s, ChangeArea.PACKAGES, _kind(iso_exists(f"{PACKAGES}/{Path(p).name}")),
                  f"{Path(p).name}  ← {show(p)}", partial(edits.unadd_package, source=p))
           for p in pk.add]
    out += [Change(s, ChangeArea.PACKAGES, Mark.REMOVED, spec,
                   partial(edits.undo_package_remove, spec=spec)) for spec in pk.remove]
    out += [Change(s, ChangeArea.PACKAGES, Mark.CHANGED, label,
                   partial(edits.undo_flag, flag=flag))
            for flag, label in _FLAG_LABELS.items() if getattr(pk, flag)]
    out += [Change(s, ChangeArea.DEPS, Mark.ADDED, f"Requires: {req}",
                   partial(edits.unrequire, name=edits.dep_name(req)))
            for req in rec.deps.require]
    out += [Change(s, ChangeArea.DEPS, Mark.REMOVED, f"Requires: {name}",
                   partial(edits.undo_drop, name=name)) for name in rec.deps.drop]
    if rec.signing is not None:
        txt = ("repository unsigned" if rec.signing.mode == "unsigned"
               else f"repository signed with gpg key {rec.signing.key}")
        out.append(Change(s, ChangeArea.SIGNING, Mark.CHANGED, txt, edits.undo_signing))
    return out


_IDENTITY_LABELS = {"volume_id": "volume label", "build_number": "build number",
                    "product_version": "product version"}


def _identity_changes(rec: Recipe, show: ShowPath) -> list[Change]:
    s = ChangeStep.IDENTITY
    out = []
    for attr, label in _IDENTITY_LABELS.items():
        value = getattr(rec.iso, attr)
        if value is not None:
            out.append(Change(s, ChangeArea.IDENTITY, Mark.CHANGED, f"{label}: {value}",
                              partial(edits.undo_identity, attr=attr)))
    b = rec.boot
    out += [Change(s, ChangeArea.BOOT, Mark.ADDED, f"boot parameter {param}",
                   partial(edits.undo_append, param=param)) for param in b.append]
    out += [Change(s, ChangeArea.BOOT, Mark.REMOVED, f"boot parameter {param}",
                   partial(edits.undo_boot_remove, param=param)) for param in b.remove]
    if b.default is not None:
        out.append(Change(s, ChangeArea.BOOT, Mark.CHANGED, f"default entry: {b.default}",
                          partial(edits.undo_boot, attr="default")))
    if b.timeout is not None:
        out.append(Change(s, ChangeArea.BOOT, Mark.CHANGED, f"menu timeout: {b.timeout}s",
                          partial(edits.undo_boot, attr="timeout")))
    af = rec.answerfile
    if af is not None:
        what = (f"embed {show(af.source)} as {af.dest}" if af.source is not None
                else f"fetch {af.url}")
        out.append(Change(s, ChangeArea.ANSWERFILE, Mark.ADDED, f"answerfile: {what}",
                          edits.undo_answerfile))
    return out


def steps_with_changes(rec: Recipe) -> set[ChangeStep]:
    return {c.step for c in changes(rec, lambda p: None, lambda p: None)}


def boot_touched(rec: Recipe) -> bool:
    b = rec.boot
    return bool(b.append or b.remove or b.default is not None or b.timeout is not None
                or rec.answerfile is not None)


def iso_marks(rec: Recipe, iso_exists: Callable[[str], bool],
              package_files: dict[str, str] | None = None) -> dict[str, Mark]:
    """ISO path -> mark, for a tree of the ISO.

    ``package_files`` maps each removal spec the caller knows (name or NEVRA) to its
    /Packages/ file.
    """
    marks: dict[str, Mark] = {}
    for f in rec.iso.files:
        marks[f.dest] = Mark.REPLACED if iso_exists(f.dest) else Mark.ADDED
    for rm in rec.iso.remove:
        marks[rm.path] = Mark.REMOVED
    if rec.touches_install_img():
        marks[INSTALL_IMG] = Mark.REPLACED
    if boot_touched(rec):
        for p in BOOT_FILES:
            if iso_exists(p):
                marks[p] = Mark.REPLACED
    if (rec.iso.build_number is not None or rec.iso.product_version is not None
            or rec.touches_repo()) and iso_exists(TREEINFO):
        marks[TREEINFO] = Mark.REPLACED
    if rec.touches_repo():
        for pkg in rec.packages.add:
            pkg_dest = f"{PACKAGES}/{Path(pkg).name}"
            marks[pkg_dest] = Mark.REPLACED if iso_exists(pkg_dest) else Mark.ADDED
        files = package_files or {}
        for spec in rec.packages.remove:
            if spec in files:
                marks[files[spec]] = Mark.REMOVED
        if iso_exists(REPODATA):
            marks[REPODATA] = Mark.REPLACED
    return marks


class _ImageMarks:
    """Marks on install.img paths, each also put on the path's real (symlink-free) form."""

    def __init__(self, img: ImageView | None) -> None:
        self.img = img
        self.marks: dict[str, Mark] = {}

    def exists(self, path: str) -> bool:
        return self.img is not None and image_exists(self.img, path)

    def put(self, path: str, mark: Mark) -> None:
        self.marks[path] = mark
        real = self.img.resolve(path, follow_last=False) if self.img is not None else None
        if real is not None and "/" + real != path:
            self.marks["/" + real] = mark

    def put_new(self, path: str) -> None:
        self.put(path, Mark.REPLACED if self.exists(path) else Mark.ADDED)

    def under(self, top: str) -> list[tuple[str, str]]:
        """(path as seen under ``top``, real path) for everything under ``top``."""
        if self.img is None:
            return []
        real_top = self.img.resolve(top)
        if real_top is None:
            return []
        out = []
        for e in self.img.walk(real_top):
            real = "/" + e.path
            out.append((top + real[len(real_top) + 1:], real))
        return out


def image_marks(rec: Recipe, kernels: list[str], img: ImageView | None) -> dict[str, Mark]:
    """install.img path ('/etc/shadow') -> mark; ``img`` None when not opened yet.

    With the image, the other copies of a swapped driver in its kernel tree are marked
    removed (the engine removes them so the new module wins) and depmod's outputs
    replaced.
    """
    m = _ImageMarks(img)
    for d in rec.installer.drivers:
        if d.dest or img is None:
            continue
        kver = d.kernel or (kernels[0] if kernels else "")
        stem = normalise(module_stem(Path(d.source).name) or "")
        dest = driver_dest(d, kernels)
        for seen, real in m.under(f"/{MODULES_DIRS[0]}/{kver}"):
            base = seen.rsplit("/", 1)[-1]
            if stem and seen != dest and normalise(module_stem(seen) or "") == stem:
                m.marks[seen] = m.marks[real] = Mark.REMOVED
            elif base.startswith("modules.") and base not in DEPMOD_INPUTS:
                m.marks[seen] = m.marks[real] = Mark.REPLACED  # depmod regenerates the index
    for f in rec.installer.files:
        m.put_new(f.dest)
    for rm in rec.installer.remove:
        m.put(rm.path, Mark.REMOVED)
    for d in rec.installer.drivers:
        m.put_new(driver_dest(d, kernels))
    af = rec.answerfile
    if af is not None and af.source is not None:
        m.put_new(af.dest)
        for s in af.scripts:
            m.put_new(s.dest)
    return m.marks
