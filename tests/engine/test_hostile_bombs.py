"""Compression bombs in install.img and RPM payloads: refused with one line, memory bounded."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from xcptui.engine import limits
from xcptui.engine.errors import InputError
from xcptui.engine.initrd import bzip2blocks as bzb
from xcptui.engine.initrd import cpio
from xcptui.engine.initrd.compression import FileRegion, MemorySource, SeqDecoder, zstd_frame_end

MiB = 1 << 20
ZEROS = bytes(MiB)


def zeros_bomb(codec: str, mib: int, path: Path) -> Path:
    """``mib`` MiB of zeros compressed to ``path``, streaming (never held whole)."""
    with open(path, "wb") as f:
        if codec == "bzip2":
            # One block of ~45 MiB of zeros, repeated: the stream's own writer joins the
            # copies, so a 1 GiB bomb costs a fraction of a second to make.
            _level, blocks, _crc = bzb.split_stream(bz2.compress(bytes(45 * MiB), 9))
            w = bzb.StreamWriter(f.write, 9)
            for _ in range(max(1, mib // 45)):
                for b in blocks:
                    w.add(b)
            w.close()
        elif codec == "zstd":
            p = subprocess.Popen(["zstd", "-q", "-c", "-1"], stdin=subprocess.PIPE, stdout=f)
            assert p.stdin is not None
            for _ in range(mib):
                p.stdin.write(ZEROS)
            p.stdin.close()
            assert p.wait() == 0
        else:
            c = (zlib.compressobj(9, zlib.DEFLATED, 31) if codec == "gzip" else
                 lzma.LZMACompressor(lzma.FORMAT_XZ, check=lzma.CHECK_CRC32, preset=0))
            for _ in range(mib):
                f.write(c.compress(ZEROS))
            f.write(c.flush())
    return path


def decode_all(codec: str, path: Path) -> int:
    region = FileRegion(path)
    try:
        if codec == "bzip2":
            scan = bzb.StreamScan(region, 0)
            return sum(len(d) for _, d in bzb.decode_blocks(region, scan.blocks(), scan.level))
        return sum(len(c) for c in SeqDecoder(codec, region, 0).chunks())
    finally:
        region.close()


@pytest.mark.parametrize("codec", ["gzip", "xz", "zstd", "bzip2"])
def test_ratio_bomb_is_refused(codec: str, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "RATIO_GRACE", 4 * MiB)  # a small bomb trips it quickly
    bomb = zeros_bomb(codec, 96 if codec == "bzip2" else 48, tmp_path / f"img.{codec}")
    with pytest.raises(InputError, match=r"^install.img: decompresses more than 1000 times "
                       r"its compressed size .*a compression bomb\?\)$"):
        decode_all(codec, bomb)


@pytest.mark.parametrize("codec", ["gzip", "xz"])
def test_total_cap_refuses_what_passes_the_ratio(codec: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # Random data does not compress: the ratio check never fires, only the total cap.
    raw = os.urandom(3 * MiB)
    comp = (gzip.compress(raw, 1) if codec == "gzip"
            else lzma.compress(raw, check=lzma.CHECK_CRC32, preset=0))
    p = tmp_path / "img"
    p.write_bytes(comp)
    assert decode_all(codec, p) == len(raw)
    monkeypatch.setattr(limits, "MAX_DECODED", 2 * MiB)
    with pytest.raises(InputError, match=r"^install.img: decompresses past 2 MiB "
                       r"\(a compression bomb\?\)$"):
        decode_all(codec, p)


def test_budget_counts_a_segment_once_across_passes() -> None:
    b = limits.DecodeBudget("x", limit=100)
    for _ in range(5):  # the same segment decoded in five passes
        b.add(("gzip", 0), 90, 90)
    assert b.total_out == 90
    with pytest.raises(InputError, match="past 100 bytes"):
        b.add(("gzip", 500), 20, 20)


def test_cpio_entry_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_CPIO_ENTRIES", 10)
    h = cpio.Header(1, 0o100644, 0, 0, 1, 0, 0, 0, 0, 0, 0, b"f")
    seen: list[cpio.RawEntry] = []
    sc = cpio.NewcScanner(seen.append)
    with pytest.raises(cpio.CpioFormatError, match="more than 10 cpio entries"):
        for _ in range(20):
            sc.feed(cpio.encode_entry(h, b""))
    assert len(seen) == 10


def test_cpio_absurd_name_size_is_a_bad_header() -> None:
    raw = bytearray(cpio.Header(1, 0o100644, 0, 0, 1, 0, 0, 0, 0, 0, 0, b"f").encode())
    raw[94:102] = b"7FFFFFFF"  # c_namesize
    with pytest.raises(cpio.CpioFormatError, match=r"bad cpio header \(name size") as ei:
        cpio.NewcScanner(lambda e: None).feed(bytes(raw))
    assert ei.value.offset == 0


_RSS_PROBE = r"""
import json, resource, sys, time
from pathlib import Path
from xcptui.engine.errors import InputError
from xcptui.engine.initrd import image
t = time.monotonic()
err = ""
try:
    image.InstallImage.open(Path(sys.argv[1])).close()
except InputError as e:
    err = str(e)
# VmHWM, not ru_maxrss: on Linux ru_maxrss carries over the RSS of the parent (pytest)
# through fork and exec, VmHWM belongs to this process's own address space.
hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")]
rss_kb = int(hwm[0].split()[1]) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"err": err, "rss_kb": rss_kb, "s": round(time.monotonic() - t, 2)}))
"""


@pytest.mark.parametrize("codec", ["bzip2", "xz", "zstd"])
def test_one_gib_bomb_in_install_img_bounded_memory(codec: str, tmp_path: Path) -> None:
    """The real caps, a 1 GiB bomb: refused with one line, peak RSS well under 300 MB."""
    bomb = zeros_bomb(codec, 1024, tmp_path / "install.img")
    p = subprocess.run([sys.executable, "-c", _RSS_PROBE, str(bomb)], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    print(f"{codec} 1 GiB bomb ({bomb.stat().st_size} bytes): {got}")
    assert "a compression bomb?" in got["err"] and got["err"].startswith("install.img: ")
    assert got["rss_kb"] < 300 * 1024


def test_segment_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_SEGMENTS", 2)
    member = gzip.compress(b"x")
    src = MemorySource(member * 3)
    for i in range(2):
        assert b"".join(SeqDecoder("gzip", src, i * len(member)).chunks()) == b"x"
    with pytest.raises(InputError, match="more than 2 compressed segments"):
        SeqDecoder("gzip", src, 2 * len(member))


def test_block_caps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_BZIP2_BLOCKS", 1)
    region = FileRegion(zeros_bomb("bzip2", 90, tmp_path / "b.img"))
    with pytest.raises(InputError, match="has more than 1 blocks"):
        list(bzb.StreamScan(region, 0).blocks())
    region.close()
    monkeypatch.setattr(limits, "MAX_ZSTD_BLOCKS", 1)
    comp = subprocess.run(["zstd", "-q", "-c", "-1"], input=os.urandom(MiB),
                          capture_output=True, check=True).stdout
    with pytest.raises(InputError, match="has more than 1 blocks"):
        zstd_frame_end(MemorySource(comp), 0, "install.img")


@pytest.mark.parametrize("codec", ["xz", "gzip"])
def test_every_chunk_is_bounded(codec: str, tmp_path: Path) -> None:
    """No decompress call returns more than MAX_OUT, however compressible the input."""
    from xcptui.engine.initrd.compression import MAX_OUT

    bomb = zeros_bomb(codec, 40, tmp_path / "z")
    region = FileRegion(bomb)
    sizes = [len(c) for c in SeqDecoder(codec, region, 0).chunks()]
    region.close()
    assert sum(sizes) == 40 * MiB and max(sizes) <= MAX_OUT
