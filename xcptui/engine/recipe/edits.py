"""The rules for changing a recipe one step at a time (what the TUI does).

Each function edits a ``Recipe`` in place, so whatever a front end did can be saved
as TOML and replayed by ``xcptui build``. ``undo_*`` take back one change (one
line of the pending-changes summary, ``xcptui.engine.build.pending``).
"""

from __future__ import annotations

import copy
import posixpath
import shlex
from pathlib import Path

from xcptui.engine.recipe.model import (
    AnswerfileSection,
    Driver,
    DriverDisk,
    InstallerFile,
    InstallerRemove,
    InstallerRpm,
    IsoFile,
    IsoRemove,
    Recipe,
    SigningSection,
)


def clone(rec: Recipe) -> Recipe:
    return copy.deepcopy(rec)


def img_path(path: str) -> str:
    """Recipe form of a path on the ISO or inside install.img: '/etc/shadow'."""
    return "/" + "/".join(p for p in path.split("/") if p and p != ".")


# -- ISO files ------------------------------------------------------------------------


def put_iso_file(rec: Recipe, dest: str, source: Path) -> None:
    """Add or replace ``dest`` on the ISO; a pending removal of it is dropped."""
    dest = img_path(dest)
    rec.iso.files = [f for f in rec.iso.files if f.dest != dest]
    rec.iso.remove = [x for x in rec.iso.remove if x.path != dest]
    rec.iso.files.append(IsoFile(Path(source), dest))


def toggle_iso_remove(rec: Recipe, path: str) -> bool:
    """Mark ``path`` for removal from the ISO, or unmark it. Returns the new state."""
    path = img_path(path)
    if any(x.path == path for x in rec.iso.remove):
        undo_iso_remove(rec, path)
        return False
    if any(f.dest == path for f in rec.iso.files):
        undo_iso_file(rec, path)
        return False  # undoing an added/replaced file, not removing the original
    rec.iso.remove.append(IsoRemove(path))
    return True


def undo_iso_file(rec: Recipe, dest: str) -> None:
    rec.iso.files = [x for x in rec.iso.files if x.dest != dest]


def undo_iso_remove(rec: Recipe, path: str) -> None:
    rec.iso.remove = [x for x in rec.iso.remove if x.path != path]


# -- install.img ----------------------------------------------------------------------


def _trees(d: Driver) -> set[str]:
    """The kernel trees a driver entry names, as written ("main", "alt", "all", unames)."""
    return set(d.kernels) if d.kernels else {d.kernel or "main"}


def same_driver(a: Driver, b: Driver) -> bool:
    """Two drivers that would install the same file: same file name and dest, and the
    same kernel trees."""
    return (Path(a.source).name == Path(b.source).name and a.dest == b.dest
            and _trees(a) == _trees(b))


def put_driver(rec: Recipe, driver: Driver) -> None:
    """Add a driver. An entry for the same file name and dest is replaced where the new
    one covers its trees; an entry listing more trees keeps only the others."""
    new = _trees(driver)
    keep: list[Driver] = []
    for d in rec.installer.drivers:
        old = _trees(d)
        if Path(d.source).name != Path(driver.source).name or d.dest != driver.dest:
            keep.append(d)
        elif "all" in new or old <= new:
            continue  # replaced
        elif d.kernels and "all" not in old and old & new:
            d.kernels = [k for k in d.kernels if k not in new]  # the rest stays
            keep.append(d)
        else:
            keep.append(d)
    rec.installer.drivers = [*keep, driver]


def undo_driver(rec: Recipe, driver: Driver) -> None:
    """Take back exactly this driver (by identity: two entries may compare equal)."""
    rec.installer.drivers = [x for x in rec.installer.drivers if x is not driver]


def add_driver_disk(rec: Recipe, disk: DriverDisk) -> None:
    """Add a [[drivers.disk]]; the same source again replaces the earlier entry."""
    rec.drivers.disk = [d for d in rec.drivers.disk
                        if Path(d.source).resolve() != Path(disk.source).resolve()]
    rec.drivers.disk.append(disk)


def undo_driver_disk(rec: Recipe, disk: DriverDisk) -> None:
    rec.drivers.disk = [d for d in rec.drivers.disk if d is not disk]


def put_installer_file(rec: Recipe, f: InstallerFile) -> None:
    f.dest = img_path(f.dest)
    rec.installer.files = [x for x in rec.installer.files if x.dest != f.dest]
    rec.installer.remove = [x for x in rec.installer.remove if x.path != f.dest]
    rec.installer.files.append(f)


def toggle_installer_remove(rec: Recipe, path: str) -> bool:
    path = img_path(path)
    if any(x.path == path for x in rec.installer.remove):
        undo_installer_remove(rec, path)
        return False
    if any(f.dest == path for f in rec.installer.files):
        undo_installer_file(rec, path)
        return False
    rec.installer.remove.append(InstallerRemove(path))
    return True


def undo_installer_file(rec: Recipe, dest: str) -> None:
    rec.installer.files = [x for x in rec.installer.files if x.dest != dest]


def undo_installer_remove(rec: Recipe, path: str) -> None:
    rec.installer.remove = [x for x in rec.installer.remove if x.path != path]


def add_installer_rpm(rec: Recipe, source: Path) -> None:
    if not any(Path(x.source) == Path(source) for x in rec.installer.rpms):
        rec.installer.rpms.append(InstallerRpm(Path(source)))


def undo_installer_rpm(rec: Recipe, source: Path) -> None:
    rec.installer.rpms = [x for x in rec.installer.rpms if x.source != source]


# -- Packages/ and xcp-ng-deps -----------------------------------------------------


def add_package(rec: Recipe, source: Path) -> None:
    """Add an RPM to Packages/; one with the same file name is replaced."""
    source = Path(source)
    rec.packages.add = [p for p in rec.packages.add if Path(p).name != source.name]
    rec.packages.add.append(source)


def unadd_package(rec: Recipe, source: Path) -> None:
    rec.packages.add = [p for p in rec.packages.add if Path(p) != Path(source)]


def toggle_package_remove(rec: Recipe, spec: str) -> bool:
    if spec in rec.packages.remove:
        rec.packages.remove.remove(spec)
        return False
    rec.packages.remove.append(spec)
    return True


def undo_package_remove(rec: Recipe, spec: str) -> None:
    rec.packages.remove = [x for x in rec.packages.remove if x != spec]


#: the [packages] flags a front end can turn on
PACKAGE_FLAGS = ("downgrade", "auto_require", "force")


def undo_flag(rec: Recipe, flag: str) -> None:
    if flag not in PACKAGE_FLAGS:
        raise ValueError(f"not a [packages] flag: {flag}")
    setattr(rec.packages, flag, False)


def dep_name(requirement: str) -> str:
    """'kernel >= 4.19' -> 'kernel'; '' for an empty requirement."""
    return requirement.strip().split()[0] if requirement.strip() else ""


def require(rec: Recipe, requirement: str) -> bool:
    """Make xcp-ng-deps require ``requirement``; False when it already does.

    A requirement on the same name replaces the old one (one Requires: per name),
    and a pending drop of that name is cancelled.
    """
    requirement = " ".join(requirement.split())
    name = dep_name(requirement)
    if name in rec.deps.drop:
        rec.deps.drop.remove(name)
    if any(dep_name(x) == name for x in rec.deps.require):
        if requirement in rec.deps.require:
            return False
        rec.deps.require = [x for x in rec.deps.require if dep_name(x) != name]
    rec.deps.require.append(requirement)
    return True


def unrequire(rec: Recipe, name: str) -> None:
    rec.deps.require = [x for x in rec.deps.require if dep_name(x) != name]


def toggle_drop(rec: Recipe, name: str) -> bool:
    if name in rec.deps.drop:
        rec.deps.drop.remove(name)
        return False
    rec.deps.drop.append(name)
    return True


def undo_drop(rec: Recipe, name: str) -> None:
    rec.deps.drop = [x for x in rec.deps.drop if x != name]


def set_signing(rec: Recipe, mode: str | None, key: str | None = None) -> None:
    """mode None: leave signing to the build's default (only touched when the repo changes).
    ``installer_gpgcheck`` (set in another step) is kept."""
    gpgcheck = rec.signing.installer_gpgcheck if rec.signing is not None else None
    rec.signing = None if mode is None else SigningSection(mode, key if mode == "gpg" else None)
    set_installer_gpgcheck(rec, gpgcheck)


GPGCHECK_SETTINGS = (None, "off", "keep")  # None: auto


def set_installer_gpgcheck(rec: Recipe, value: str | None) -> None:
    """[signing] installer_gpgcheck "off", "keep" or None (auto). A recipe without
    [signing] gets one with the build's default mode ("unsigned") to hold the setting,
    and loses it again when the setting goes back to auto (and nothing else is set)."""
    if value not in GPGCHECK_SETTINGS:
        raise ValueError(f"installer_gpgcheck must be off, keep or auto, not {value!r}")
    if rec.signing is None:
        if value is not None:
            rec.signing = SigningSection(installer_gpgcheck=value)
        return
    if rec.signing.installer_gpgcheck == value:
        return  # unchanged: an explicit [signing] mode = "unsigned" stays
    rec.signing.installer_gpgcheck = value
    if value is None and rec.signing == SigningSection():
        rec.signing = None  # only held the setting


def undo_signing(rec: Recipe) -> None:
    rec.signing = None


# -- identity and boot ---------------------------------------------------------------

IDENTITY_FIELDS = ("volume_id", "build_number", "product_version")


def undo_identity(rec: Recipe, attr: str) -> None:
    if attr not in IDENTITY_FIELDS:
        raise ValueError(f"not an [iso] identity field: {attr}")
    setattr(rec.iso, attr, None)


def split_params(text: str) -> list[str]:
    try:
        return [p for p in shlex.split(text) if p]
    except ValueError:
        return [p for p in text.split() if p]


def param_name(param: str) -> str:
    return param.split("=", 1)[0]


def set_param(rec: Recipe, param: str, on: bool) -> None:
    """Turn one appended boot parameter on or off; 'name=value' replaces 'name=...'."""
    name = param_name(param)
    rec.boot.append = [p for p in rec.boot.append if param_name(p) != name]
    if on:
        rec.boot.append.append(param)


def has_param(rec: Recipe, name: str) -> str | None:
    return next((p for p in rec.boot.append if param_name(p) == name), None)


def undo_append(rec: Recipe, param: str) -> None:
    rec.boot.append = [x for x in rec.boot.append if x != param]


def undo_boot_remove(rec: Recipe, param: str) -> None:
    rec.boot.remove = [x for x in rec.boot.remove if x != param]


def undo_boot(rec: Recipe, attr: str) -> None:
    if attr not in ("default", "timeout"):
        raise ValueError(f"not a [boot] setting: {attr}")
    setattr(rec.boot, attr, None)


def iso_dest_under(directory: str, name: str) -> str:
    return img_path(posixpath.join(directory or "/", name))


def clone_answerfile(af: AnswerfileSection) -> AnswerfileSection:
    return copy.deepcopy(af)


def undo_answerfile(rec: Recipe) -> None:
    rec.answerfile = None
