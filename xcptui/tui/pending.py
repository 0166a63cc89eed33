"""Pending changes, derived from the recipe: review lines, step markers, tree marks.

Nothing here is stored: it is all recomputed from ``Recipe`` (plus what the ISO
holds, to tell "added" from "replaced").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from xcptui.engine import recipe as r
from xcptui.engine.initrd import kmod
from xcptui.engine.initrd.kmod import DEPMOD_INPUTS
from xcptui.tui import recipe_ops as ops
from xcptui.tui.fmt import display_path

ADDED, REPLACED, REMOVED, CHANGED = "added", "replaced", "removed", "changed"

BOOT_FILES = ("/boot/isolinux/isolinux.cfg", "/EFI/xenserver/grub.cfg", "/boot/efiboot.img")


@dataclass
class Change:
    step: str  # wizard step that owns it: browse | installer | packages | identity
    area: str  # "ISO files", "install.img", "Packages", ...
    kind: str  # added | replaced | removed | changed
    text: str
    undo: Callable[[r.Recipe], None] = field(repr=False, compare=False)


Exists = Callable[[str], bool | None]  # True/False, or None when not known yet


def _kind(exists: bool | None) -> str:
    return REPLACED if exists else (ADDED if exists is False else CHANGED)


def driver_dest(d: r.Driver, kernels: list[str]) -> str:
    if d.dest:
        return d.dest
    kver = d.kernel or (kernels[0] if kernels else "<main kernel>")
    stem = module_stem(Path(d.source).name, normalise=False) or Path(d.source).name
    return f"/lib/modules/{kver}/updates/{stem}.ko"


def _undo_iso_file(rec: r.Recipe, dest: str) -> None:
    rec.iso.files = [x for x in rec.iso.files if x.dest != dest]


def _undo_iso_remove(rec: r.Recipe, path: str) -> None:
    rec.iso.remove = [x for x in rec.iso.remove if x.path != path]


def _undo_driver(rec: r.Recipe, driver: r.Driver) -> None:
    rec.installer.drivers = [x for x in rec.installer.drivers if x is not driver]


def _undo_installer_file(rec: r.Recipe, dest: str) -> None:
    rec.installer.files = [x for x in rec.installer.files if x.dest != dest]


def _undo_installer_remove(rec: r.Recipe, path: str) -> None:
    rec.installer.remove = [x for x in rec.installer.remove if x.path != path]


def _undo_installer_rpm(rec: r.Recipe, source: Path) -> None:
    rec.installer.rpms = [x for x in rec.installer.rpms if x.source != source]


def _undo_package_remove(rec: r.Recipe, spec: str) -> None:
    rec.packages.remove = [x for x in rec.packages.remove if x != spec]


def _undo_flag(rec: r.Recipe, flag: str) -> None:
    setattr(rec.packages, flag, False)


def _undo_drop(rec: r.Recipe, name: str) -> None:
    rec.deps.drop = [x for x in rec.deps.drop if x != name]


def _undo_signing(rec: r.Recipe) -> None:
    rec.signing = None


def _undo_identity(rec: r.Recipe, attr: str) -> None:
    setattr(rec.iso, attr, None)


def _undo_append(rec: r.Recipe, param: str) -> None:
    rec.boot.append = [x for x in rec.boot.append if x != param]


def _undo_boot_remove(rec: r.Recipe, param: str) -> None:
    rec.boot.remove = [x for x in rec.boot.remove if x != param]


def _undo_boot(rec: r.Recipe, attr: str) -> None:
    setattr(rec.boot, attr, None)


def _undo_answerfile(rec: r.Recipe) -> None:
    rec.answerfile = None


def changes(rec: r.Recipe, iso_exists: Exists, img_exists: Exists,
            kernels: list[str] | None = None) -> list[Change]:
    """Every pending change of ``rec``, in review order, each with its undo."""
    kernels = kernels or []
    out: list[Change] = []
    # ISO files
    for f in rec.iso.files:
        out.append(Change("browse", "ISO files", _kind(iso_exists(f.dest)),
                          f"{f.dest}  ← {display_path(f.source)}",
                          partial(_undo_iso_file, dest=f.dest)))
    for rm in rec.iso.remove:
        out.append(Change("browse", "ISO files", REMOVED, rm.path,
                          partial(_undo_iso_remove, path=rm.path)))
    # install.img
    inst = rec.installer
    for d in inst.drivers:
        dest = driver_dest(d, kernels)
        kernel = d.kernel or "main kernel"
        force = ", vermagic check skipped" if d.force else ""
        out.append(Change("installer", "install.img", _kind(img_exists(dest)),
                          f"driver {Path(d.source).name} → {dest} ({kernel}{force})",
                          partial(_undo_driver, driver=d)))
    for inf in inst.files:
        mode = f" mode {inf.mode:04o}" if inf.mode is not None else ""
        out.append(Change("installer", "install.img", _kind(img_exists(inf.dest)),
                          f"{inf.dest}  ← {display_path(inf.source)}{mode}",
                          partial(_undo_installer_file, dest=inf.dest)))
    for irm in inst.remove:
        out.append(Change("installer", "install.img", REMOVED, irm.path,
                          partial(_undo_installer_remove, path=irm.path)))
    for rpm in inst.rpms:
        out.append(Change("installer", "install.img", ADDED,
                          f"payload of {Path(rpm.source).name}",
                          partial(_undo_installer_rpm, source=rpm.source)))
    # Packages/
    pk = rec.packages
    for p in pk.add:
        out.append(Change("packages", "Packages", _kind(iso_exists(f"/Packages/{Path(p).name}")),
                          f"{Path(p).name}  ← {display_path(p)}",
                          partial(ops.unadd_package, source=p)))
    for spec in pk.remove:
        out.append(Change("packages", "Packages", REMOVED, spec,
                          partial(_undo_package_remove, spec=spec)))
    for flag, label in (("downgrade", "allow downgrades"),
                        ("auto_require", "require every added package from xcp-ng-deps"),
                        ("force", "build even if the dependency check fails")):
        if getattr(pk, flag):
            out.append(Change("packages", "Packages", CHANGED, label,
                              partial(_undo_flag, flag=flag)))
    for req in rec.deps.require:
        out.append(Change("packages", "xcp-ng-deps", ADDED, f"Requires: {req}",
                          partial(ops.unrequire, name=ops.dep_name(req))))
    for name in rec.deps.drop:
        out.append(Change("packages", "xcp-ng-deps", REMOVED, f"Requires: {name}",
                          partial(_undo_drop, name=name)))
    if rec.signing is not None:
        txt = ("repository unsigned" if rec.signing.mode == "unsigned"
               else f"repository signed with gpg key {rec.signing.key}")
        out.append(Change("packages", "Signing", CHANGED, txt, _undo_signing))
    # identity
    for attr, label in (("volume_id", "volume label"), ("build_number", "build number"),
                        ("product_version", "product version")):
        value = getattr(rec.iso, attr)
        if value is not None:
            out.append(Change("identity", "Identity", CHANGED, f"{label}: {value}",
                              partial(_undo_identity, attr=attr)))
    b = rec.boot
    for param in b.append:
        out.append(Change("identity", "Boot", ADDED, f"boot parameter {param}",
                          partial(_undo_append, param=param)))
    for param in b.remove:
        out.append(Change("identity", "Boot", REMOVED, f"boot parameter {param}",
                          partial(_undo_boot_remove, param=param)))
    if b.default is not None:
        out.append(Change("identity", "Boot", CHANGED, f"default entry: {b.default}",
                          partial(_undo_boot, attr="default")))
    if b.timeout is not None:
        out.append(Change("identity", "Boot", CHANGED, f"menu timeout: {b.timeout}s",
                          partial(_undo_boot, attr="timeout")))
    af = rec.answerfile
    if af is not None:
        what = (f"embed {display_path(af.source)} as {af.dest}" if af.source is not None
                else f"fetch {af.url}")
        out.append(Change("identity", "Answerfile", ADDED, f"answerfile: {what}",
                          _undo_answerfile))
    return out


def steps_with_changes(rec: r.Recipe) -> set[str]:
    return {c.step for c in changes(rec, lambda p: None, lambda p: None)}


def boot_touched(rec: r.Recipe) -> bool:
    b = rec.boot
    return bool(b.append or b.remove or b.default is not None or b.timeout is not None
                or rec.answerfile is not None)


def iso_marks(rec: r.Recipe, iso_exists: Callable[[str], bool],
              package_files: dict[str, str] | None = None) -> dict[str, str]:
    """ISO path -> mark, for the Browse tree.

    ``package_files`` maps each removal spec the Packages step knows (name or NEVRA)
    to its /Packages/ file.
    """
    marks: dict[str, str] = {}
    for f in rec.iso.files:
        marks[f.dest] = REPLACED if iso_exists(f.dest) else ADDED
    for rm in rec.iso.remove:
        marks[rm.path] = REMOVED
    if rec.touches_install_img():
        marks["/install.img"] = REPLACED
    if boot_touched(rec):
        for p in BOOT_FILES:
            if iso_exists(p):
                marks[p] = REPLACED
    if (rec.iso.build_number is not None or rec.iso.product_version is not None
            or rec.touches_repo()) and iso_exists("/.treeinfo"):
        marks["/.treeinfo"] = REPLACED
    if rec.touches_repo():
        for pkg in rec.packages.add:
            pkg_dest = f"/Packages/{Path(pkg).name}"
            marks[pkg_dest] = REPLACED if iso_exists(pkg_dest) else ADDED
        files = package_files or {}
        for spec in rec.packages.remove:
            if spec in files:
                marks[files[spec]] = REMOVED
        if iso_exists("/repodata"):
            marks["/repodata"] = REPLACED
    return marks


def module_stem(name: str, normalise: bool = True) -> str:
    """'igb.ko' -> 'igb'; '' when not a module. Normalised: '-' and '_' are the same."""
    stem = kmod.module_stem(name) or ""
    return kmod.normalise(stem) if normalise else stem


def image_marks(rec: r.Recipe, kernels: list[str], img_exists: Callable[[str], bool],
                img_paths: Callable[[str], list[str]] | None = None) -> dict[str, str]:
    """install.img path ('/etc/shadow') -> mark.

    ``img_paths(dir)`` lists every path under a directory of the image; with it, the
    other copies of a swapped driver in its kernel tree are marked removed (the engine
    removes them so the new module wins).
    """
    marks: dict[str, str] = {}
    if img_paths is not None:
        for d in rec.installer.drivers:
            if d.dest:
                continue
            kver = d.kernel or (kernels[0] if kernels else "")
            stem = module_stem(Path(d.source).name)
            dest = driver_dest(d, kernels)
            for p in img_paths(f"/lib/modules/{kver}"):
                if p != dest and module_stem(p) == stem:
                    marks[p] = REMOVED
                elif p.rsplit("/", 1)[-1].startswith("modules.") and \
                        p.rsplit("/", 1)[-1] not in DEPMOD_INPUTS:
                    marks[p] = REPLACED  # depmod regenerates the index
    for f in rec.installer.files:
        marks[f.dest] = REPLACED if img_exists(f.dest) else ADDED
    for rm in rec.installer.remove:
        marks[rm.path] = REMOVED
    for d in rec.installer.drivers:
        dest = driver_dest(d, kernels)
        marks[dest] = REPLACED if img_exists(dest) else ADDED
    af = rec.answerfile
    if af is not None and af.source is not None:
        marks[af.dest] = REPLACED if img_exists(af.dest) else ADDED
        for s in af.scripts:
            marks[s.dest] = REPLACED if img_exists(s.dest) else ADDED
    return marks
