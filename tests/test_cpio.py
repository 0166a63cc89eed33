"""newc headers and the streaming scanner, checked against GNU cpio's own output."""

from __future__ import annotations

import subprocess

import pytest

from tests.installimg_util import demo_cpio
from xcptui.engine.initrd import cpio


def _scan(data: bytes, step: int) -> list[cpio.RawEntry]:
    out: list[cpio.RawEntry] = []
    sc = cpio.NewcScanner(out.append)
    for i in range(0, len(data), step):
        sc.feed(data[i:i + step])
    assert sc.state().between_entries
    return out


@pytest.mark.parametrize("step", [1, 7, 4096, 1 << 22])
def test_scanner_is_chunking_independent(step: int) -> None:
    raw = demo_cpio()[:300_000] if step == 1 else demo_cpio()
    if step == 1:  # keep the byte-by-byte run short: stop at an entry boundary
        ents = _scan(demo_cpio(), 1 << 22)
        cut = max(e.end for e in ents if e.end <= 300_000)
        raw = demo_cpio()[:cut]
    ents = _scan(raw, step)
    ref = _scan(raw, 1 << 22)
    assert [(e.offset, e.end, e.header.name) for e in ents] == \
        [(e.offset, e.end, e.header.name) for e in ref]


def test_scanner_names_match_gnu_cpio() -> None:
    ents = _scan(demo_cpio(), 65536)
    names = [e.header.name.decode() for e in ents if e.header.name != b"TRAILER!!!"]
    proc = subprocess.run(["cpio", "-it", "--quiet"], input=demo_cpio(), capture_output=True,
                          check=True)
    assert names == proc.stdout.decode().splitlines()
    links = {e.header.name: e.link_target for e in ents if e.link_target is not None}
    assert links[b"init"] == b"/sbin/init"  # GNU cpio of `find .`: no "./"


def test_header_roundtrip_and_entry_is_read_by_cpio() -> None:
    h = cpio.Header(5, 0o100640, 1, 2, 1, 1700000000, 3, 0, 0, 0, 0, b"./a/b")
    blob = cpio.encode_entry(h, b"abc") + cpio.trailer()
    assert len(blob) % 4 == 0
    out = subprocess.run(["cpio", "-itv", "--quiet", "-n"], input=blob, capture_output=True,
                         check=True).stdout.decode()
    assert out.split()[0] == "-rw-r-----" and out.split()[2:4] == ["1", "2"]
    ents = _scan(blob, 3)
    assert ents[0].header == h and ents[1].header.name == b"TRAILER!!!"


def test_bad_headers() -> None:
    with pytest.raises(cpio.CpioFormatError, match="bad cpio header") as ei:
        _scan(b"070701" + b"G" * 104 + b"\0\0", 50)
    assert ei.value.offset == 0
    with pytest.raises(cpio.CpioFormatError, match="odc"):
        _scan(b"070707" + b"0" * 200, 50)


def test_zeros_after_trailer_and_second_archive() -> None:
    a = cpio.encode_entry(cpio.Header(1, 0o100644, 0, 0, 1, 0, 1, 0, 0, 0, 0, b"x"), b"1")
    blob = a + cpio.trailer() + b"\0" * 512 + a + cpio.trailer()
    ents = _scan(blob, 100)
    assert [e.archive for e in ents] == [0, 0, 1, 1]
    sc = cpio.NewcScanner(lambda e: None)
    sc.feed(a + cpio.trailer() + b"\0\0\0\0JUNK")
    assert sc.junk_at is not None


def test_safe_relpath_and_image_path() -> None:
    assert cpio.safe_relpath("./a//b/./c") == "a/b/c"
    assert cpio.safe_relpath("..") is None and cpio.safe_relpath("/x") is None
    assert cpio.image_path("/etc/shadow") == "etc/shadow"
    assert cpio.image_path("/") == "" and cpio.image_path("/../x") is None
