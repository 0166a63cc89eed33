"""Rows of the Packages table: the ISO's RPMs with the recipe applied (no widgets)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xcptui.engine import recipe as r

ORIGINAL, ADDED, REPLACED, REMOVED, UPGRADE, DOWNGRADE = (
    "original", "added", "replaced", "removed", "replaces", "downgrades")
META = "xcp-ng-deps"


@dataclass
class PackageRow:
    key: str  # "iso:<filename>" or "add:<host path>"
    name: str
    evr: str
    arch: str
    size: int
    status: str
    note: str = ""
    info: Any = None
    source: Path | None = None  # host file of an added package
    spec: str = ""  # what packages.remove would name for an original package


def spec_forms(info: Any) -> set[str]:
    e = f"{info.epoch}:" if info.epoch else ""
    return {info.name, info.filename, f"Packages/{info.filename}", f"/Packages/{info.filename}",
            info.nvra, info.nevra, f"{info.name}-{info.version}-{info.release}",
            f"{info.name}-{e}{info.version}-{info.release}", f"{info.name}.{info.arch}"}


def rows(originals: list[Any], added: list[tuple[Path, Any]], rec: r.Recipe,
         evrcmp: Any) -> list[PackageRow]:
    """``added``: (host path, RpmInfo or an error string) per packages.add entry."""
    by_name: dict[str, list[Any]] = {}
    for o in originals:
        by_name.setdefault(o.name, []).append(o)
    replaced: dict[str, tuple[Any, str]] = {}  # original filename -> (new info, how)
    out_added: list[PackageRow] = []
    for path, info in added:
        if isinstance(info, str):
            out_added.append(PackageRow(f"add:{path}", path.name, "?", "?", 0, ADDED,
                                        note=info, source=path))
            continue
        status, note = ADDED, ""
        olds = by_name.get(info.name, [])
        if olds:
            old = max(olds, key=lambda o: o.evr_obj)
            c = evrcmp(info.evr_obj, old.evr_obj)
            status = UPGRADE if c > 0 else (DOWNGRADE if c < 0 else REPLACED)
            note = f"{old.evr}"
            if c < 0 and not rec.packages.downgrade:
                note += " (needs 'allow downgrades')"
            for o in olds:
                replaced[o.filename] = (info, status)
        out_added.append(PackageRow(f"add:{path}", info.name, info.evr, info.arch, info.size,
                                    status, note, info, path))
    out: list[PackageRow] = []
    nevra_count: dict[str, int] = {}
    for o in originals:
        nevra_count[o.name] = nevra_count.get(o.name, 0) + 1
    for o in originals:
        spec = o.name if nevra_count[o.name] == 1 else o.nevra
        status, note = ORIGINAL, ""
        if any(s in spec_forms(o) for s in rec.packages.remove):
            status = REMOVED
        elif o.filename in replaced:
            status, note = REPLACED, f"by {replaced[o.filename][0].evr}"
        out.append(PackageRow(f"iso:{o.filename}", o.name, o.evr, o.arch, o.size, status,
                              note, o, spec=spec))
    return out + out_added


@dataclass
class DepRow:
    text: str  # "name" or "name >= 1.0"
    name: str
    status: str  # original | added | removed


def dep_rows(meta_requires: list[Any], rec: r.Recipe) -> list[DepRow]:
    out: list[DepRow] = []
    required = {x.split()[0]: x for x in rec.deps.require if x.split()}
    for d in meta_requires:
        if getattr(d, "pre", False) or str(d).startswith("rpmlib("):
            continue
        name = d.name
        if name in rec.deps.drop:
            out.append(DepRow(str(d), name, REMOVED))
        elif name in required:
            out.append(DepRow(str(d), name, REPLACED))
        else:
            out.append(DepRow(str(d), name, ORIGINAL))
    for name, text in required.items():
        out.append(DepRow(text, name, ADDED))
    return out


def not_installed_name(line: str) -> str:
    """'htop would NOT be installed: …' -> 'htop'."""
    return line.split()[0] if line.split() else ""
