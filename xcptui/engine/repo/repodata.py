"""Regenerate ``repodata/`` for a Packages/ directory with createrepo_c's Python API.

What the XCP-ng installer and EL7 yum need (see docs/xcpng-iso-facts §5):

* ``primary.xml`` (and filelists/other) **gzip**-compressed: the installer always gunzips
  primary; createrepo_c >= 1.0 defaults to zstd, so the compression is set explicitly;
* sha256 package checksums (the installer's media check keeps only sha256);
* locations ``Packages/<file>`` relative to the ISO root;
* sqlite databases like the original had them (same compression, never zstd);
* checksum-prefixed ("unique") metadata file names, stale files removed.

Update mode: packages whose file is unchanged keep the data loaded from the old repodata
(primary + filelists + other); only new files are read with ``package_from_rpm``.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import createrepo_c as cr

from xcptui.engine.errors import BuildError, InputError
from xcptui.engine.events import Progress, check
from xcptui.engine.rpm.header import (
    Hasher,
    RpmInfo,
    read_headers,
    set_checksum,
)
from xcptui.engine.rpm.metadata import RepodataFiles, parse_repodata_packages, read_repomd

XML_KINDS = ("primary", "filelists", "other")
DB_OF = {"primary": "primary_db", "filelists": "filelists_db", "other": "other_db"}
STANDARD = set(XML_KINDS) | set(DB_OF.values()) | {
    f"{k}_zck" for k in XML_KINDS} | {"filelists_ext", "filelists_ext_db", "filelists_ext_zck"}
COMPRESSIONS = {"gz": cr.GZ_COMPRESSION, "bz2": cr.BZ2_COMPRESSION, "xz": cr.XZ_COMPRESSION}
_PREFIX = re.compile(r"^[0-9a-f]{32,128}-")


@dataclass
class RepoEntry:
    """One package of the new repository."""

    href: str  # "Packages/x.rpm"
    path: Path | None = None  # host file, read when no reusable data exists
    size: int | None = None  # file size, checked against the old data before reusing it
    info: RpmInfo | None = None  # already read (new or rebuilt packages)


@dataclass
class OldRepo:
    """The source's repodata, loaded for update mode."""

    files: RepodataFiles
    packages: dict[str, Any]  # href -> createrepo_c.Package (primary + filelists + other)
    database: bool  # the source had sqlite databases
    db_compression: str  # "bz2" | "gz" | "xz"
    extra: list[tuple[str, str, Path]] = field(default_factory=list)  # (type, href, host)

    @property
    def hrefs(self) -> set[str]:
        return set(self.packages)


def load_old(root: Path, label: str = "repodata") -> OldRepo:
    """Load ``root/repodata`` completely (InputError when it is broken)."""
    files = read_repomd(root, f"{label}/repomd.xml")
    pkgs = parse_repodata_packages(files, filelists=True, other=True, label=label)
    by_href: dict[str, Any] = {}
    for p in pkgs:
        href = p.location_href or ""
        while href.startswith("./"):
            href = href[2:]
        p.location_href = href
        by_href.setdefault(href, p)
    database = any(t.endswith("_db") for t in files.records)
    comp = "bz2"
    db = files.records.get("primary_db")
    if db is not None:
        suffix = db[0].rsplit(".", 1)[-1]
        comp = suffix if suffix in COMPRESSIONS else "bz2"
    extra = [(t, href, host) for t, (href, host) in files.records.items() if t not in STANDARD]
    return OldRepo(files, by_href, database, comp, extra)


@dataclass
class RepodataResult:
    repodata: Path  # the new repodata directory (host)
    files: dict[str, Path]  # "repodata/<name>" -> host file, every file of the new repodata
    stale: list[str]  # "repodata/<name>" files of the old repodata that are gone
    packages: list[RpmInfo]  # in repository order
    reused: int = 0  # packages whose data came from the old repodata
    read: int = 0  # packages read from their RPM file
    seconds: float = 0.0


def _revision() -> str:
    sde = os.environ.get("SOURCE_DATE_EPOCH", "")
    return sde if sde.isdigit() else str(int(time.time()))


def write_repodata(entries: list[RepoEntry], out_root: Path, *, old: OldRepo | None = None,
                   database: bool | None = None, db_compression: str | None = None,
                   progress: Progress | None = None,
                   cancel: threading.Event | None = None) -> RepodataResult:
    """Write ``out_root/repodata`` for ``entries`` (an empty list gives an empty repository).

    ``database`` None: sqlite databases when the old repodata had them (else none).
    The directory is created fresh; nothing outside it is written.
    """
    progress = progress or Progress()
    t0 = time.monotonic()
    if database is None:
        database = old.database if old is not None else False
    comp_name = db_compression or (old.db_compression if old is not None else "bz2")
    if comp_name not in COMPRESSIONS:
        raise InputError(f"repodata: sqlite compression {comp_name!r} is not one of "
                         f"{', '.join(COMPRESSIONS)}")
    db_comp = COMPRESSIONS[comp_name]
    hrefs = [e.href for e in entries]
    if len(set(hrefs)) != len(hrefs):
        dup = sorted({h for h in hrefs if hrefs.count(h) > 1})
        raise InputError(f"repodata: duplicate package locations: {', '.join(dup)}")

    # 1. collect Package objects: reused, already read, or read now (headers here, the
    #    files' sha256 in a thread pool while the metadata is being written)
    to_read: list[tuple[Path, str]] = []
    for e in entries:
        if (e.info is None or e.info.package is None) and not _reusable(e, old):
            if e.path is None:
                raise InputError(f"repodata: no data for {e.href}: not in the old repodata "
                                 "and no file to read")
            to_read.append((e.path, e.href))
    fresh = {i.href: i for i in read_headers(to_read, progress, cancel)}
    infos: list[RpmInfo] = []
    reused = read = 0
    for e in entries:
        if e.info is not None and e.info.package is not None:
            info = e.info
            info.package.location_href = e.href
            info.href = e.href
            read += 1
        elif _reusable(e, old):
            assert old is not None
            info = RpmInfo.from_package(old.packages[e.href])
            reused += 1
        else:
            info = fresh[e.href]
            read += 1
        infos.append(info)

    # 2. write the metadata
    repodata = out_root / "repodata"
    if repodata.exists():
        shutil.rmtree(repodata)
    repodata.mkdir(parents=True)
    progress.step("write repodata", len(infos), unit="packages")  # a count, not bytes
    with Hasher() as hasher:
        pending = {i.href: hasher.submit(i.path) for i in fresh.values() if i.path}
        try:
            files = _write(infos, pending, repodata, database, db_comp, old, progress,
                           cancel)
        except (OSError, cr.CreaterepoCError) as e:
            raise BuildError(f"repodata: cannot write {repodata}: {e}") from None
    progress.finish_step()
    new_names = {f"repodata/{p.name}" for p in files}
    stale: list[str] = []
    if old is not None:
        old_names = {h for h, _p in old.files.records.values()}
        stale = sorted(h for h in old_names if h not in new_names)
    return RepodataResult(repodata, {f"repodata/{p.name}": p for p in files}, stale, infos,
                          reused, read, time.monotonic() - t0)


def _reusable(e: RepoEntry, old: OldRepo | None) -> bool:
    if old is None or e.info is not None:
        return False
    pkg = old.packages.get(e.href)
    if pkg is None or (pkg.checksum_type or "").lower() != "sha256":
        return False
    return e.size is None or int(pkg.size_package or -1) == e.size


def _write(infos: list[RpmInfo], pending: dict[str, Future[str]], repodata: Path,
           database: bool, db_comp: int, old: OldRepo | None, progress: Progress,
           cancel: threading.Event | None) -> list[Path]:
    xml_paths = {k: repodata / f"{k}.xml.gz" for k in XML_KINDS}
    stats = {k: cr.ContentStat(cr.SHA256) for k in XML_KINDS}
    xml = {
        "primary": cr.PrimaryXmlFile(str(xml_paths["primary"]), cr.GZ_COMPRESSION,
                                     stats["primary"]),
        "filelists": cr.FilelistsXmlFile(str(xml_paths["filelists"]), cr.GZ_COMPRESSION,
                                         stats["filelists"]),
        "other": cr.OtherXmlFile(str(xml_paths["other"]), cr.GZ_COMPRESSION, stats["other"]),
    }
    dbs: dict[str, Any] = {}
    db_paths = {k: repodata / f"{k}.sqlite" for k in XML_KINDS}
    if database:
        dbs = {"primary": cr.PrimarySqlite(str(db_paths["primary"])),
               "filelists": cr.FilelistsSqlite(str(db_paths["filelists"])),
               "other": cr.OtherSqlite(str(db_paths["other"]))}
    for f in xml.values():
        f.set_num_of_pkgs(len(infos))
    for i, info in enumerate(infos):
        fut = pending.get(info.href)
        if fut is not None:
            check(cancel)
            set_checksum(info, fut.result())
        elif i % 64 == 0:
            check(cancel)
        progress.update(i + 1)
        pkg = info.package
        for f in xml.values():
            f.add_pkg(pkg)
        for d in dbs.values():
            d.add_pkg(pkg)
    for f in xml.values():
        f.close()

    repomd = cr.Repomd()
    repomd.set_revision(_revision())
    out: list[Path] = []
    records: list[Any] = []
    for k in XML_KINDS:
        rec = cr.RepomdRecord(k, str(xml_paths[k]))
        rec.load_contentstat(stats[k])
        rec.fill(cr.SHA256)
        records.append(rec)
        if database:
            db = dbs[k]
            db.dbinfo_update(rec.checksum)
            db.close()
            raw = cr.RepomdRecord(DB_OF[k], str(db_paths[k]))
            crec = raw.compress_and_fill(cr.SHA256, db_comp)
            crec.db_ver = 10
            db_paths[k].unlink()
            records.append(crec)
    if old is not None:
        for kind, href, host in old.extra:
            if not host.is_file():
                raise InputError(f"repodata: {href} is listed in repomd.xml but missing")
            dest = repodata / _PREFIX.sub("", Path(href).name)
            shutil.copyfile(host, dest)
            rec = cr.RepomdRecord(kind, str(dest))
            rec.fill(cr.SHA256)
            records.append(rec)
    for rec in records:
        rec.rename_file()
        repomd.set_record(rec)
        out.append(repodata / Path(rec.location_href).name)
    repomd.sort_records()
    (repodata / "repomd.xml").write_text(repomd.xml_dump(), encoding="utf-8")
    out.append(repodata / "repomd.xml")
    return out
