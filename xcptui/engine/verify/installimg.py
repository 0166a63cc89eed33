"""install.img: it decodes to the end, each segment ends on a cpio entry boundary, and
the files a non-root repack loses (mode-000 shadow files, device nodes) are there.

By default the check is incremental but sound (it reads the ISO, never a build plan):
an install.img byte-identical (sha256) to one in the index (``index_cache``) gets
that image's verdict; a spliced one has only the bzip2 blocks decoded that are not
bit for bit (sha256) blocks of an indexed image (``known_blocks``); anything else is
decoded in full by xcptui's scanner, which writes the index for next time. A failing
incremental verdict is confirmed by a full decode. ``verify --full`` decodes
everything with an independent decoder (lbzip2 when it is one stream) as before.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xcptui.engine.errors import Cancelled, XcptuiError
from xcptui.engine.events import check as check_cancel
from xcptui.engine.layout import INSTALL_IMG
from xcptui.engine.tools import which
from xcptui.engine.verify.registry import Ctx, check
from xcptui.engine.verify.report import Outcome, failed, passed


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
    from xcptui.engine.initrd import cpio

    exe = which("lbzip2")
    if exe is None or not _one_bzip2_stream(path, off, size, cancel):
        return None
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
            check_cancel(cancel)
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
    return _ImageScan("bzip2", 1, _latest_entries(raws, problems), problems, "lbzip2")


def _one_bzip2_stream(path: Path, off: int, size: int, cancel: threading.Event | None
                      ) -> bool:
    """The image is exactly one well-formed bzip2 stream (padding zeros aside)."""
    from xcptui.engine.initrd import bzip2blocks, compression

    region = compression.FileRegion(path, off, size, "install.img")
    try:
        if not bzip2blocks.is_stream_header(region.pread(4, 0)):
            return False
        scan = bzip2blocks.StreamScan(region, 0, "install.img")
        for _ in scan.blocks():
            check_cancel(cancel)
        tail = region.pread(size - scan.end, scan.end) if scan.end < size else b""
        # more segments follow: let the engine's scanner judge them
        return not tail.strip(b"\0")
    except XcptuiError:
        return False  # malformed: the engine's scanner gives the precise message
    finally:
        region.close()


def _latest_entries(raws: list[Any], problems: list[str]) -> list[Any]:
    """The last version of each path in the archive (as the kernel unpacks it)."""
    from xcptui.engine.initrd import cpio

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
    return list(latest.values())


@dataclass
class _RawView:
    path: str
    type: str
    mode: int


def _scan_image(ctx: Ctx, off: int, size: int) -> _ImageScan:
    full = ctx.full
    if not full:
        quick = _indexed_scan(ctx, off, size)
        if quick is not None:
            return quick
    fast = _scan_with_lbzip2(ctx.src.path, off, size, ctx.cancel) if full else None
    if fast is not None:
        return fast
    from xcptui.engine.initrd import image as installimg

    img = installimg.InstallImage.open(ctx.src.path, off, size, name="install.img",
                                       progress=ctx.progress, cancel=ctx.cancel,
                                       cache=not full)
    with img:
        # The scan applies the kernel's initramfs rules (init/initramfs.c) as it decodes:
        # img.problems is what check_kernel_format would report, without a second decode.
        return _ImageScan(img.compression, img.segments, img.entries(), list(img.problems),
                          "xcptui, full decode")


def _indexed_scan(ctx: Ctx, off: int, size: int) -> _ImageScan | None:
    """The verdict from the index: identical image, or spliced with known blocks."""
    from xcptui.engine.initrd import image as installimg
    from xcptui.engine.initrd import index_cache, index_codec
    from xcptui.engine.initrd.compression import FileRegion

    cache = index_cache.IndexCache.default()
    if cache is None:
        return None
    region = FileRegion(ctx.src.path, off, size, "install.img")
    try:
        sha = index_cache.extent_sha256(region, ctx.cancel)
        found = index_codec.load(cache, region, "install.img", ctx.cancel, sha256=sha)
        if found is not None:
            scan, summary = found
            how = (f"identical to the install.img of {summary.get('origin', '?')} decoded "
                   f"earlier (sha256 {sha[:16]})")
        else:
            inc = _spliced(cache, region, ctx)
            if inc is None:
                return None
            scan = inc.scan
            index_codec.save(cache, scan, ctx.src.path.name, ctx.cancel, sha256=sha)
            how = (f"spliced: {inc.decoded} of {inc.blocks} blocks decoded, {inc.reused} "
                   "reused blocks match the source's blocks bit for bit (sha256) and CRCs"
                   ) if inc.reused else "xcptui, full decode"
        img = installimg.InstallImage(scan)
        return _ImageScan(img.compression, img.segments, img.entries(), list(img.problems),
                          how)
    except XcptuiError:
        return None  # the full decode gives the precise verdict
    finally:
        region.close()


def _spliced(cache: Any, region: Any, ctx: Ctx) -> Any:
    from xcptui.engine.initrd import known_blocks

    known = known_blocks.KnownBlocks.from_cache(cache, region)
    if not known.lazy:
        return None
    inc = known_blocks.scan_or_none(region, "install.img", known, ctx.progress, ctx.cancel)
    if inc is None or inc.scan.problems:
        return None  # a failing verdict is confirmed by a full decode
    return inc


@check("install-img", "install.img", cheap=False)
def check_install_img(ctx: Ctx) -> Outcome:
    if not ctx.src.exists(INSTALL_IMG):
        return failed("no /install.img: not an installation ISO")
    off, size = ctx.src.extent(INSTALL_IMG)
    try:
        scan = _scan_image(ctx, off, size)
    except Cancelled:
        raise
    except XcptuiError as e:
        return failed(str(e))
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
        return failed(problems)
    segs, comp = scan.segments, scan.compression
    shown = ", ".join(mode000[:4]) + (", ..." if len(mode000) > 4 else "")
    dshown = ", ".join(devices[:3]) + (", ..." if len(devices) > 3 else "")
    return passed(f"{comp} ({_how(scan.decoder)}), {segs} segment"
                  f"{'s' if segs != 1 else ''} each ending on an entry "
                  f"boundary, {len(entries)} entries; {len(mode000)} mode-000 files ({shown}); "
                  f"{len(devices)} device nodes ({dshown})",
                  [f"mode 000: {p}" for p in mode000] + [f"device: {p}" for p in devices])


def _how(decoder: str) -> str:
    return f"decoded by {decoder}" if decoder in ("lbzip2", "xcptui, full decode") else decoder


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
