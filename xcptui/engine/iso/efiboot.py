"""``boot/efiboot.img``: the FAT image behind the UEFI El Torito entry (and, on a
USB stick, the EFI system partition). It holds ``EFI/BOOT/BOOTX64.EFI`` and its
own copy of ``EFI/xenserver/grub.cfg``, which some firmwares boot instead of the
ISO-side one, so boot parameter edits must reach it too.

Read and rewritten with mtools, without root and without mounting. Writes
always go to a temporary copy; the source image is never modified.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from xcptui.engine.errors import BuildError, InputError
from xcptui.engine.layout import BUILD_MARKER_PREFIX as MARKER_PREFIX
from xcptui.engine.layout import EFIBOOT_GRUB as GRUB_CFG
from xcptui.engine.layout import EFIBOOT_IMG, EFIBOOT_LOADER
from xcptui.engine.tools import require

NAME = EFIBOOT_IMG.lstrip("/")  # for messages
LOADER = EFIBOOT_LOADER
SEARCH_LINE = "search --file --set /install.img"
_TIMEOUT = 60  # seconds; mtools on a 3 MB image takes milliseconds


def _env() -> dict[str, str]:
    # MTOOLS_SKIP_CHECK: the image has no partition table / odd geometry.
    # MTOOLSRC: a user's ~/.mtoolsrc must not change how the image is read.
    return dict(os.environ, MTOOLS_SKIP_CHECK="1", MTOOLSRC=os.devnull)


def _run(tool: str, why: str, args: list[str], name: str) -> subprocess.CompletedProcess[bytes]:
    exe = require(tool, why)
    try:
        return subprocess.run([exe, *args], env=_env(), capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise BuildError(f"{name}: {tool} did not finish in {_TIMEOUT} s") from None


def _mtools_error(proc: subprocess.CompletedProcess[bytes], name: str, what: str) -> InputError:
    err = " ".join(proc.stderr.decode("utf-8", "replace").split())
    if "non DOS media" in err or "could not read boot sector" in err or \
            "Cannot initialize" in err:
        return InputError(f"{name}: not a FAT image ({err or 'mtools cannot read it'})")
    return InputError(f"{name}: {what}: {err or f'mtools exit status {proc.returncode}'}")


def _inner(path: str) -> str:
    return "::/" + path.lstrip("/")


def _check_image(img: Path, name: str) -> None:
    if not Path(img).is_file():
        raise InputError(f"{name}: no such file ({img})")


def _listing(img: Path, name: str) -> tuple[list[str], list[str]]:
    """(files, directories) of the image as absolute paths, directories without '/'."""
    _check_image(img, name)
    proc = _run("mdir", "list efiboot.img", ["-/", "-b", "-a", "-i", str(img), "::/"], name)
    if proc.returncode != 0:
        raise _mtools_error(proc, name, "cannot list files")
    files, dirs = [], []
    for line in proc.stdout.decode("utf-8", "surrogateescape").splitlines():
        if line.startswith("::/"):
            if line.endswith("/"):
                dirs.append(line[2:-1])
            else:
                files.append(line[2:])
    return files, dirs


def list_files(img: Path, *, name: str = NAME) -> list[str]:
    """Every regular file in the image, as absolute paths ("/EFI/BOOT/BOOTX64.EFI")."""
    return _listing(img, name)[0]


def _norm(path: str) -> str:
    return "/" + path.strip("/")


def free_bytes(img: Path, *, name: str = NAME) -> int:
    """Free space in the FAT image, as mtools reports it."""
    _check_image(img, name)
    proc = _run("mdir", "read efiboot.img", ["-i", str(img), "::/"], name)
    if proc.returncode != 0:
        raise _mtools_error(proc, name, "cannot list files")
    m = re.search(rb"([\d ]+) bytes free", proc.stdout)
    if not m:
        raise InputError(f"{name}: mdir did not report the free space")
    return int(m.group(1).replace(b" ", b""))


def read_file(img: Path, path: str, *, name: str = NAME) -> bytes:
    """The content of ``path`` inside the image (FAT names are case-insensitive)."""
    files, dirs = _listing(img, name)
    want = _norm(path).lower()
    # Check first: mtype on a directory prints every file in it and succeeds.
    match = next((f for f in files if f.lower() == want), None)
    if match is None:
        if any(d.lower() == want for d in dirs) or want == "/":
            raise InputError(f"{name}: {path} is a directory, not a file")
        raise InputError(f"{name}: has no {path}")
    proc = _run("mtype", "read files inside efiboot.img", ["-i", str(img), _inner(match)], name)
    if proc.returncode != 0:
        raise _mtools_error(proc, name, f"cannot read {path}")
    return proc.stdout


class NoGrubCfg(InputError):
    """efiboot.img holds no grub.cfg: media made by create-install-image before mid-2023
    carry only EFI/BOOT/BOOTX64.EFI there, whose grub reads the ISO's grub.cfg."""


def find_grub_cfg(files: list[str], *, name: str = NAME) -> str:
    """The image's grub.cfg among ``files`` (``list_files``): EFI/xenserver/grub.cfg on
    XCP-ng media; otherwise the one grub.cfg there is (EFI/BOOT first, then under EFI/).

    InputError (one line, naming what the image holds) when there is none.
    """
    exact = next((f for f in files if f.lower() == GRUB_CFG.lower()), None)
    if exact is not None:
        return exact
    found = sorted(f for f in files if f.rsplit("/", 1)[-1].lower() == "grub.cfg")

    def rank(f: str) -> tuple[int, str]:
        low = f.lower()
        return (0 if low == "/efi/boot/grub.cfg" else 1 if low.startswith("/efi/") else 2, f)

    if not found:
        shown = ", ".join(files[:8]) + (f" (+{len(files) - 8} more)" if len(files) > 8 else "")
        raise NoGrubCfg(f"{name}: has no grub.cfg (expected {GRUB_CFG}; it holds "
                        f"{shown or 'no files'})")
    return min(found, key=rank)


def read_grub_cfg(img: Path, *, name: str = NAME) -> tuple[str, bytes]:
    """(path inside the image, content) of the image's grub.cfg (``find_grub_cfg``)."""
    path = find_grub_cfg(list_files(img, name=name), name=name)
    return path, read_file(img, path, name=name)


def read_grub_cfg_from_bytes(data: bytes, *, name: str = NAME) -> tuple[str, bytes]:
    """``read_grub_cfg`` for an image held in memory (as read from the ISO)."""
    with tempfile.TemporaryDirectory(prefix="xcptui-efiboot-") as td:
        img = Path(td) / "efiboot.img"
        img.write_bytes(data)
        return read_grub_cfg(img, name=name)


def read_file_from_bytes(data: bytes, path: str, *, name: str = NAME) -> bytes:
    """``read_file`` for an image held in memory (as read from the ISO)."""
    with tempfile.TemporaryDirectory(prefix="xcptui-efiboot-") as td:
        img = Path(td) / "efiboot.img"
        img.write_bytes(data)
        return read_file(img, path, name=name)


def ensure_search_line(text: str) -> str:
    """The efiboot copy of grub.cfg needs ``search --file --set /install.img``.

    Without it, firmwares that make the FAT image grub's root look for
    /boot/xen.gz inside the image and fail (create-iso.sh comment). A search for
    a build marker (``set_search_file``) counts as that line. It is
    inserted after ``set timeout=`` (as create-install-image's patch does), or
    at the top when there is no such line. Text that has it is returned as is.
    """
    lines = text.splitlines(keepends=True)
    for ln in lines:
        words = ln.split()
        if words[:1] == ["search"] and any(w == "/install.img" or w.startswith(MARKER_PREFIX)
                                           for w in words):
            return text
    nl = next((ln[len(ln.rstrip("\r\n")):] for ln in lines if ln.endswith(("\n", "\r"))), "\n")
    at = 0
    for i, ln in enumerate(lines):
        if re.match(r"\s*(set\s+)?timeout=", ln):
            at = i + 1
            break
    if at and not lines[at - 1].endswith(("\n", "\r")):
        lines[at - 1] += nl
    lines.insert(at, SEARCH_LINE + nl)
    return "".join(lines)


def replace_file(img_in: Path, path: str, data: bytes, img_out: Path, *,
                 name: str = NAME) -> None:
    """Write a copy of ``img_in`` to ``img_out`` with ``path`` replaced by ``data``.

    Every other file (BOOTX64.EFI...) is kept. ``img_in`` is never modified;
    ``img_out`` only appears once the new image is complete and checked.
    """
    img_in, img_out = Path(img_in), Path(img_out)
    _check_image(img_in, name)
    if img_out.resolve() == img_in.resolve():
        raise InputError(f"{name}: output image is the source image; refusing to edit in place")
    out_dir = img_out.resolve().parent
    if not out_dir.is_dir():
        raise InputError(f"{name}: output directory {out_dir} does not exist")
    before = list_files(img_in, name=name)
    existing = next((p for p in before if p.lower() == _norm(path).lower()), None)
    old_size = len(read_file(img_in, existing, name=name)) if existing else 0
    # FAT is case-insensitive, but mcopy renames to the spelling it is given.
    target = existing or _norm(path)
    try:
        _replace_in_copy(img_in, path, target, data, img_out, before, old_size, name)
    except OSError as e:
        raise BuildError(f"{name}: cannot write the new image in {out_dir}: "
                         f"{e.strerror or e}") from None


def _replace_in_copy(img_in: Path, path: str, target: str, data: bytes, img_out: Path,
                     before: list[str], old_size: int, name: str) -> None:
    out_dir = img_out.resolve().parent
    with tempfile.TemporaryDirectory(prefix=".xcptui-efiboot-", dir=out_dir) as td:
        work = Path(td) / "efiboot.img"
        shutil.copyfile(img_in, work)
        src = Path(td) / "new-file"
        src.write_bytes(data)
        _check_room(work, name, path, len(data), old_size)
        proc = _run("mcopy", "write grub.cfg into efiboot.img",
                    ["-o", "-i", str(work), str(src), _inner(target)], name)
        if proc.returncode != 0:
            err = proc.stderr.decode("utf-8", "replace")
            if "Disk full" in err:
                raise InputError(f"{name}: no room for the new {path} ({len(data)} bytes); "
                                 "shorten the boot parameters")
            if "Bad target" in err or "no match for target" in err:
                raise InputError(f"{name}: has no directory {path.rsplit('/', 1)[0] or '/'}")
            raise _mtools_error(proc, name, f"cannot write {path}")
        # Check the copy before it replaces anything: same files, new content.
        after = list_files(work, name=name)
        if sorted(after) != sorted({*before, target}):
            raise BuildError(f"{name}: file list changed unexpectedly while writing {path}")
        if read_file(work, target, name=name) != data:
            raise BuildError(f"{name}: {path} reads back different from what was written")
        os.replace(work, img_out)


def replace_file_bytes(img: bytes, path: str, data: bytes, *, name: str = NAME) -> bytes:
    """``replace_file`` for an image held in memory; returns the new image."""
    with tempfile.TemporaryDirectory(prefix="xcptui-efiboot-") as td:
        src, out = Path(td) / "in.img", Path(td) / "out.img"
        src.write_bytes(img)
        replace_file(src, path, data, out, name=name)
        return out.read_bytes()


def _cluster_size(img: Path) -> int:
    """Bytes per cluster from the FAT boot sector (BPB)."""
    with open(img, "rb") as f:
        bpb = f.read(16)
    if len(bpb) < 16:
        return 512
    per_sector = int.from_bytes(bpb[11:13], "little") or 512
    return per_sector * (bpb[13] or 1)


def _check_room(img: Path, name: str, path: str, new_size: int, old_size: int) -> None:
    cluster = _cluster_size(img)

    def clusters(n: int) -> int:
        return -(-n // cluster) * cluster

    free = free_bytes(img, name=name)
    if clusters(new_size) > free + clusters(old_size):
        raise InputError(f"{name}: no room for the new {path}: it needs {clusters(new_size)} "
                         f"bytes, the image has {free + clusters(old_size)} free; shorten the "
                         "boot parameters")


def replace_grub_cfg(img_in: Path, data: bytes, img_out: Path, *, name: str = NAME) -> str:
    """``replace_file`` on the image's grub.cfg wherever it lives; returns its path."""
    path = find_grub_cfg(list_files(img_in, name=name), name=name)
    replace_file(img_in, path, data, img_out, name=name)
    return path


def set_search_file(text: str, marker: str) -> str:
    """Point the ``search --file --set`` line(s) at ``marker`` (an ISO path) instead.

    ``search --file`` takes the first device holding that file, so with /install.img a
    second XCP-ng stick can win; a file only this ISO has cannot be hijacked. A text
    without a search line gets one (``ensure_search_line``) first.
    """
    text = ensure_search_line(text)
    out = []
    for ln in text.splitlines(keepends=True):
        body = ln.rstrip("\r\n")
        words = body.split()
        if words[:1] == ["search"] and ("--file" in words or "-f" in words) and \
                any(w.startswith("/") for w in words):
            indent = body[:len(body) - len(body.lstrip())]
            rest = [marker if w.startswith("/") else w for w in words]
            ln = indent + " ".join(rest) + ln[len(body):]
        out.append(ln)
    return "".join(out)


def search_files(text: str) -> list[str]:
    """The files ``search --file`` lines look for (grub's root device finders)."""
    out = []
    for ln in text.splitlines():
        words = ln.split()
        if words[:1] == ["search"] and ("--file" in words or "-f" in words):
            out += [w for w in words[1:] if w.startswith("/")]
    return out


def update_grub_cfg(img_in: Path, text: str, img_out: Path, *, name: str = NAME) -> str:
    """Write ``text`` as the image's EFI/xenserver/grub.cfg, keeping its search line.

    Returns the text actually written (with the search line inserted if needed).
    """
    final = ensure_search_line(text)
    replace_file(img_in, GRUB_CFG, final.encode("utf-8", "surrogateescape"), img_out, name=name)
    return final
