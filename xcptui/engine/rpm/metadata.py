"""Existing repodata read with createrepo_c's XML parsers: repomd.xml records and the
packages of primary (+ filelists, other) as RpmInfo."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import createrepo_c as cr

from xcptui.engine.errors import InputError
from xcptui.engine.rpm.header import CR_LOCK, RpmInfo


@dataclass
class RepodataFiles:
    """Locations (host paths) of one repository's metadata, from its repomd.xml."""

    repomd: Path
    records: dict[str, tuple[str, Path]]  # type -> (location href, host path)
    revision: str = ""

    def path(self, kind: str) -> Path | None:
        r = self.records.get(kind)
        return r[1] if r else None


def read_repomd(root: Path, label: str = "repodata/repomd.xml") -> RepodataFiles:
    """Parse ``root/repodata/repomd.xml`` (InputError when missing or broken)."""
    repomd = root / "repodata" / "repomd.xml"
    if not repomd.is_file():
        raise InputError(f"{label}: missing")
    md = cr.Repomd()
    warnings: list[str] = []

    def warn(_t: int, msg: str) -> bool:
        warnings.append(msg)
        return True

    try:
        with CR_LOCK:
            cr.xml_parse_repomd(str(repomd), md, warn)
    except (OSError, cr.CreaterepoCError) as e:
        raise InputError(f"{label}: not valid repository metadata ({e})") from None
    records: dict[str, tuple[str, Path]] = {}
    for rec in md.records:
        href = rec.location_href or ""
        if href.startswith("/") or ".." in href.split("/"):
            raise InputError(f"{label}: record {rec.type} has an unsafe location {href!r}")
        records[rec.type] = (href, root / href)
    if "primary" not in records:
        raise InputError(f"{label}: has no primary record")
    return RepodataFiles(repomd, records, md.revision or "")


def load_repodata(root: Path, *, filelists: bool = True, other: bool = False,
                  label: str = "repodata") -> list[RpmInfo]:
    """Every package listed in ``root/repodata`` (createrepo_c's XML parsers), in file order.

    ``other`` loads changelogs as well (needed to rewrite other.xml without re-reading RPMs).
    """
    files = read_repomd(root, f"{label}/repomd.xml")
    pkgs = parse_repodata_packages(files, filelists=filelists, other=other, label=label)
    return [RpmInfo.from_package(p) for p in pkgs]


def parse_repodata_packages(files: RepodataFiles, *, filelists: bool, other: bool,
                            label: str = "repodata") -> list[Any]:
    """createrepo_c Package objects from primary (+ filelists, other) in file order."""
    order: list[Any] = []
    by_id: dict[str, list[Any]] = {}
    filled: dict[str, dict[str, int]] = {"filelists": {}, "other": {}}

    def warn(_t: int, _msg: str) -> bool:
        return True

    def pkgcb(pkg: Any) -> None:
        order.append(pkg)
        by_id.setdefault(pkg.pkgId, []).append(pkg)

    def newpkgcb_for(kind: str) -> Any:
        seen = filled[kind]

        def cb(pkgid: str, _name: str, _arch: str) -> Any:
            lst = by_id.get(pkgid)
            if not lst:
                return None
            n = seen.get(pkgid, 0)
            seen[pkgid] = n + 1
            return lst[min(n, len(lst) - 1)]

        return cb

    for kind in ("primary", "filelists", "other"):
        if kind == "filelists" and not filelists or kind == "other" and not other:
            continue
        p = files.path(kind)
        if p is None:
            if kind == "primary":
                raise InputError(f"{label}/repomd.xml: has no primary record")
            continue
        if not p.is_file():
            raise InputError(f"{label}: {files.records[kind][0]} is listed in repomd.xml "
                             "but missing")
        try:
            with CR_LOCK:
                if kind == "primary":
                    cr.xml_parse_primary(str(p), pkgcb=pkgcb, warningcb=warn,
                                         do_files=not filelists)
                elif kind == "filelists":
                    cr.xml_parse_filelists(str(p), newpkgcb=newpkgcb_for(kind), warningcb=warn)
                else:
                    cr.xml_parse_other(str(p), newpkgcb=newpkgcb_for(kind), warningcb=warn)
        except (OSError, cr.CreaterepoCError) as e:
            raise InputError(f"{label}: {files.records[kind][0]}: cannot parse ({e})") from None
    return order
