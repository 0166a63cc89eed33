"""Prove a built ISO is sound: every structural check as pass / fail / skip + one line.

Checks are independent readings of the finished image (the El Torito catalog,
the MBR/GPT bytes, the three boot menus, install.img, repodata, .treeinfo, the
repository signature), not a replay of what the build meant to do, so they catch
damage from xcptui and from a user's own edits alike. A check that cannot run
(a netinstall ISO has no repository) is "skip"; a broken structure is "fail" with
the evidence; verify itself only raises for input that is not an ISO at all.

``verify(path)`` runs after every build; ``xcptui verify OUT.iso [--json]``
runs it on its own.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import re
import shutil
import struct
import subprocess
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring, iterparse

from xcptui.engine.errors import Cancelled, XcptuiError
from xcptui.engine.events import Progress, check
from xcptui.engine.iso import hybrid
from xcptui.engine.iso.read import SECTOR, IsoSource
from xcptui.engine.layout import (
    EFI_LOADER,
    EFIBOOT_GRUB,
    EFIBOOT_IMG,
    GRUB_CFG,
    INSTALL_IMG,
    ISOLINUX_BIN,
    ISOLINUX_CFG,
    ISOLINUX_DIR,
    PACKAGES,
    REPOMD,
    REPOMD_ASC,
    TREEINFO,
    CheckStatus,
)
from xcptui.engine.tools import which

PASS, FAIL, SKIP = CheckStatus.PASS, CheckStatus.FAIL, CheckStatus.SKIP


NS_REPO = "{http://linux.duke.edu/metadata/repo}"
NS_COMMON = "{http://linux.duke.edu/metadata/common}"
MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz",
         b"\x28\xb5\x2f\xfd": "zstd"}
_CHUNK = 1 << 20
_GPG_TIMEOUT = 60


@dataclass
class Check:
    """One verification: ``status`` is pass / fail / skip, ``evidence`` one line."""

    id: str
    title: str
    status: str
    evidence: str
    details: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "status": self.status,
                "evidence": self.evidence, "details": list(self.details)}


@dataclass
class Report:
    path: str
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    def get(self, check_id: str) -> Check | None:
        return next((c for c in self.checks if c.id == check_id), None)

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for c in self.checks if c.status == s) for s in (PASS, FAIL, SKIP)}

    def lines(self) -> list[str]:
        width = max((len(c.title) for c in self.checks), default=10)
        out = [f"verify {Path(self.path).name}:"]
        for c in self.checks:
            out.append(f"  {c.status.upper():4}  {c.title:<{width}}  {c.evidence}")
            if c.status == FAIL:
                extra = [d for d in c.details if d != c.evidence]
                out += [f"        {'':<{width}}  {d}" for d in extra[:10]]
                if len(extra) > 10:
                    out.append(f"        {'':<{width}}  ... and {len(extra) - 10} more")
        n = self.counts()
        verdict = "OK" if self.ok else "FAILED"
        out.append(f"verify: {verdict}: {n[PASS]} passed, {n[FAIL]} failed, {n[SKIP]} skipped "
                   f"({self.seconds:.1f}s)")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "ok": self.ok, "seconds": round(self.seconds, 3),
                "counts": self.counts(), "checks": [c.to_json() for c in self.checks]}


class _Ctx:
    """What the checks share: the open ISO, a scratch dir, parsed configs."""

    def __init__(self, src: IsoSource, work: Path, progress: Progress,
                 cancel: threading.Event | None) -> None:
        self.src, self.work, self.progress, self.cancel = src, work, progress, cancel
        self.configs: dict[str, Any] = {}  # "isolinux" | "grub" | "efiboot" -> BootConfig
        self.config_errors: dict[str, str] = {}
        self.efiboot_host: Path | None = None
        self.efiboot_files: list[str] | None = None
        self.efiboot_error: str | None = None

    def host_copy(self, iso_path: str) -> Path:
        """Copy an ISO file to the scratch dir (for tools that need a host path)."""
        dest = self.work / iso_path.strip("/").replace("/", "__")
        if not dest.exists():
            off, size = self.src.extent(iso_path)
            with open(self.src.path, "rb") as f, open(dest, "wb") as out:
                pos = 0
                while pos < size:
                    chunk = os.pread(f.fileno(), min(_CHUNK, size - pos), off + pos)
                    if not chunk:
                        break
                    out.write(chunk)
                    pos += len(chunk)
        return dest


def _fmt_size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)  # pragma: no cover


# ---------------------------------------------------------------------------
# El Torito


def _boot_info_table_problem(src: IsoSource, data: bytes, lba: int, size: int) -> str | None:
    """Check isolinux.bin's 56-byte boot-info table (written by -boot-info-table)."""
    if len(data) < 64:
        return "isolinux.bin is too small to hold a boot-info table"
    pvd, bi_file, bi_len, bi_csum = struct.unpack_from("<IIII", data, 8)
    body = data[64:]
    body += b"\0" * (-len(body) % 4)
    csum = sum(struct.unpack(f"<{len(body) // 4}I", body)) & 0xFFFFFFFF
    with open(src.path, "rb") as f:
        desc = os.pread(f.fileno(), 6, pvd * SECTOR)
    if desc != b"\x01CD001":
        return (f"boot-info table names sector {pvd} as the primary volume descriptor, "
                "which is not one (no boot-info table, or a stale one)")
    if bi_file != lba:
        return f"boot-info table says isolinux.bin is at sector {bi_file}, it is at {lba}"
    if bi_len != size:
        return f"boot-info table says isolinux.bin is {bi_len} bytes, it is {size}"
    if bi_csum != csum:
        return "boot-info table checksum does not match isolinux.bin (stale table)"
    return None


def check_eltorito_bios(ctx: _Ctx) -> Check:
    title = "El Torito BIOS entry"
    bios = [b for b in ctx.src.eltorito() if b.platform == "BIOS"]
    if not bios:
        return Check("eltorito-bios", title, FAIL,
                     "no BIOS El Torito entry: the ISO does not boot from CD in BIOS mode")
    b = bios[0]
    problems = []
    if b.path is None:
        problems.append(f"the entry loads sector {b.load_rba}, which is no file on the ISO")
    elif b.path != ISOLINUX_BIN:
        problems.append(f"the entry loads {b.path}, not {ISOLINUX_BIN}")
    if b.media != "no-emul":
        problems.append(f"media type {b.media}, isolinux needs no-emulation")
    if b.load_size != 4:
        problems.append(f"load size {b.load_size} sectors, isolinux expects 4")
    if not b.bootable:
        problems.append("the entry is not marked bootable")
    if b.path is not None:
        off, size = ctx.src.extent(b.path)
        p = _boot_info_table_problem(ctx.src, ctx.src.read(b.path), off // SECTOR, size)
        if p:
            problems.append(p)
    if problems:
        return Check("eltorito-bios", title, FAIL, problems[0], problems)
    return Check("eltorito-bios", title, PASS,
                 f"{b.path}: no-emul, load size 4, boot-info table valid")


def check_eltorito_uefi(ctx: _Ctx) -> Check:
    title = "El Torito UEFI entry"
    uefi = [b for b in ctx.src.eltorito() if b.platform == "UEFI"]
    if not uefi:
        if not ctx.src.exists(EFIBOOT_IMG):
            return Check("eltorito-uefi", title, SKIP,
                         f"no UEFI entry and no {EFIBOOT_IMG}: a BIOS-only ISO")
        return Check("eltorito-uefi", title, FAIL,
                     f"no UEFI El Torito entry although {EFIBOOT_IMG} exists: the ISO does not "
                     "boot from CD in UEFI mode")
    b = uefi[0]
    problems = []
    if b.path is None:
        problems.append(f"the entry loads sector {b.load_rba}, which is no file on the ISO")
    if b.media != "no-emul":
        problems.append(f"media type {b.media}, expected no-emulation")
    if not b.bootable:
        problems.append("the entry is not marked bootable")
    if b.path is not None and b.path == EFIBOOT_IMG:
        _load_efiboot(ctx)
        if ctx.efiboot_error:
            problems.append(ctx.efiboot_error)
        elif ctx.efiboot_files is not None and EFI_LOADER.lower() not in (
                f.lower() for f in ctx.efiboot_files):
            problems.append(f"{EFIBOOT_IMG} has no {EFI_LOADER}: UEFI firmware finds no loader")
    if problems:
        return Check("eltorito-uefi", title, FAIL, problems[0], problems)
    assert b.path is not None
    size = ctx.src.entry(b.path).size
    cover = ("covers the image" if b.load_size * 512 >= size
             else f"{b.load_size * 512} of {size} bytes")
    return Check("eltorito-uefi", title, PASS,
                 f"{b.path}: no-emul FAT image with {EFI_LOADER} (load size {b.load_size} "
                 f"sectors, {cover})")


def _load_efiboot(ctx: _Ctx) -> None:
    if ctx.efiboot_files is not None or ctx.efiboot_error is not None:
        return
    from xcptui.engine.iso import efiboot

    try:
        ctx.efiboot_host = ctx.host_copy(EFIBOOT_IMG)
        ctx.efiboot_files = efiboot.list_files(ctx.efiboot_host, name=EFIBOOT_IMG.lstrip("/"))
    except XcptuiError as e:
        ctx.efiboot_error = str(e)


# ---------------------------------------------------------------------------
# hybrid MBR / GPT


def check_hybrid(ctx: _Ctx) -> Check:
    title = "Hybrid MBR (USB boot)"
    h = hybrid.inspect(ctx.src.path)
    if not h.mbr_signature:
        return Check("hybrid-mbr", title, FAIL,
                     "no MBR (no 55AA signature): the ISO does not boot from a USB stick")
    problems = []
    if not h.isohybrid:
        problems.append("the MBR boot code is not syslinux isohybrid's: BIOS USB boot would "
                        "not reach isolinux")
    vol = ctx.src.pycdlib.pvd.space_size * SECTOR
    p1 = next((p for p in h.partitions if p.index == 1), None)
    if p1 is None:
        problems.append("MBR has no partition 1 (the installer mounts partition 1 of a USB "
                        "stick to find its packages)")
    else:
        if p1.start != 0:
            problems.append(f"partition 1 starts at sector {p1.start}, not 0: it does not hold "
                            "the ISO 9660 filesystem")
        if p1.size < vol:
            problems.append(f"partition 1 is {p1.size} bytes, smaller than the {vol}-byte ISO "
                            "volume")
        if p1.offset + p1.size > ctx.src.size:
            problems.append(f"partition 1 ends at byte {p1.offset + p1.size}, past the end of "
                            f"the {ctx.src.size}-byte image")
    efi = h.efi_partition()
    has_uefi = any(b.platform == "UEFI" for b in ctx.src.eltorito())
    evidence_efi = ""
    if has_uefi and ctx.src.exists(EFIBOOT_IMG):
        off, size = ctx.src.extent(EFIBOOT_IMG)
        if efi is None:
            problems.append("no 0xEF (EFI system) partition: the ISO does not boot from a USB "
                            "stick in UEFI mode")
        elif efi.offset != off or efi.size != (size + 511) // 512 * 512:
            problems.append(f"0xEF partition {efi.index} covers bytes {efi.offset}+{efi.size}, "
                            f"but {EFIBOOT_IMG} is at {off}+{size}")
        else:
            evidence_efi = f", 0xEF partition {efi.index} = {EFIBOOT_IMG} at byte {off}"
    elif efi is not None:
        evidence_efi = f", 0xEF partition {efi.index} (no UEFI El Torito entry)"
    if problems:
        return Check("hybrid-mbr", title, FAIL, problems[0], problems)
    assert p1 is not None
    return Check("hybrid-mbr", title, PASS,
                 f"isohybrid MBR: partition 1 at sector 0 holds the {_fmt_size(vol)} ISO"
                 f"{evidence_efi}")


def check_gpt(ctx: _Ctx) -> Check:
    title = "GPT"
    with open(ctx.src.path, "rb") as f:
        info = hybrid.parse_gpt(f.fileno(), ctx.src.size)
    if not info.present:
        return Check("gpt", title, SKIP, "no GPT (MBR-only hybrid)")
    problems = list(info.problems)
    if ctx.src.exists(EFIBOOT_IMG) and any(b.platform == "UEFI" for b in ctx.src.eltorito()):
        off, size = ctx.src.extent(EFIBOOT_IMG)
        first, last = off // 512, (off + size + 511) // 512 - 1
        if not any(p.first_lba == first and p.last_lba == last for p in info.partitions):
            problems.append(f"no GPT partition covers {EFIBOOT_IMG} (sectors {first}-{last})")
    if problems:
        return Check("gpt", title, FAIL, problems[0], problems)
    return Check("gpt", title, PASS,
                 f"primary and backup agree, CRCs valid, {len(info.partitions)} partitions "
                 f"(backup header at sector {info.backup_lba})")


# ---------------------------------------------------------------------------
# boot menus


def _load_configs(ctx: _Ctx) -> None:
    if ctx.configs or ctx.config_errors:
        return
    from xcptui.engine.boot import config as bootcfg
    from xcptui.engine.iso import efiboot

    for cname, path, kind in (("isolinux", ISOLINUX_CFG, bootcfg.ISOLINUX),
                              ("grub", GRUB_CFG, bootcfg.GRUB)):
        if not ctx.src.exists(path):
            ctx.config_errors[cname] = f"{path}: missing"
            continue
        try:
            ctx.configs[cname] = bootcfg.BootConfig.from_bytes(ctx.src.read(path), kind,
                                                               path.lstrip("/"))
        except XcptuiError as e:
            ctx.config_errors[cname] = str(e)
    if ctx.src.exists(EFIBOOT_IMG):
        _load_efiboot(ctx)
        if ctx.efiboot_error:
            ctx.config_errors["efiboot"] = ctx.efiboot_error
            return
        assert ctx.efiboot_host is not None
        name = f"{EFIBOOT_IMG.lstrip('/')}:{EFIBOOT_GRUB}"
        try:
            data = efiboot.read_file(ctx.efiboot_host, EFIBOOT_GRUB,
                                     name=EFIBOOT_IMG.lstrip("/"))
            ctx.configs["efiboot"] = bootcfg.BootConfig.from_bytes(data, bootcfg.GRUB, name)
        except XcptuiError as e:
            ctx.config_errors["efiboot"] = str(e)


def check_boot_configs(ctx: _Ctx) -> Check:
    title = "Boot menus agree"
    from xcptui.engine.boot import config as bootcfg
    from xcptui.engine.iso import efiboot

    _load_configs(ctx)
    problems = list(ctx.config_errors.values())  # each names its file
    cfgs = ctx.configs
    for cfg in cfgs.values():
        if not cfg.installer_entries():
            problems.append(f"{cfg.name}: no installer entry (Xen + vmlinuz + install.img)")
    diffs = bootcfg.compare(cfgs) if len(cfgs) > 1 else []
    problems += diffs
    efi = cfgs.get("efiboot")
    if efi is not None and efiboot.SEARCH_LINE not in efi.text:
        problems.append(f"{efi.name}: lacks '{efiboot.SEARCH_LINE}': firmware that makes "
                        "efiboot.img grub's root would not find /boot/xen.gz")
    if problems:
        return Check("boot-configs", title, FAIL, problems[0], problems)
    n = {k: len(c.installer_entries()) for k, c in cfgs.items()}
    which_cfgs = ", ".join(f"{k} ({v} installer entries)" for k, v in n.items())
    return Check("boot-configs", title, PASS,
                 f"{which_cfgs}: same dom0 and Xen parameters in every entry")


_ISO_MODULE_KW = {"kernel", "linux", "com32", "ui"}


def _isolinux_modules(text: str) -> list[str]:
    """Files isolinux itself loads (KERNEL mboot.c32, UI menu.c32, LINUX /boot/memtest.bin)."""
    out = []
    for line in text.splitlines():
        toks = line.split()
        if len(toks) >= 2 and toks[0].lower() in _ISO_MODULE_KW:
            out.append(toks[1])
    return out


def check_boot_files(ctx: _Ctx) -> Check:
    title = "Files named by boot entries"
    _load_configs(ctx)
    if not ctx.configs:
        return Check("boot-files", title, SKIP, "no readable boot menu")
    needed: dict[str, str] = {}  # ISO path -> who names it

    def need(path: str | None, who: str, base: str = "/") -> None:
        if not path:
            return
        p = path if path.startswith("/") else f"{base.rstrip('/')}/{path}"
        p = re.sub(r"^\([^)]*\)", "", p)  # grub device prefix "(cd0)/..."
        needed.setdefault(os.path.normpath(p), who)

    iso = ctx.configs.get("isolinux")
    if iso is not None:
        for mod in _isolinux_modules(iso.text):
            need(mod, iso.name, ISOLINUX_DIR)
        try:
            binary = ctx.src.read(ISOLINUX_BIN)
        except XcptuiError:
            binary = b""
        m = re.search(rb"ISOLINUX (\d+)\.", binary)
        if m and int(m.group(1)) >= 5:
            need("ldlinux.c32", f"{ISOLINUX_BIN} (syslinux {m.group(1).decode()})",
                 ISOLINUX_DIR)
    for cfg in ctx.configs.values():
        for e in cfg.entries:
            who = f"{cfg.name} '{e.label}'"
            need(e.hypervisor, who)
            need(e.kernel_path, who)
            need(e.initrd, who)
    missing = [f"{p} (named by {who}) is not on the ISO" for p, who in needed.items()
               if not ctx.src.exists(p)]
    empty = [f"{p} (named by {who}) is empty" for p, who in needed.items()
             if ctx.src.exists(p) and not ctx.src.is_dir(p) and ctx.src.entry(p).size == 0]
    problems = missing + empty
    if problems:
        return Check("boot-files", title, FAIL, problems[0], problems)
    return Check("boot-files", title, PASS,
                 f"all {len(needed)} present: {', '.join(sorted(needed))}")


# ---------------------------------------------------------------------------
# install.img


@dataclass
class _ImageScan:
    compression: str
    segments: int
    entries: list[Any]
    problems: list[str]
    decoder: str


def _scan_with_lbzip2(path: Path, off: int, size: int, cancel: threading.Event | None
                      ) -> _ImageScan | None:
    """Decode a single-stream bzip2 install.img with lbzip2 (an independent decoder, and
    about twice as fast as Python's bz2 on 2 cores) and parse its cpio headers.

    Returns None when lbzip2 is missing or the image is not exactly one bzip2 stream
    (then the engine's own scanner, which knows segments, does the job).
    """
    from xcptui.engine.initrd import bzip2blocks, compression, cpio

    exe = which("lbzip2")
    if exe is None:
        return None
    region = compression.FileRegion(path, off, size, "install.img")
    try:
        if not bzip2blocks.is_stream_header(region.pread(4, 0)):
            return None
        scan = bzip2blocks.StreamScan(region, 0, "install.img")
        for _ in scan.blocks():
            check(cancel)
        tail = region.pread(size - scan.end, scan.end) if scan.end < size else b""
        if tail.strip(b"\0"):
            return None  # more segments follow: let the engine's scanner judge them
    except XcptuiError:
        return None  # malformed: the engine's scanner gives the precise message
    finally:
        region.close()
    raws: list[Any] = []
    scanner = cpio.NewcScanner(raws.append)
    proc = subprocess.Popen([exe, "-d", "-c", "-n2"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def feed() -> None:
        assert proc.stdin is not None
        try:
            with open(path, "rb") as f:
                pos = 0
                while pos < size and not (cancel is not None and cancel.is_set()):
                    chunk = os.pread(f.fileno(), min(1 << 20, size - pos), off + pos)
                    if not chunk:
                        break
                    proc.stdin.write(chunk)
                    pos += len(chunk)
        except (BrokenPipeError, OSError):
            pass
        finally:
            with contextlib.suppress(OSError):
                proc.stdin.close()

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    problems: list[str] = []
    drained = False
    try:
        assert proc.stdout is not None
        while chunk := proc.stdout.read(1 << 20):
            check(cancel)
            scanner.feed(chunk)
        drained = True
    except cpio.CpioFormatError as e:
        problems.append(f"install.img: {e.what} at offset {e.offset} of the uncompressed "
                        "archive")
    finally:
        if not drained:  # stopped early: lbzip2 would block on its full output pipe
            proc.kill()
        writer.join()
        err = proc.stderr.read() if proc.stderr else b""
        proc.wait()
    if cancel is not None and cancel.is_set():
        raise Cancelled()
    if proc.returncode != 0:
        msg = " ".join(err.decode("utf-8", "replace").split()) or f"exit {proc.returncode}"
        problems.append(f"install.img: lbzip2 cannot decode it ({msg})")
    elif not scanner.state().between_entries:
        problems.append(f"install.img: the cpio archive ends inside entry "
                        f"'{scanner.state().in_entry}' (truncated)")
    latest: dict[str, Any] = {}
    for r in raws:
        name = r.header.name.decode("utf-8", "surrogateescape")
        if name == cpio.TRAILER:
            continue
        rel = cpio.safe_relpath(name)
        if rel is None:
            problems.append(f"install.img: unsafe entry name {name!r}")
            continue
        latest[rel] = _RawView(rel, cpio.entry_type(r.header.mode), r.header.mode & 0o7777)
    return _ImageScan("bzip2", 1, list(latest.values()), problems, "lbzip2")


@dataclass
class _RawView:
    path: str
    type: str
    mode: int


def _scan_image(ctx: _Ctx, off: int, size: int) -> _ImageScan:
    fast = _scan_with_lbzip2(ctx.src.path, off, size, ctx.cancel)
    if fast is not None:
        return fast
    from xcptui.engine.initrd import image as installimg

    img = installimg.InstallImage.open(ctx.src.path, off, size, name="install.img",
                                       progress=ctx.progress, cancel=ctx.cancel)
    with img:
        # The scan applies the kernel's initramfs rules (init/initramfs.c) as it decodes:
        # img.problems is what check_kernel_format would report, without a second decode.
        return _ImageScan(img.compression, img.segments, img.entries(), list(img.problems),
                          "xcptui")


def check_install_img(ctx: _Ctx) -> Check:
    title = "install.img"
    if not ctx.src.exists(INSTALL_IMG):
        return Check("install-img", title, FAIL, "no /install.img: not an installation ISO")
    off, size = ctx.src.extent(INSTALL_IMG)
    try:
        scan = _scan_image(ctx, off, size)
    except Cancelled:
        raise
    except XcptuiError as e:
        return Check("install-img", title, FAIL, str(e))
    problems = list(scan.problems)
    entries = scan.entries
    mode000 = sorted(_entry_path(e) for e in entries
                     if _entry_kind(e) == "file" and _entry_mode(e) == 0)
    devices = sorted(_entry_path(e) for e in entries if _entry_kind(e) in ("chr", "blk"))
    shadow = any(_entry_path(e) == "/etc/shadow" for e in entries)
    if not shadow:
        problems.append("install.img has no /etc/shadow: the installer's root console "
                        "would not work (xcp-ng/xcp#35)")
    if problems:
        return Check("install-img", title, FAIL, problems[0], problems)
    segs, comp = scan.segments, scan.compression
    shown = ", ".join(mode000[:4]) + (", ..." if len(mode000) > 4 else "")
    dshown = ", ".join(devices[:3]) + (", ..." if len(devices) > 3 else "")
    return Check("install-img", title, PASS,
                 f"{comp} (decoded by {scan.decoder}), {segs} segment"
                 f"{'s' if segs != 1 else ''} each ending on an entry "
                 f"boundary, {len(entries)} entries; {len(mode000)} mode-000 files ({shown}); "
                 f"{len(devices)} device nodes ({dshown})",
                 [f"mode 000: {p}" for p in mode000] + [f"device: {p}" for p in devices])


def _entry_path(e: Any) -> str:
    p = str(getattr(e, "path", getattr(e, "name", "")))
    while p.startswith("./"):
        p = p[2:]
    return "/" + p.lstrip("/")


def _entry_mode(e: Any) -> int:
    return int(getattr(e, "mode", 0)) & 0o7777


def _entry_kind(e: Any) -> str:
    return {"file": "file", "dir": "dir", "symlink": "link", "chardev": "chr",
            "blockdev": "blk"}.get(str(getattr(e, "type", "")), "other")


# ---------------------------------------------------------------------------
# repository


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


def _digest(ctx: _Ctx, iso_path: str, algo: str, counter: list[int]) -> str:
    h = hashlib.new(algo)
    off, size = ctx.src.extent(iso_path)
    with open(ctx.src.path, "rb") as f:
        pos = 0
        while pos < size:
            check(ctx.cancel)
            chunk = os.pread(f.fileno(), min(_CHUNK, size - pos), off + pos)
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
    import io

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


class _RepoState:
    def __init__(self) -> None:
        self.revision = ""
        self.records: list[_Record] = []
        self.primary: Path | None = None
        self.filelists: Path | None = None


def check_repodata(ctx: _Ctx, state: _RepoState) -> Check:
    title = "repodata matches Packages/"
    src = ctx.src
    if not src.exists(REPOMD):
        if src.exists(PACKAGES):
            return Check("repodata", title, FAIL,
                         f"{PACKAGES}/ exists but {REPOMD} is missing: the installer does not "
                         "see a repository")
        return Check("repodata", title, SKIP, "no repository (netinstall ISO)")
    try:
        state.revision, state.records = _parse_repomd(src.read(REPOMD))
    except (ParseError, DefusedXmlException, ValueError) as e:
        return Check("repodata", title, FAIL, f"{REPOMD}: unreadable ({e})")
    problems: list[str] = []
    by_type = {r.type: r for r in state.records}
    if "primary" not in by_type:
        return Check("repodata", title, FAIL, f"{REPOMD}: has no primary record")
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
    prim = by_type["primary"]
    ppath = "/" + prim.href.lstrip("/")
    if not src.exists(ppath):
        return Check("repodata", title, FAIL, problems[0], problems)
    try:
        raw = src.read(ppath)
        xml = gzip.decompress(raw) if _magic(raw) == "gzip" else raw
        pkgs = _parse_primary(xml)
    except (OSError, EOFError, zlib.error, ParseError, DefusedXmlException, ValueError) as e:
        problems.append(f"{prim.href}: unreadable ({e})")
        return Check("repodata", title, FAIL, problems[0], problems)
    state.primary = ctx.work / "primary.xml.gz"
    state.primary.write_bytes(gzip.compress(xml, 1) if _magic(raw) != "gzip" else raw)
    fl = by_type.get("filelists")
    if fl is not None and src.exists("/" + fl.href.lstrip("/")):
        suffix = {"gzip": ".gz", "bzip2": ".bz2", "xz": ".xz", "zstd": ".zst"}.get(
            _magic(src.read("/" + fl.href.lstrip("/"), 8)), "")
        state.filelists = ctx.work / f"filelists.xml{suffix}"
        state.filelists.write_bytes(src.read("/" + fl.href.lstrip("/")))
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
        return Check("repodata", title, FAIL, problems[0], problems)
    return Check("repodata", title, PASS,
                 f"{len(state.records)} repomd records and {len(pkgs)} RPMs "
                 f"({_fmt_size(total)}) match their sha256; primary is gzip")


def check_deps(ctx: _Ctx, state: _RepoState) -> Check:
    title = "xcp-ng-deps closure"
    if state.primary is None:
        return Check("deps", title, SKIP, "no readable repodata")
    from xcptui.engine.repo import solver

    try:
        rs = solver.RepoSolver.from_repodata(state.primary, state.filelists)
    except XcptuiError as e:
        return Check("deps", title, FAIL, str(e))
    if solver.INSTALLER_TARGET not in rs.names():
        return Check("deps", title, FAIL,
                     f"the repository has no {solver.INSTALLER_TARGET}: the installer would "
                     "install nothing")
    res = solver.check_installer(rs)
    if not res.ok:
        lines = [p.text for p in res.problems] or ["libsolv found no solution"]
        return Check("deps", title, FAIL, lines[0], lines)
    alt = " (and with kernel-alt)" if res.alt is not None else ""
    return Check("deps", title, PASS,
                 f"yum install {solver.INSTALLER_TARGET}{alt} resolves: "
                 f"{len(res.main.install)} packages")


def check_treeinfo(ctx: _Ctx, state: _RepoState) -> Check:
    title = ".treeinfo and signing"
    src = ctx.src
    has_repo = src.exists(REPOMD)
    if not src.exists(TREEINFO):
        if has_repo:
            return Check("treeinfo", title, FAIL,
                         f"{TREEINFO} is missing: the installer does not recognise the ISO as "
                         "its main repository")
        return Check("treeinfo", title, SKIP, "no .treeinfo and no repository (netinstall ISO)")
    from xcptui.engine.repo import treeinfo

    try:
        ti = treeinfo.TreeInfo.from_bytes(src.read(TREEINFO))
    except XcptuiError as e:
        return Check("treeinfo", title, FAIL, str(e))
    problems = list(ti.problems())
    keys = ti.keys
    for k in keys:
        if not src.exists("/" + k.lstrip("/")):
            problems.append(f".treeinfo [keys] lists {k}, which is not at the ISO root: the "
                            "installer fails on it")
    asc = src.exists(REPOMD_ASC)
    if keys and not asc and has_repo:
        problems.append(f".treeinfo lists a key but {REPOMD_ASC} is missing: installs fail "
                        "with 'No signature on repository metadata'")
    name, version = ti.product
    if problems:
        return Check("treeinfo", title, FAIL, problems[0], problems)
    if keys:
        state_txt = f"signed: [keys] {', '.join(keys)} present, repomd.xml.asc present"
    elif asc:
        state_txt = "unsigned ([keys] empty; the leftover repomd.xml.asc is ignored)"
    else:
        state_txt = "unsigned ([keys] empty: the installer checks no signatures)"
    return Check("treeinfo", title, PASS, f"{name or '?'} {version or '?'}; {state_txt}")


def _sig_creation_time(data: bytes) -> int | None:
    """Creation time of the first OpenPGP signature packet (v3 or v4 subpacket 2)."""
    from xcptui.engine.repo import signing

    try:
        raw = signing._dearmor(data, "repomd.xml.asc") if data.lstrip().startswith(b"-----") \
            else data
    except XcptuiError:
        return None
    if len(raw) < 3 or not raw[0] & 0x80:
        return None
    b = raw[0]
    if b & 0x40:
        l0 = raw[1]
        hdr = 2 if l0 < 192 else 3 if l0 < 224 else 6
    else:
        hdr = 1 + {0: 1, 1: 2, 2: 4}.get(b & 3, 0)
    body = raw[hdr:]
    if not body:
        return None
    if body[0] == 3 and len(body) >= 7:
        return int(struct.unpack_from(">I", body, 3)[0])
    if body[0] in (4, 5) and len(body) >= 6:
        hlen = struct.unpack_from(">H", body, 4)[0]
        sub = body[6:6 + hlen]
        i = 0
        while i < len(sub):
            ln = sub[i]
            if ln < 192:
                n, i = ln, i + 1
            elif ln < 255:
                n, i = ((ln - 192) << 8) + sub[i + 1] + 192, i + 2
            else:
                n, i = struct.unpack_from(">I", sub, i + 1)[0], i + 5
            if n and sub[i] & 0x7F == 2 and n >= 5:
                return int(struct.unpack_from(">I", sub, i + 1)[0])
            i += n
    return None


def check_signature(ctx: _Ctx, state: _RepoState) -> Check:
    title = "repomd.xml signature"
    src = ctx.src
    if not src.exists(REPOMD_ASC):
        return Check("signature", title, SKIP, "repomd.xml is not signed")
    if not src.exists(REPOMD):
        return Check("signature", title, FAIL, f"{REPOMD_ASC} exists but {REPOMD} does not")
    from xcptui.engine.repo import treeinfo

    keys: list[str] = []
    if src.exists(TREEINFO):
        try:
            keys = treeinfo.TreeInfo.from_bytes(src.read(TREEINFO)).keys
        except XcptuiError:
            keys = []
    if not keys:
        return Check("signature", title, SKIP,
                     ".treeinfo lists no key: the installer ignores repomd.xml.asc")
    keyfile = "/" + keys[0].lstrip("/")
    if not src.exists(keyfile):
        return Check("signature", title, FAIL, f"key file {keyfile} named in .treeinfo is "
                                               "missing")
    asc, repomd, key = src.read(REPOMD_ASC), src.read(REPOMD), src.read(keyfile)
    gpg = which("gpg")
    if gpg is not None:
        return _gpg_verify(ctx, gpg, asc, repomd, key, keyfile)
    # No gpg: the signature cannot be checked cryptographically. A signature made
    # before repomd.xml was (re)generated is certainly stale.
    created = _sig_creation_time(asc)
    stamps = [r.timestamp for r in state.records if r.timestamp] + (
        [int(state.revision)] if state.revision.isdigit() else [])
    if created is None or not stamps:
        return Check("signature", title, SKIP,
                     "gpg is not installed and the signature/repomd timestamps are unreadable "
                     "(install gnupg to check it)")
    newest = max(stamps)
    if created + 2 < newest:
        return Check("signature", title, FAIL,
                     f"{REPOMD_ASC} was made {newest - created} s before repomd.xml's newest "
                     "timestamp: it signs an older repomd.xml (stale signature)")
    return Check("signature", title, PASS,
                 "signature is not older than repomd.xml (weak check: gpg is not installed, "
                 "install gnupg to verify it cryptographically)")


def _gpg_verify(ctx: _Ctx, gpg: str, asc: bytes, repomd: bytes, key: bytes,
                keyfile: str) -> Check:
    title = "repomd.xml signature"
    home = Path(tempfile.mkdtemp(prefix="xcptui-gpg-"))
    try:
        os.chmod(home, 0o700)
        (home / "key").write_bytes(key)
        (home / "repomd.xml").write_bytes(repomd)
        (home / "repomd.xml.asc").write_bytes(asc)
        env = dict(os.environ, GNUPGHOME=str(home), LC_ALL="C")
        base = [gpg, "--batch", "--no-tty", "--no-autostart", "--homedir", str(home)]
        imp = subprocess.run([*base, "--import", str(home / "key")], env=env,
                             capture_output=True, stdin=subprocess.DEVNULL,
                             timeout=_GPG_TIMEOUT, check=False)
        if imp.returncode != 0:
            return Check("signature", title, FAIL,
                         f"{keyfile}: gpg cannot import it as a public key "
                         f"({_last_line(imp.stderr)})")
        ver = subprocess.run([*base, "--status-fd", "1", "--verify",
                              str(home / "repomd.xml.asc"), str(home / "repomd.xml")],
                             env=env, capture_output=True, stdin=subprocess.DEVNULL,
                             timeout=_GPG_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return Check("signature", title, SKIP, f"gpg did not answer in {_GPG_TIMEOUT} s")
    except OSError as e:
        return Check("signature", title, SKIP, f"gpg cannot run: {e.strerror or e}")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    status = ver.stdout.decode("utf-8", "replace")
    if ver.returncode == 0 and "[GNUPG:] GOODSIG" in status:
        who = re.search(r"\[GNUPG:\] GOODSIG \S+ (.*)", status)
        return Check("signature", title, PASS,
                     f"gpg: good signature by {who.group(1) if who else 'the key'} from "
                     f"{keyfile}")
    if "[GNUPG:] BADSIG" in status:
        return Check("signature", title, FAIL,
                     f"{REPOMD_ASC} does not match repomd.xml (stale signature: repodata was "
                     "regenerated after signing); installs fail with 'Repository signature "
                     "verification failure'")
    if "[GNUPG:] NO_PUBKEY" in status or "[GNUPG:] ERRSIG" in status:
        return Check("signature", title, FAIL,
                     f"{REPOMD_ASC} was not made by the key in {keyfile}")
    return Check("signature", title, FAIL,
                 f"gpg --verify failed: {_last_line(ver.stderr)}")


def _last_line(err: bytes) -> str:
    lines = [ln.strip() for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


# ---------------------------------------------------------------------------
# driver


def verify(iso_path: Path | str, progress: Progress | None = None,
           cancel: threading.Event | None = None) -> Report:
    """Run every check on ``iso_path``; InputError only when it is not an ISO at all."""
    progress = progress or Progress()
    t0 = time.monotonic()
    path = Path(iso_path)
    report = Report(str(path))
    with IsoSource.open(path) as src:
        work = Path(tempfile.mkdtemp(prefix="xcptui-verify-"))
        try:
            ctx = _Ctx(src, work, progress, cancel)
            state = _RepoState()
            steps: list[tuple[str, str, Callable[[], Check]]] = [
                ("eltorito-bios", "El Torito BIOS entry", lambda: check_eltorito_bios(ctx)),
                ("eltorito-uefi", "El Torito UEFI entry", lambda: check_eltorito_uefi(ctx)),
                ("hybrid-mbr", "Hybrid MBR (USB boot)", lambda: check_hybrid(ctx)),
                ("gpt", "GPT", lambda: check_gpt(ctx)),
                ("boot-configs", "Boot menus agree", lambda: check_boot_configs(ctx)),
                ("boot-files", "Files named by boot entries", lambda: check_boot_files(ctx)),
                ("install-img", "install.img", lambda: check_install_img(ctx)),
                ("repodata", "repodata matches Packages/", lambda: check_repodata(ctx, state)),
                ("deps", "xcp-ng-deps closure", lambda: check_deps(ctx, state)),
                ("treeinfo", ".treeinfo and signing", lambda: check_treeinfo(ctx, state)),
                ("signature", "repomd.xml signature", lambda: check_signature(ctx, state)),
            ]
            for cid, title, fn in steps:
                check(cancel)
                progress.step(f"verify: {title}")
                try:
                    c = fn()
                except Cancelled:
                    raise
                except XcptuiError as e:
                    c = Check(cid, title, FAIL, str(e))
                except Exception as e:  # a malformed structure must not crash verify
                    c = Check(cid, title, FAIL,
                              f"could not be checked: {type(e).__name__}: "
                              f"{' '.join(str(e).split())}")
                report.checks.append(c)
                progress.log(f"{c.status}: {c.title}: {c.evidence}")
                progress.finish_step()
        finally:
            shutil.rmtree(work, ignore_errors=True)
    report.seconds = time.monotonic() - t0
    return report
