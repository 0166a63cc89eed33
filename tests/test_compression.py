"""Codec detection, segment ends and the streaming encoders (checked with gzip/xz/zstd)."""

from __future__ import annotations

import gzip
import io
import lzma
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from xcptui.engine import units
from xcptui.engine.errors import InputError
from xcptui.engine.initrd import compression as c

DATA = os.urandom(200_000) + b"text line\n" * 300_000


@pytest.mark.parametrize(("head", "codec"), [
    (b"BZh91AY&SY", "bzip2"), (b"\x1f\x8b\x08\x00", "gzip"), (b"\xfd7zXZ\x00\x00", "xz"),
    (b"\x28\xb5\x2f\xfd\x00", "zstd"), (b"070701000", "cpio"), (b"\x5d\x00\x00\x80", "lzma"),
    (b"BZh0", None), (b"\x12\x34", None),
])
def test_detect(head: bytes, codec: str | None) -> None:
    assert c.detect(head) == codec


def test_hex_head_and_human() -> None:
    assert c.hex_head(b"\x12\x34\xab") == "12 34 ab"
    assert units.size(1_234_567) == "1.2 MiB" and units.size(999) == "999 B"


@pytest.mark.parametrize("codec", ["gzip", "xz", "zstd"])
def test_seq_decoder_finds_the_segment_end(codec: str) -> None:
    if codec == "gzip":
        seg = gzip.compress(DATA, 1)
    elif codec == "xz":
        seg = lzma.compress(DATA, check=lzma.CHECK_CRC32, preset=0)
    else:
        if not shutil.which("zstd"):
            pytest.skip("zstd not installed")
        seg = subprocess.run(["zstd", "-q", "-c", "--check"], input=DATA, check=True,
                             capture_output=True).stdout
    src = c.MemorySource(seg + b"\0" * 7 + b"TAIL")
    dec = c.SeqDecoder(codec, src, 0)
    assert b"".join(dec.chunks()) == DATA
    assert dec.end == len(seg)
    with pytest.raises(InputError, match="truncated"):
        b"".join(c.SeqDecoder(codec, c.MemorySource(seg[:len(seg) // 2]), 0).chunks())


@pytest.mark.parametrize("codec", ["gzip", "xz", "zstd", "cpio"])
def test_encoders_produce_standard_streams(codec: str, tmp_path: Path) -> None:
    if codec == "zstd" and not shutil.which("zstd"):
        pytest.skip("zstd not installed")
    out = io.BytesIO()
    enc = c.open_encoder(codec, out, 6)
    for i in range(0, len(DATA), 300_001):
        enc.write(DATA[i:i + 300_001])
    enc.close()
    blob = out.getvalue()
    p = tmp_path / "x"
    p.write_bytes(blob)
    if codec == "gzip":
        subprocess.run(["gzip", "-t", str(p)], check=True)
        assert gzip.decompress(blob) == DATA
    elif codec == "xz":
        subprocess.run(["xz", "-t", str(p)], check=True)
        assert lzma.decompress(blob) == DATA and blob[7] & 0x0F == 1  # CRC32
    elif codec == "zstd":
        assert subprocess.run(["zstd", "-dc", str(p)], check=True,
                              capture_output=True).stdout == DATA
        assert c.zstd_frame_end(c.MemorySource(blob), 0, "x") == len(blob)
    else:
        assert blob == DATA


def test_ordered_pool_keeps_order_and_bounds() -> None:
    import time

    def task(i: int) -> int:
        time.sleep(0.001 * (i % 3))
        return i

    def make(i: int) -> Callable[[], int]:
        return lambda: task(i)

    with c.OrderedPool[int](workers=2, window=3) as pool:
        got = list(pool.run(iter([make(i) for i in range(20)])))
    assert got == list(range(20))


def test_file_region_bounds(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"0123456789")
    r = c.FileRegion(p, 2, 5)
    assert r.pread(100, 0) == b"23456" and r.pread(2, 4) == b"6" and r.pread(1, 9) == b""
    r.close()
    with pytest.raises(InputError, match="outside"):
        c.FileRegion(p, 8, 5)
    with pytest.raises(InputError, match="is a directory"):
        c.FileRegion(tmp_path)
