"""The result of comparing two ISOs: one typed record per section, ``lines()`` and ``to_json()``.

Every list is kept in a stable order (sorted by path, label or name) so two runs on the
same pair print the same thing and the JSON can be diffed itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from xcptui.engine.units import size


class Change(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


_MARK = {Change.ADDED: "+", Change.REMOVED: "-", Change.CHANGED: "~"}


@dataclass
class FileChange:
    """One ISO file (or directory) that differs."""

    path: str
    change: Change
    old_size: int | None = None
    new_size: int | None = None
    details: list[str] = field(default_factory=list)  # "size", "content", "mode 0644 -> 0755"
    sha256: tuple[str, str] | None = None  # when equal sizes were hashed and differ

    def line(self) -> str:
        if self.change is Change.ADDED:
            return f"+ {self.path}" + (f" ({size(self.new_size)})" if self.new_size else "")
        if self.change is Change.REMOVED:
            return f"- {self.path}" + (f" ({size(self.old_size)})" if self.old_size else "")
        what = "; ".join(self.details)
        if self.old_size != self.new_size and self.old_size is not None:
            what += f" ({size(self.old_size)} -> {size(self.new_size or 0)})"
        return f"~ {self.path}: {what}"

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "change": str(self.change), "old_size": self.old_size,
                "new_size": self.new_size, "details": list(self.details),
                "sha256": list(self.sha256) if self.sha256 else None}


@dataclass
class EntryChange:
    """One install.img entry that differs: its path inside its kernel tree ("updates/igc.ko")
    or, in the "other" group, in the image with symlinks resolved ("usr/bin/...")."""

    path: str
    change: Change
    type: str
    details: list[str] = field(default_factory=list)
    size: int = 0  # bytes of file data (the new side's, when changed)

    def line(self) -> str:
        tail = f": {'; '.join(self.details)}" if self.details else ""
        suffix = "/" if self.type == "dir" else ""
        return f"{_MARK[self.change]} {self.path}{suffix}{tail}"

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "change": str(self.change), "type": self.type,
                "size": self.size, "details": list(self.details)}


@dataclass
class ImageDiff:
    """install.img: identical bytes, or its entry changes grouped per kernel tree."""

    present: tuple[bool, bool] = (True, True)
    identical: bool = False
    sizes: tuple[int, int] = (0, 0)
    # kernel version ("4.19.0+1": <modules dir>/4.19.0+1) or "other" -> changes
    groups: dict[str, list[EntryChange]] = field(default_factory=dict)
    kernels: tuple[list[str], list[str]] = field(default_factory=lambda: ([], []))

    @property
    def same(self) -> bool:
        return self.present == (True, True) and (self.identical or not any(self.groups.values()))

    def to_json(self) -> dict[str, Any]:
        return {"present": list(self.present), "identical": self.identical,
                "sizes": list(self.sizes), "kernels": [list(k) for k in self.kernels],
                "groups": {g: [c.to_json() for c in cs] for g, cs in self.groups.items()}}


@dataclass
class Upgrade:
    name: str
    arch: str
    old: str  # EVR
    new: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "arch": self.arch, "old": self.old, "new": self.new}


@dataclass
class PackageDiff:
    """Packages/ by NEVRA, and the Requires of xcp-ng-deps (what the installer pulls in)."""

    added: list[str] = field(default_factory=list)  # NEVRAs
    removed: list[str] = field(default_factory=list)
    upgraded: list[Upgrade] = field(default_factory=list)
    downgraded: list[Upgrade] = field(default_factory=list)
    rebuilt: list[str] = field(default_factory=list)  # same NEVRA, other file checksum
    deps_added: list[str] = field(default_factory=list)  # "kernel >= 4.19"
    deps_removed: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not (self.added or self.removed or self.upgraded or self.downgraded
                    or self.rebuilt or self.deps_added or self.deps_removed)

    def to_json(self) -> dict[str, Any]:
        return {"added": list(self.added), "removed": list(self.removed),
                "upgraded": [u.to_json() for u in self.upgraded],
                "downgraded": [u.to_json() for u in self.downgraded],
                "rebuilt": list(self.rebuilt),
                "xcp_ng_deps": {"added": list(self.deps_added),
                                "removed": list(self.deps_removed)}}


@dataclass
class EntryDiff:
    """One boot menu entry present in both configs, by label."""

    label: str
    xen_added: list[str] = field(default_factory=list)
    xen_removed: list[str] = field(default_factory=list)
    dom0_added: list[str] = field(default_factory=list)
    dom0_removed: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)  # "kernel /boot/vmlinuz -> ..."

    @property
    def same(self) -> bool:
        return not (self.xen_added or self.xen_removed or self.dom0_added
                    or self.dom0_removed or self.other)

    def line(self) -> str:
        """"~ install: dom0 +sshpassword=secret -console=tty0; xen +dom0_mem=4G"."""
        parts = []
        for what, added, removed in (("xen", self.xen_added, self.xen_removed),
                                     ("dom0", self.dom0_added, self.dom0_removed)):
            if added or removed:
                parts.append(" ".join([what] + [f"+{p}" for p in added]
                                      + [f"-{p}" for p in removed]))
        return f"~ {self.label}: " + "; ".join(parts + self.other)

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label,
                "xen": {"added": list(self.xen_added), "removed": list(self.xen_removed)},
                "dom0": {"added": list(self.dom0_added), "removed": list(self.dom0_removed)},
                "other": list(self.other)}


@dataclass
class ConfigDiff:
    """One boot config (isolinux.cfg, grub.cfg, efiboot.img's grub.cfg)."""

    name: str
    change: Change = Change.CHANGED
    entries_added: list[str] = field(default_factory=list)
    entries_removed: list[str] = field(default_factory=list)
    entries: list[EntryDiff] = field(default_factory=list)  # only those that differ
    default: tuple[str | None, str | None] | None = None  # (old, new) when it changed
    timeout: tuple[float | None, float | None] | None = None

    @property
    def same(self) -> bool:
        return (self.change is Change.CHANGED and not self.entries_added
                and not self.entries_removed and not self.entries
                and self.default is None and self.timeout is None)

    def lines(self) -> list[str]:
        if self.change is not Change.CHANGED:
            return [f"{_MARK[self.change]} {self.name}"]
        out = [f"{self.name}:"]
        if self.default is not None:
            out.append(f"  default: {_show(self.default[0])} -> {_show(self.default[1])}")
        if self.timeout is not None:
            out.append(f"  timeout: {_show(self.timeout[0])} -> {_show(self.timeout[1])}")
        out += [f"  + entry {lbl}" for lbl in self.entries_added]
        out += [f"  - entry {lbl}" for lbl in self.entries_removed]
        out += [f"  {e.line()}" for e in self.entries]
        return out

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "change": str(self.change),
                "entries_added": list(self.entries_added),
                "entries_removed": list(self.entries_removed),
                "entries": [e.to_json() for e in self.entries],
                "default": list(self.default) if self.default is not None else None,
                "timeout": list(self.timeout) if self.timeout is not None else None}


@dataclass
class KeyChange:
    key: str  # "build.number"
    old: str | None
    new: str | None

    def line(self) -> str:
        return f"~ {self.key}: {_show(self.old)} -> {_show(self.new)}"

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "old": self.old, "new": self.new}


def _show(v: object) -> str:
    if v is None:
        return "(none)"
    if isinstance(v, float):
        return f"{v:g}"
    return repr(v) if isinstance(v, str) and (not v or v != v.strip()) else str(v)


@dataclass
class DiffReport:
    """Everything that differs between ISO ``a`` and ISO ``b``."""

    a: str
    b: str
    volume_id: tuple[str, str] | None = None  # (old, new) when it changed
    files: list[FileChange] = field(default_factory=list)
    image: ImageDiff = field(default_factory=ImageDiff)
    packages: PackageDiff = field(default_factory=PackageDiff)
    boot: list[ConfigDiff] = field(default_factory=list)  # only those that differ
    treeinfo: list[KeyChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be compared, and why

    @property
    def identical(self) -> bool:
        return (self.volume_id is None and not self.files and self.image.same
                and self.packages.same and not self.boot and not self.treeinfo)

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a, "b": self.b, "identical": self.identical,
            "volume_id": list(self.volume_id) if self.volume_id else None,
            "files": [f.to_json() for f in self.files],
            "install_img": self.image.to_json(),
            "packages": self.packages.to_json(),
            "boot": [c.to_json() for c in self.boot],
            "treeinfo": [k.to_json() for k in self.treeinfo],
            "notes": list(self.notes),
        }

    def lines(self) -> list[str]:
        out = [f"--- {self.a}", f"+++ {self.b}"]
        if self.volume_id is not None:
            out.append(f"volume id: {self.volume_id[0]!r} -> {self.volume_id[1]!r}")
        if self.files:
            out.append(f"ISO files: {_counts([f.change for f in self.files])}")
            out += [f"  {f.line()}" for f in self.files]
        out += _image_lines(self.image)
        out += _package_lines(self.packages)
        if self.boot:
            out.append(f"boot configs: {len(self.boot)} differ")
            for c in self.boot:
                out += [f"  {ln}" for ln in c.lines()]
        if self.treeinfo:
            out.append(f".treeinfo: {len(self.treeinfo)} key(s) changed")
            out += [f"  {k.line()}" for k in self.treeinfo]
        out += [f"note: {n}" for n in self.notes]
        out.append("identical" if self.identical else "the ISOs differ")
        return out


def _counts(changes: list[Change]) -> str:
    parts = [f"{changes.count(c)} {c}" for c in Change if changes.count(c)]
    return ", ".join(parts)


def _image_lines(img: ImageDiff) -> list[str]:
    if img.present == (False, False):
        return []
    if img.present != (True, True):
        return [f"install.img: {'added' if img.present[1] else 'removed'}"]
    if img.identical:
        return ["install.img: byte-identical"]
    changes = [c for cs in img.groups.values() for c in cs]
    if not changes:
        return [f"install.img: same entries ({size(img.sizes[0])} -> {size(img.sizes[1])}, "
                "compression or order differs)"]
    out = [f"install.img: {_counts([c.change for c in changes])} "
           f"({size(img.sizes[0])} -> {size(img.sizes[1])})"]
    if img.kernels[0] != img.kernels[1]:
        out.append(f"  kernels: {', '.join(img.kernels[0]) or 'none'} -> "
                   f"{', '.join(img.kernels[1]) or 'none'}")
    for group, cs in img.groups.items():
        title = "other" if group == "other" else f"kernel tree lib/modules/{group}"
        whole = group != "other" and (group in img.kernels[0]) != (group in img.kernels[1])
        if whole:  # a kernel that came or went: one line, not its thousands of modules
            mark = "added" if group in img.kernels[1] else "removed"
            data = sum(c.size for c in cs)
            out.append(f"  {title}: {mark} ({len(cs)} entries, {size(data)})")
        else:
            out.append(f"  {title}: {_counts([c.change for c in cs])}")
            out += [f"    {c.line()}" for c in cs]
    return out


def _package_lines(p: PackageDiff) -> list[str]:
    if p.same:
        return []
    n = len(p.added) + len(p.removed) + len(p.upgraded) + len(p.downgraded) + len(p.rebuilt)
    out = [f"Packages: {n} changed"]
    out += [f"  + {v}" for v in p.added]
    out += [f"  - {v}" for v in p.removed]
    out += [f"  ^ {u.name}.{u.arch}: {u.old} -> {u.new}" for u in p.upgraded]
    out += [f"  v {u.name}.{u.arch}: {u.old} -> {u.new} (downgrade)" for u in p.downgraded]
    out += [f"  ~ {v} (same version, other file: rebuilt or re-signed)" for v in p.rebuilt]
    if p.deps_added or p.deps_removed:
        out.append("  xcp-ng-deps Requires:")
        out += [f"    + {d}" for d in p.deps_added]
        out += [f"    - {d}" for d in p.deps_removed]
    return out
