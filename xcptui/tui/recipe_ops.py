"""Every change the wizard can make, as an operation on an engine ``Recipe``.

The wizard keeps no change state of its own: each action here edits the recipe,
so whatever the TUI did can be saved as TOML and replayed by ``xcptui build``.
"""

from __future__ import annotations

import copy
import posixpath
import shlex
from pathlib import Path

from xcptui.engine import recipe as r


def clone(rec: r.Recipe) -> r.Recipe:
    return copy.deepcopy(rec)


def img_path(path: str) -> str:
    """Recipe form of a path inside install.img: '/etc/shadow'."""
    return "/" + "/".join(p for p in path.split("/") if p and p != ".")


# -- ISO files ------------------------------------------------------------------------


def put_iso_file(rec: r.Recipe, dest: str, source: Path) -> None:
    dest = img_path(dest)
    rec.iso.files = [f for f in rec.iso.files if f.dest != dest]
    rec.iso.remove = [x for x in rec.iso.remove if x.path != dest]
    rec.iso.files.append(r.IsoFile(Path(source), dest))


def toggle_iso_remove(rec: r.Recipe, path: str) -> bool:
    """Mark ``path`` for removal from the ISO, or unmark it. Returns the new state."""
    path = img_path(path)
    if any(x.path == path for x in rec.iso.remove):
        rec.iso.remove = [x for x in rec.iso.remove if x.path != path]
        return False
    if any(f.dest == path for f in rec.iso.files):
        rec.iso.files = [f for f in rec.iso.files if f.dest != path]
        return False  # undoing an added/replaced file, not removing the original
    rec.iso.remove.append(r.IsoRemove(path))
    return True


# -- install.img ----------------------------------------------------------------------


def put_driver(rec: r.Recipe, driver: r.Driver) -> None:
    """Add a driver; a driver with the same file name and kernel is replaced."""
    name = Path(driver.source).name
    rec.installer.drivers = [
        d for d in rec.installer.drivers
        if not (Path(d.source).name == name and d.kernel == driver.kernel and d.dest == driver.dest)
    ]
    rec.installer.drivers.append(driver)


def put_installer_file(rec: r.Recipe, f: r.InstallerFile) -> None:
    f.dest = img_path(f.dest)
    rec.installer.files = [x for x in rec.installer.files if x.dest != f.dest]
    rec.installer.remove = [x for x in rec.installer.remove if x.path != f.dest]
    rec.installer.files.append(f)


def toggle_installer_remove(rec: r.Recipe, path: str) -> bool:
    path = img_path(path)
    if any(x.path == path for x in rec.installer.remove):
        rec.installer.remove = [x for x in rec.installer.remove if x.path != path]
        return False
    if any(f.dest == path for f in rec.installer.files):
        rec.installer.files = [f for f in rec.installer.files if f.dest != path]
        return False
    rec.installer.remove.append(r.InstallerRemove(path))
    return True


def add_installer_rpm(rec: r.Recipe, source: Path) -> None:
    if not any(Path(x.source) == Path(source) for x in rec.installer.rpms):
        rec.installer.rpms.append(r.InstallerRpm(Path(source)))


# -- Packages/ and xcp-ng-deps -----------------------------------------------------


def add_package(rec: r.Recipe, source: Path) -> None:
    source = Path(source)
    rec.packages.add = [p for p in rec.packages.add if Path(p).name != source.name]
    rec.packages.add.append(source)


def unadd_package(rec: r.Recipe, source: Path) -> None:
    rec.packages.add = [p for p in rec.packages.add if Path(p) != Path(source)]


def toggle_package_remove(rec: r.Recipe, spec: str) -> bool:
    if spec in rec.packages.remove:
        rec.packages.remove.remove(spec)
        return False
    rec.packages.remove.append(spec)
    return True


def dep_name(requirement: str) -> str:
    return requirement.strip().split()[0] if requirement.strip() else ""


def require(rec: r.Recipe, requirement: str) -> bool:
    """Make xcp-ng-deps require ``requirement``; False when it already does."""
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


def unrequire(rec: r.Recipe, name: str) -> None:
    rec.deps.require = [x for x in rec.deps.require if dep_name(x) != name]


def toggle_drop(rec: r.Recipe, name: str) -> bool:
    if name in rec.deps.drop:
        rec.deps.drop.remove(name)
        return False
    rec.deps.drop.append(name)
    return True


def set_signing(rec: r.Recipe, mode: str | None, key: str | None = None) -> None:
    """mode None: leave signing to the build's default (only touched when the repo changes)."""
    rec.signing = None if mode is None else r.SigningSection(mode, key if mode == "gpg" else None)


# -- identity and boot ---------------------------------------------------------------


def split_params(text: str) -> list[str]:
    try:
        return [p for p in shlex.split(text) if p]
    except ValueError:
        return [p for p in text.split() if p]


def param_name(param: str) -> str:
    return param.split("=", 1)[0]


def set_param(rec: r.Recipe, param: str, on: bool) -> None:
    """Turn one appended boot parameter on or off; 'name=value' replaces 'name=...'."""
    name = param_name(param)
    rec.boot.append = [p for p in rec.boot.append if param_name(p) != name]
    if on:
        rec.boot.append.append(param)


def has_param(rec: r.Recipe, name: str) -> str | None:
    return next((p for p in rec.boot.append if param_name(p) == name), None)


def iso_dest_under(directory: str, name: str) -> str:
    return img_path(posixpath.join(directory or "/", name))


def clone_answerfile(af: r.AnswerfileSection) -> r.AnswerfileSection:
    return copy.deepcopy(af)
