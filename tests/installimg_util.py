"""Helpers for the install.img tests: demo images built once, independent readers.

Results are checked with tools that share no code with the engine: bsdtar
(libarchive), GNU cpio, bzip2/lbzip2 and Python's own bz2/gzip/lzma modules.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import lzma
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from xcptui.demoiso.builder import ALT_KVER, MAIN_KVER, DemoOptions, KoSpec, build_install_img
from xcptui.demoiso.builder import build_ko as _build_ko

__all__ = ["ALT_KVER", "MAIN_KVER", "TarLine", "bsdtar_list", "bsdtar_read", "compressed",
           "cpio_names", "demo_cpio", "demo_img", "make_ko", "put", "uncompressed"]


@functools.cache
def demo_img(compression: str = "bzip2", version: str = "8.3", alt: bool = True,
             layout: str = "el7") -> bytes:
    """A realistic compressed install.img (cached for the session).

    ``el7`` is the real media's layout (lib -> usr/lib, names without "./", GNU cpio
    hardlinks); ``flat`` the older fixture with real lib/, bin/ and "./" names.
    """
    work = Path(tempfile.mkdtemp(prefix="xcptui-test-img-"))
    try:
        return build_install_img(
            DemoOptions(compression=compression, version=version, with_alt_kernel=alt,
                        layout=layout), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@functools.cache
def demo_cpio() -> bytes:
    return bz2.decompress(demo_img())


def put(tmp: Path, data: bytes, name: str = "install.img") -> Path:
    p = tmp / name
    p.write_bytes(data)
    return p


def make_ko(out: Path, name: str = "igc", kver: str = MAIN_KVER, *, version: str = "9.9.9",
            magic: str | None = None, aliases: tuple[str, ...] = ()) -> Path:
    """A real ELF .ko for ``kver`` (gcc), like the demo image's modules."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(_ko_bytes(name, kver, version, magic, aliases))
    return out


@functools.cache
def _ko_bytes(name: str, kver: str, version: str, magic: str | None,
              aliases: tuple[str, ...]) -> bytes:
    spec = KoSpec(name, "unused", version,
                  aliases=list(aliases) or ["pci:v00008086d0000ABCDsv*sd*bc*sc*i*"])
    with tempfile.TemporaryDirectory() as td:
        return _build_ko(spec, kver, Path(td) / f"{name}.ko", magic=magic).read_bytes()


@dataclass
class TarLine:
    mode: str  # "-rw-r--r--"
    nlink: int
    uid: str
    gid: str
    size: str  # "37" or "5,1" for devices
    name: str  # as stored ("etc/shadow"; "./etc/shadow" in the flat layout)
    target: str | None  # symlink target
    hardlink_to: str | None


def bsdtar_list(img: Path) -> list[TarLine]:
    """``bsdtar -tvf`` parsed (numeric owners: newc has no names)."""
    out = _bsdtar(img, "-tvf", "-").decode()
    rows = []
    for line in out.splitlines():
        f = line.split(None, 8)
        name, target, hard = f[8], None, None
        if f[0].startswith("l") and " -> " in name:
            name, target = name.split(" -> ", 1)
        elif " link to " in name:
            name, hard = name.split(" link to ", 1)
        rows.append(TarLine(f[0], int(f[1]), f[2], f[3], f[4], name, target, hard))
    return rows


def bsdtar_read(img: Path, member: str) -> bytes:
    return _bsdtar(img, "-xOf", "-", member)


def _bsdtar(img: Path, *args: str) -> bytes:
    """bsdtar reading the archive decompressed by Python (one decompression per image)."""
    return subprocess.run(["bsdtar", *args], input=uncompressed(img), check=True,
                          capture_output=True).stdout


def uncompressed(img: Path) -> bytes:
    """Decompress a one-segment image with Python's codecs or the zstd tool."""
    st = img.stat()
    return _uncompressed(img, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _uncompressed(img: Path, mtime_ns: int, size: int) -> bytes:
    data = img.read_bytes()
    if data.startswith(b"BZh"):
        return bz2.decompress(data)
    if data.startswith(b"\x1f\x8b"):
        return gzip.decompress(data)
    if data.startswith(b"\xfd7zXZ"):
        return lzma.decompress(data)
    if data.startswith(b"\x28\xb5\x2f\xfd"):
        return subprocess.run(["zstd", "-dc"], input=data, check=True,
                              capture_output=True).stdout
    return data


def cpio_names(raw: bytes) -> list[str]:
    """Member names in archive order, by GNU cpio reading the uncompressed archive."""
    proc = subprocess.run(["cpio", "-it", "--quiet"], input=raw, capture_output=True,
                          check=True)
    return proc.stdout.decode().splitlines()


@functools.cache
def compressed(codec: str, level: int = 1) -> bytes:
    """The demo archive compressed with ``codec`` (fast settings: tests only read it)."""
    raw = demo_cpio()
    if codec == "bzip2":
        return bz2.compress(raw, level)
    if codec == "gzip":
        return gzip.compress(raw, 6)
    if codec == "xz":
        return lzma.compress(raw, check=lzma.CHECK_CRC32, preset=0)
    if codec == "zstd":
        return subprocess.run(["zstd", "-q", "-c"], input=raw, capture_output=True,
                              check=True).stdout
    return raw
