"""Repository checks: repodata against Packages/, and the installer's dependency closure."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring, iterparse

from xcptui.engine import events, units
from xcptui.engine.errors import XcptuiError
from xcptui.engine.layout import PACKAGES, REPOMD
from xcptui.engine.verify.registry import CHUNK, Ctx, check
from xcptui.engine.verify.report import Outcome, failed, passed, skipped

NS_REPO = "{http://linux.duke.edu/metadata/repo}"
NS_COMMON = "{http://linux.duke.edu/metadata/common}"
MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz",
         b"\x28\xb5\x2f\xfd": "zstd"}


@dataclass
class _Record:
    type: str
    href: str
    checksum_type: str
    checksum: str
    open_checksum: str | None
    size: int | None
    timestamp: int | None


def _parse_repomd(data: bytes) -> tuple[str, list[_Record]]:
    root = fromstring(data, forbid_dtd=True)
    if root.tag != NS_REPO + "repomd":
        raise ValueError(f"root element is {root.tag}, not repomd")
    rev = (root.findtext(NS_REPO + "revision") or "").strip()
    recs = []
    for d in root.findall(NS_REPO + "data"):
        loc = d.find(NS_REPO + "location")
        ck = d.find(NS_REPO + "checksum")
        if loc is None or ck is None:
            raise ValueError(f"record {d.get('type')} lacks location or checksum")
        size = d.findtext(NS_REPO + "size")
        ts = d.findtext(NS_REPO + "timestamp")
        recs.append(_Record(d.get("type", "?"), loc.get("href", ""), ck.get("type", ""),
                            (ck.text or "").strip(), d.findtext(NS_REPO + "open-checksum"),
                            int(size) if size and size.isdigit() else None,
                            int(float(ts)) if ts and re.fullmatch(r"\d+(\.\d+)?", ts) else None))
    return rev, recs


def _hash_name(t: str) -> str:
    return {"sha": "sha1", "sha1": "sha1", "sha224": "sha224", "sha256": "sha256",
            "sha384": "sha384", "sha512": "sha512", "md5": "md5"}.get(t.lower(), t.lower())


def _digest(ctx: Ctx, iso_path: str, algo: str, counter: list[int]) -> str:
    h = hashlib.new(algo)
    off, size = ctx.src.extent(iso_path)
    with open(ctx.src.path, "rb") as f:
        pos = 0
        while pos < size:
            events.check(ctx.cancel)
            chunk = os.pread(f.fileno(), min(CHUNK, size - pos), off + pos)
            if not chunk:
                break
            h.update(chunk)
            pos += len(chunk)
            counter[0] += len(chunk)
            ctx.progress.update(counter[0])
    return h.hexdigest()


def _magic(data: bytes) -> str:
    for m, name in MAGIC.items():
        if data.startswith(m):
            return name
    return "plain"


@dataclass
class _Pkg:
    name: str
    href: str
    checksum_type: str
    checksum: str
    size: int | None


def _parse_primary(raw: bytes) -> list[_Pkg]:
    pkgs: list[_Pkg] = []
    for _ev, el in iterparse(io.BytesIO(raw), events=("end",), forbid_dtd=True):
        if el.tag != NS_COMMON + "package":
            continue
        ck = el.find(NS_COMMON + "checksum")
        loc = el.find(NS_COMMON + "location")
        sz = el.find(NS_COMMON + "size")
        pkgs.append(_Pkg(
            (el.findtext(NS_COMMON + "name") or "?").strip(),
            loc.get("href", "") if loc is not None else "",
            ck.get("type", "") if ck is not None else "",
            (ck.text or "").strip() if ck is not None else "",
            int(sz.get("package", "")) if sz is not None and
            (sz.get("package") or "").isdigit() else None,
        ))
        el.clear()
    return pkgs


@dataclass
class RepoState:
    """repomd.xml and primary.xml as read once for the repository and signature checks."""

    revision: str = ""
    records: list[_Record] = field(default_factory=list)
    repomd_error: str | None = None
    primary: Path | None = None  # a gzip copy in the scratch dir, for libsolv
    filelists: Path | None = None
    pkgs: list[_Pkg] | None = None
    primary_error: str | None = None
    primary_tried: bool = False


def repo_state(ctx: Ctx) -> RepoState:
    """Parse repomd.xml on first use (an unreadable one leaves no records)."""
    if ctx.repo is None:
        state = RepoState()
        if ctx.src.exists(REPOMD):
            try:
                state.revision, state.records = _parse_repomd(ctx.src.read(REPOMD))
            except (ParseError, DefusedXmlException, ValueError) as e:
                state.repomd_error = f"{REPOMD}: unreadable ({e})"
        ctx.repo = state
    assert isinstance(ctx.repo, RepoState)
    return ctx.repo


def load_primary(ctx: Ctx) -> RepoState:
    """Read primary.xml (and copy it and filelists for libsolv) on first use.

    Leaves ``pkgs`` None when the primary record is missing or its file unreadable;
    ``primary_error`` then says why when the file exists.
    """
    state = repo_state(ctx)
    if state.primary_tried:
        return state
    state.primary_tried = True
    src = ctx.src
    by_type = {r.type: r for r in state.records}
    prim = by_type.get("primary")
    if prim is None:
        return state
    ppath = "/" + prim.href.lstrip("/")
    if not src.exists(ppath):
        return state
    try:
        raw = src.read(ppath)
        xml = gzip.decompress(raw) if _magic(raw) == "gzip" else raw
        state.pkgs = _parse_primary(xml)
    except (OSError, EOFError, zlib.error, ParseError, DefusedXmlException, ValueError) as e:
        state.primary_error = f"{prim.href}: unreadable ({e})"
        return state
    state.primary = ctx.work / "primary.xml.gz"
    state.primary.write_bytes(gzip.compress(xml, 1) if _magic(raw) != "gzip" else raw)
    fl = by_type.get("filelists")
    if fl is not None and src.exists("/" + fl.href.lstrip("/")):
        suffix = {"gzip": ".gz", "bzip2": ".bz2", "xz": ".xz", "zstd": ".zst"}.get(
            _magic(src.read("/" + fl.href.lstrip("/"), 8)), "")
        state.filelists = ctx.work / f"filelists.xml{suffix}"
        state.filelists.write_bytes(src.read("/" + fl.href.lstrip("/")))
    return state


@check("repodata", "repodata matches Packages/", cheap=False)
def check_repodata(ctx: Ctx) -> Outcome:
    src = ctx.src
    if not src.exists(REPOMD):
        if src.exists(PACKAGES):
            return failed(f"{PACKAGES}/ exists but {REPOMD} is missing: the installer does not "
                          "see a repository")
        return skipped("no repository (netinstall ISO)")
    state = repo_state(ctx)
    if state.repomd_error:
        return failed(state.repomd_error)
    problems: list[str] = []
    if not any(r.type == "primary" for r in state.records):
        return failed(f"{REPOMD}: has no primary record")
    ctx.progress.step("verify repodata checksums")
    counter = [0]
    for r in state.records:
        path = "/" + r.href.lstrip("/")
        if ".." in r.href.split("/") or not src.exists(path):
            problems.append(f"{REPOMD}: {r.type} record names {r.href}, which is not on the ISO")
            continue
        if _digest(ctx, path, _hash_name(r.checksum_type), counter) != r.checksum:
            problems.append(f"{r.href}: {r.checksum_type} differs from repomd.xml (stale "
                            "repomd.xml)")
        comp = _magic(src.read(path, 8))
        if r.type == "primary" and comp != "gzip":
            problems.append(f"{r.href}: primary is {comp}, the installer only reads gzip")
        elif comp == "zstd":
            problems.append(f"{r.href}: zstd-compressed, EL7 yum in the installer cannot "
                            "read it")
    load_primary(ctx)
    if state.primary_error:
        problems.append(state.primary_error)
    if state.pkgs is None:  # the primary file is missing (a problem above) or unreadable
        return failed(problems)
    return _check_packages(ctx, state, state.pkgs, problems)


def _check_packages(ctx: Ctx, state: RepoState, pkgs: list[_Pkg], problems: list[str]
                    ) -> Outcome:
    """Every RPM primary.xml lists has its size and sha256; no RPM is unlisted."""
    src = ctx.src
    listed: set[str] = set()
    total = sum(src.entry("/" + p.href).size for p in pkgs
                if src.exists("/" + p.href) and not src.is_dir("/" + p.href))
    ctx.progress.step("verify package checksums", total)
    counter = [0]
    for p in pkgs:
        path = os.path.normpath("/" + p.href.lstrip("/"))
        listed.add(path)
        if not src.exists(path):
            problems.append(f"{p.href}: listed in primary.xml but not on the ISO")
            continue
        size = src.entry(path).size
        if p.size is not None and size != p.size:
            problems.append(f"{p.href}: {size} bytes, primary.xml says {p.size} (stale "
                            "repodata)")
            continue
        if p.checksum_type.lower() != "sha256":
            problems.append(f"{p.href}: checksum type {p.checksum_type}, the installer's "
                            "media check only keeps sha256")
        if _digest(ctx, path, _hash_name(p.checksum_type), counter) != p.checksum.lower():
            problems.append(f"{p.href}: {p.checksum_type} differs from primary.xml (the RPM "
                            "was replaced without regenerating repodata)")
    on_iso = [e.path for e in src.walk(PACKAGES)] if src.exists(PACKAGES) else []
    stray = [p for p in on_iso if p.endswith(".rpm") and p not in listed]
    problems += [f"{p}: on the ISO but not in primary.xml (stale repodata)" for p in stray]
    ctx.progress.finish_step()
    if problems:
        return failed(problems)
    return passed(f"{len(state.records)} repomd records and {len(pkgs)} RPMs "
                  f"({units.size(total)}) match their sha256; primary is gzip")


@check("deps", "xcp-ng-deps closure", cheap=False)
def check_deps(ctx: Ctx) -> Outcome:
    state = load_primary(ctx)
    if state.primary is None:
        return skipped("no readable repodata")
    from xcptui.engine.repo import solver

    try:
        rs = solver.RepoSolver.from_repodata(state.primary, state.filelists)
    except XcptuiError as e:
        return failed(str(e))
    if solver.INSTALLER_TARGET not in rs.names():
        return failed(f"the repository has no {solver.INSTALLER_TARGET}: the installer would "
                      "install nothing")
    res = solver.check_installer(rs)
    if not res.ok:
        lines = [p.text for p in res.problems] or ["libsolv found no solution"]
        return failed(lines)
    alt = " (and with kernel-alt)" if res.alt is not None else ""
    return passed(f"yum install {solver.INSTALLER_TARGET}{alt} resolves: "
                  f"{len(res.main.install)} packages")


