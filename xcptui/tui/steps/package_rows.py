"""Rows of the Packages table: the ISO's RPMs with the recipe applied (no widgets)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xcptui.engine import recipe as r

ORIGINAL, ADDED, REPLACED, REMOVED, UPGRADE, DOWNGRADE, REBUILT = (
    "original", "added", "replaced", "removed", "replaces", "downgrades", "rebuilt")
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
         evrcmp: Any, report: Any = None) -> list[PackageRow]:
    """``added``: (host path, RpmInfo or an error string) per packages.add entry;
    ``report``: the engine's CheckReport of this recipe (rebuilt xcp-ng-deps, skipped)."""
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
    return _with_report(out + out_added, report)


def _with_report(out: list[PackageRow], report: Any) -> list[PackageRow]:
    """Mark what the engine's check says: xcp-ng-deps rebuilt, packages yum skips."""
    if report is None:
        return out
    meta = getattr(report, "meta", None)
    skipped = {not_installed_name(x): x for x in getattr(report, "skipped", [])}
    metas = [x for x in out if x.name == META and x.status == ORIGINAL]
    for row in out:
        if meta is not None and row.name == META and row.status == ORIGINAL and \
                row is max(metas, key=lambda m: m.info.evr_obj):
            row.status, row.note = REBUILT, meta_note(meta)
        if row.name in skipped and row.status != REMOVED:
            why = "only with kernel-alt" if "only when booted" in skipped[row.name] \
                else "not installed"
            row.note = f"{row.note}  · {why}" if row.note else f"· {why}"
    return out


def meta_note(meta: Any) -> str:
    """'as 8.3-14.1: +mytool -xcp-ng-pv-tools' for the rebuilt xcp-ng-deps."""
    new = meta.new_nevra
    evr = new[len(META) + 1:].rsplit(".", 1)[0] if new.startswith(META + "-") else new
    edits = [f"+{a}" for a in meta.added] + [f"-{d}" for d in meta.removed]
    return f"as {evr}: {' '.join(edits)}" if edits else f"as {evr}"


def matches(row: PackageRow, pattern: str) -> bool:
    """The filter: name, EVR, arch, status, note or file name (pending additions too)."""
    pat = pattern.strip().lower()
    if not pat:
        return True
    files = [row.source.name] if row.source is not None else []
    if row.info is not None:
        files += [row.info.filename, row.info.nevra]
    return any(pat in x.lower() for x in [row.name, row.evr, row.arch, row.status, row.note,
                                          *files])


@dataclass
class Totals:
    before_count: int
    before_bytes: int
    after_count: int
    after_bytes: int
    added_bytes: int  # RPMs the recipe adds (their host files)
    removed_bytes: int  # RPMs the recipe removes or replaces


def totals(rows_: list[PackageRow]) -> Totals:
    orig = [x for x in rows_ if x.key.startswith("iso:")]
    gone = [x for x in orig if x.status in (REMOVED, REPLACED)]
    new = [x for x in rows_ if x.key.startswith("add:")]
    before = sum(x.size for x in orig)
    add_b, rem_b = sum(x.size for x in new), sum(x.size for x in gone)
    return Totals(len(orig), before, len(orig) - len(gone) + len(new),
                  before - rem_b + add_b, add_b, rem_b)


FIXED = {"arch": 6, "size": 9}  # widths that never need more
MINIMUM = {"name": 10, "evr": 12, "status": 14}


def natural_width(rows_: list[PackageRow], size_of: Any) -> int:
    """Cells every column needs to show its longest value (without cell padding)."""
    heads = {"name": 4, "evr": 3, "arch": 4, "size": 4, "status": 6}
    name = max([heads["name"], *(len(x.name) for x in rows_)])
    evr = max([heads["evr"], *(len(x.evr) for x in rows_)])
    arch = max([FIXED["arch"], *(len(x.arch) for x in rows_)])
    size = max([FIXED["size"] - 1, *(len(size_of(x.size)) for x in rows_)])
    status = max([heads["status"], *(len(f"{x.status} {x.note}".strip()) for x in rows_)])
    return name + evr + arch + size + status


def column_widths(rows_: list[PackageRow], avail: int, size_of: Any) -> dict[str, int]:
    """Column widths for ``avail`` cells of content: every column's natural width when
    they fit (the status takes the rest); else the widest of name, EVR and status gives
    up a cell at a time, down to its minimum, so no column eats the others."""
    w = {"name": max([4, *(len(x.name) for x in rows_)]),
         "evr": max([3, *(len(x.evr) for x in rows_)]),
         "arch": max([FIXED["arch"], *(len(x.arch) for x in rows_)]),
         "size": max([FIXED["size"] - 1, *(len(size_of(x.size)) for x in rows_)]),
         "status": max([MINIMUM["status"],
                        *(len(f"{x.status} {x.note}".strip()) for x in rows_)])}
    over = sum(w.values()) - avail
    while over > 0:
        able = [k for k in ("evr", "status", "name") if w[k] > MINIMUM[k]]
        if not able:
            break
        k = max(able, key=lambda c: w[c])
        w[k] -= 1
        over -= 1
    w["status"] += max(0, -over)  # the status and its note get what is left
    return w


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
