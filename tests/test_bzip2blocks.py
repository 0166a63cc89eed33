"""bzip2 block scanning, standalone decoding, splicing; checked with bz2, bzip2 and lbzip2."""

from __future__ import annotations

import bz2
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from xcptui.engine.errors import InputError
from xcptui.engine.initrd import bzip2blocks as bzb
from xcptui.engine.initrd.compression import MemorySource


def _bits(b: bytes) -> str:
    return "".join(f"{x:08b}" for x in b)


def _sample(n: int, seed: int = 0) -> bytes:
    """Half random, half repetitive text: several bzip2 blocks at level 1."""
    rnd = random.Random(seed)
    out = bytearray()
    while len(out) < n:
        out += rnd.randbytes(3000)
        out += b"line %d of text\n" % rnd.randint(0, 99) * 200
    return bytes(out[:n])


def _tool_ok(tool: str, data: bytes, tmp: Path) -> None:
    exe = shutil.which(tool)
    if exe is None:
        pytest.skip(f"{tool} not installed")
    p = tmp / "x.bz2"
    p.write_bytes(data)
    subprocess.run([exe, "-t", str(p)], check=True, capture_output=True)


def test_bitwriter_matches_naive_bit_strings() -> None:
    rnd = random.Random(7)
    for _ in range(500):
        out = bytearray()
        w = bzb.BitWriter(out.extend)
        ref = ""
        for _ in range(rnd.randint(1, 5)):
            buf = rnd.randbytes(rnd.randint(1, 80))
            off = rnd.randrange(len(buf) * 8)
            n = rnd.randint(0, len(buf) * 8 - off)
            if rnd.random() < 0.3:
                v = rnd.getrandbits(11)
                w.put_int(v, 11)
                ref += f"{v:011b}"
            w.put_bits(buf, off, n)
            ref += _bits(buf)[off:off + n]
        w.flush()
        ref += "0" * (-len(ref) % 8)
        assert _bits(bytes(out)) == ref
        assert w.bits == len(ref)


@pytest.mark.parametrize("shift", range(8))
def test_find_markers_at_every_bit_shift(shift: int) -> None:
    rnd = random.Random(shift)
    pre = rnd.randbytes(5000)
    value = (int.from_bytes(pre, "big") << (48 + 8 + shift)) | \
        (bzb.BLOCK_MAGIC << (8 + shift)) | rnd.getrandbits(8 + shift)
    buf = value.to_bytes((len(pre) * 8 + 56 + shift + 7) // 8, "big")
    found = list(bzb.find_markers(MemorySource(buf), 0, len(buf), bzb.BLOCK_MAGIC, chunk=1024))
    expect = len(buf) * 8 - (48 + 8 + shift)  # to_bytes put zero bits in front
    assert expect in found
    assert {f % 8 for f in [expect]} == {(8 - shift) % 8}
    assert bzb.bits_at(buf, expect, 48) == bzb.BLOCK_MAGIC


def test_scan_and_standalone_decode_equal_whole_stream() -> None:
    data = _sample(1_200_000)
    stream = bz2.compress(data, 1)
    scan = bzb.StreamScan(MemorySource(stream), 0)
    blocks = list(scan.blocks())
    assert len(blocks) >= 10
    assert scan.end == len(stream)
    parts = [d for _, d in bzb.decode_blocks(MemorySource(stream), iter(blocks), scan.level)]
    assert b"".join(parts) == data
    crc = 0
    for b in blocks:
        crc = bzb.rotl_xor(crc, b.crc)
    assert crc == scan.crc


def test_empty_stream_and_concatenated_streams() -> None:
    empty = bz2.compress(b"")
    scan = bzb.StreamScan(MemorySource(empty), 0)
    assert list(scan.blocks()) == [] and scan.end == len(empty)
    da, db = _sample(300_000, 1), _sample(300_000, 2)
    a, b = bz2.compress(da, 1), bz2.compress(db, 1)
    src = MemorySource(a + b"\0" * 8 + b)
    first = bzb.StreamScan(src, 0)
    got = [d for _, d in bzb.decode_blocks(src, first.blocks(), 1)]
    assert first.end == len(a) and len(got) >= 3 and b"".join(got) == da
    second = bzb.StreamScan(src, len(a) + 8)
    got = [d for _, d in bzb.decode_blocks(src, second.blocks(), 1)]
    assert second.end == len(a) + 8 + len(b) and b"".join(got) == db


def test_truncated_stream_is_a_clear_error() -> None:
    stream = bz2.compress(_sample(500_000), 1)
    with pytest.raises(InputError, match="truncated after"):
        list(bzb.StreamScan(MemorySource(stream[:-20]), 0).blocks())


def test_false_block_boundary_is_merged_back() -> None:
    """A spurious magic match inside a block splits it; decode merges it again."""
    data = _sample(400_000, 3)
    stream = bz2.compress(data, 1)
    src = MemorySource(stream)
    blocks = list(bzb.StreamScan(src, 0).blocks())
    b0 = blocks[0]
    mid = (b0.start + b0.end) // 2
    fake = [bzb.Block(b0.start, mid, b0.crc), bzb.Block(mid, b0.end, 0), *blocks[1:]]
    out = [d for _, d in bzb.decode_blocks(src, iter(fake), 1)]
    assert b"".join(out) == data


def test_splice_reused_and_fresh_blocks_into_one_valid_stream(tmp_path: Path) -> None:
    data = _sample(1_000_000, 4)
    stream = bz2.compress(data, 1)
    src = MemorySource(stream)
    blocks = list(bzb.StreamScan(src, 0).blocks())
    decoded = [d for _, d in bzb.decode_blocks(src, iter(blocks), 1)]
    out = bytearray()
    sw = bzb.StreamWriter(out.extend, 1)
    expect = bytearray()
    for i, b in enumerate(blocks):
        if i % 3 == 1:  # re-encode this one with a change
            new = decoded[i][:1000] + b"CHANGED" + decoded[i][1000:]
            for bb in bzb.compress_blocks(new, 1):
                sw.add(bb)
            expect += new
        else:
            sw.add(bzb.block_bits(src, b))
            expect += decoded[i]
    sw.close()
    assert bz2.decompress(bytes(out)) == bytes(expect)
    _tool_ok("bzip2", bytes(out), tmp_path)
    _tool_ok("lbzip2", bytes(out), tmp_path)


def test_compress_blocks_handles_multi_block_pieces() -> None:
    data = os.urandom(250_000)  # > 100 kB: several blocks at level 1
    bits = bzb.compress_blocks(data, 1)
    assert len(bits) >= 2
    out = bytearray()
    sw = bzb.StreamWriter(out.extend, 1)
    for b in bits:
        sw.add(b)
    sw.close()
    assert bz2.decompress(bytes(out)) == data
    assert bzb.compress_blocks(b"", 9) == []


def test_split_stream_rejects_non_bzip2() -> None:
    with pytest.raises(bzb.BlockError):
        bzb.split_stream(b"not bzip2 at all")
