"""Reading install.img: listing, reading, segments, codecs, errors; checked with bsdtar/cpio."""

from __future__ import annotations

import bz2
import gzip
import os
import threading
from pathlib import Path

import pytest

from tests.installimg_util import (
    ALT_KVER,
    MAIN_KVER,
    bsdtar_list,
    bsdtar_read,
    compressed,
    cpio_names,
    demo_cpio,
    demo_img,
    put,
)
from xcptui.demoiso.newc import S_IFDIR, S_IFREG, Node, write_newc
from xcptui.engine.errors import Cancelled, InputError
from xcptui.engine.events import Progress, ProgressEvent
from xcptui.engine.initrd import installimg as ii
from xcptui.engine.initrd.cpio import safe_relpath

TYPE_CHAR = {"dir": "d", "symlink": "l", "chardev": "c", "blockdev": "b", "fifo": "p",
             "socket": "s", "file": "-"}


def _mode_string(e: ii.Entry) -> str:
    s = TYPE_CHAR[e.type]
    for shift in (6, 3, 0):
        v = (e.mode >> shift) & 7
        s += ("r" if v & 4 else "-") + ("w" if v & 2 else "-") + ("x" if v & 1 else "-")
    if e.mode & 0o1000:
        s = s[:-1] + ("t" if e.mode & 1 else "T")
    return s


@pytest.fixture()
def img_path(tmp_path: Path) -> Path:
    return put(tmp_path, demo_img())


def test_listing_matches_bsdtar(img_path: Path) -> None:
    with ii.InstallImage.open(img_path) as img:
        ours = {e.name: e for e in img.all_headers() if not e.is_trailer}
        tar = bsdtar_list(img_path)
        assert len(tar) == len(ours)
        for t in tar:
            e = ours[t.name]
            assert _mode_string(e) == t.mode, t.name
            assert (e.nlink, str(e.uid), str(e.gid)) == (t.nlink, t.uid, t.gid), t.name
            if e.type in ("chardev", "blockdev"):
                assert f"{e.rdev[0]},{e.rdev[1]}" == t.size
            else:
                assert str(e.stored_size) == t.size, t.name
            assert e.link_target == t.target


def test_order_matches_gnu_cpio(img_path: Path) -> None:
    with ii.InstallImage.open(img_path) as img:
        names = [e.name for e in img.all_headers() if not e.is_trailer]
    assert names == cpio_names(demo_cpio())


def test_special_entries(img_path: Path) -> None:
    with ii.InstallImage.open(img_path) as img:
        assert img.compression == "bzip2" and img.segments == 1 and img.problems == []
        shadow = img.get("/etc/shadow")
        assert shadow is not None and shadow.mode == 0 and shadow.type == "file"
        assert img.get("./etc/shadow") == shadow == img.get("etc/shadow/")
        console = img.get("dev/console")
        assert console is not None and console.type == "chardev"
        assert console.rdev == (5, 1) and console.mode == 0o600
        init = img.get("init")
        assert init is not None and init.type == "symlink" and init.link_target == "/sbin/init"
        tmp = img.get("tmp")
        assert tmp is not None and tmp.mode == 0o1777
        assert img.kernels() == [MAIN_KVER, ALT_KVER]
        assert img.get("../etc/passwd") is None
        root = img.get("")
        assert root is not None and root.is_dir


def test_read_hardlink_member_without_data(img_path: Path) -> None:
    with ii.InstallImage.open(img_path) as img:
        first = img.get("usr/bin/python2")
        assert first is not None and first.stored_size == 0 and first.nlink == 2
        data = img.read("usr/bin/python2")
        assert data == bsdtar_read(img_path, "usr/bin/python2.7") and len(data) == first.size
        assert img.read("usr/bin/python2.7") == data
        assert img.read("usr/bin/python") == data  # symlink followed
        assert img.read("usr/bin/python2", limit=10) == data[:10]


def test_read_errors_and_listdir(img_path: Path) -> None:
    with ii.InstallImage.open(img_path) as img:
        with pytest.raises(InputError, match="no such file"):
            img.read("etc/nope")
        with pytest.raises(InputError, match="is a directory"):
            img.read("etc")
        assert img.read("dev/console") == b""
        names = [e.path for e in img.listdir("/etc")]
        assert "etc/shadow" in names and names == sorted(names)
        assert [e.path for e in img.listdir("etc/passwd")] == ["etc/passwd"]
        with pytest.raises(InputError):
            img.listdir("nope")
        assert img.read("lib/modules/4.19.0+1/modules.dep") == \
            bsdtar_read(img_path, "usr/lib/modules/4.19.0+1/modules.dep")  # lib -> usr/lib


def test_big_file_read_spanning_blocks(tmp_path: Path) -> None:
    """Level-1 bzip2 has 100 kB blocks: busybox spans many of them."""
    p = put(tmp_path, compressed("bzip2", 1))
    with ii.InstallImage.open(p) as img:
        assert len(img.segment_info[0].blocks) > 10
        assert img.read("bin/busybox") == bsdtar_read(p, "usr/bin/busybox")


@pytest.mark.parametrize("codec", ["gzip", "xz", "zstd", "cpio"])
def test_other_codecs_list_the_same(tmp_path: Path, codec: str) -> None:
    p = put(tmp_path, compressed(codec))
    with ii.InstallImage.open(p) as img, ii.InstallImage.open(put(tmp_path, demo_img(),
                                                                    "ref.img")) as ref:
        assert img.compression == codec
        assert [(e.name, e.mode, e.size) for e in img.entries()] == \
            [(e.name, e.mode, e.size) for e in ref.entries()]
        assert img.read("usr/bin/python2") == ref.read("usr/bin/python2.7")
        assert img.read("etc/shadow") == ref.read("etc/shadow")


def _overlay() -> bytes:
    nodes = [Node("etc", S_IFDIR | 0o755), Node("etc/passwd", S_IFREG | 0o644,
                                                  b"root:x:0:0:OVERLAY:/root:/bin/sh\n"),
             Node("etc/motd", S_IFREG | 0o600, b"hello\n", uid=5, gid=6)]
    return write_newc(nodes)


def test_multi_segment_merged_view(tmp_path: Path) -> None:
    """bzip2 base + zero padding + gzip overlay: later entries win, like the kernel."""
    data = demo_img() + b"\0" * 5 + gzip.compress(_overlay())
    p = put(tmp_path, data)
    with ii.InstallImage.open(p) as img:
        assert img.segments == 2 and [s.codec for s in img.segment_info] == ["bzip2", "gzip"]
        assert img.read("etc/passwd").startswith(b"root:x:0:0:OVERLAY")
        motd = img.get("etc/motd")
        assert motd is not None and (motd.uid, motd.gid, motd.mode, motd.segment) == \
            (5, 6, 0o600, 1)
        paths = [e.path for e in img.entries()]
        assert paths.count("etc/passwd") == 1 and "etc/shadow" in paths
        assert img.problems == []
    assert ii.check_kernel_format(p) == []


def test_segment_cut_inside_an_entry_is_a_kernel_problem(tmp_path: Path) -> None:
    raw = demo_cpio()
    at = raw.index(b"usr/bin/busybox\0")  # its header's name; the data follows
    cut = at + 1_000_001  # inside usr/bin/busybox: what pbzip2 does
    p = put(tmp_path, bz2.compress(raw[:cut], 1) + bz2.compress(raw[cut:], 1))
    with ii.InstallImage.open(p) as img:  # userspace semantics: still readable
        assert img.read("bin/busybox") == bsdtar_read(put(tmp_path, demo_img(), "r.img"),
                                                      "usr/bin/busybox")
    problems = ii.check_kernel_format(p)
    assert len(problems) == 1 and "ends inside entry 'usr/bin/busybox'" in problems[0]


def test_kernel_format_report_counts(img_path: Path) -> None:
    rep = ii.kernel_format_report(img_path)
    assert rep.ok and rep.mode000 == 4 and rep.devices == 2 and rep.hardlinks == 4
    assert rep.segments[0].startswith("bzip2 ")


@pytest.mark.parametrize(("blob", "message"), [
    (b"\x12\x34\x56\x78" * 10, "install.img: unknown compression (first bytes 12 34 56 78"),
    (b"", "install.img: empty file"),
    (b"070701" + b"Z" * 200, "install.img: bad cpio header (non-hex field) at offset 0"),
])
def test_bad_input_messages(tmp_path: Path, blob: bytes, message: str) -> None:
    with pytest.raises(InputError) as ei:
        ii.InstallImage.open(put(tmp_path, blob))
    assert str(ei.value).startswith(message)
    assert "\n" not in str(ei.value)


def test_truncated_and_corrupt_images(tmp_path: Path) -> None:
    data = demo_img()
    with pytest.raises(InputError, match=r"install.img: compressed data truncated after \d"):
        ii.InstallImage.open(put(tmp_path, data[:len(data) // 2]))
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    with pytest.raises(InputError, match="install.img: corrupt bzip2 data"):
        ii.InstallImage.open(put(tmp_path, bytes(flipped)))
    with pytest.raises(InputError, match="unexpected data after segment 1"):
        ii.InstallImage.open(put(tmp_path, data + b"JUNK"))
    with pytest.raises(InputError, match="gzip data truncated"):
        ii.InstallImage.open(put(tmp_path, compressed("gzip")[:50000]))
    with pytest.raises(InputError, match="truncated inside entry"):
        ii.InstallImage.open(put(tmp_path, demo_cpio()[:1_500_000]))


def _evil_image() -> bytes:
    nodes = [Node(".", S_IFDIR | 0o755), Node("./etc", S_IFDIR | 0o755),
             Node("./etc/ok", S_IFREG | 0o644, b"fine\n"),
             Node("../evil", S_IFREG | 0o644, b"escape\n"),
             Node("/abs", S_IFREG | 0o644, b"absolute\n")]
    return bz2.compress(write_newc(nodes))


def test_unsafe_names_are_flagged_and_never_extracted(tmp_path: Path) -> None:
    assert safe_relpath("./etc/shadow") == "etc/shadow"
    assert safe_relpath(".") == ""
    assert safe_relpath("../evil") is None and safe_relpath("a/../../b") is None
    assert safe_relpath("/etc/passwd") is None
    p = put(tmp_path, _evil_image())
    with ii.InstallImage.open(p) as img:
        flagged = {e.name for e in img.entries() if e.unsafe}
        assert flagged == {"../evil", "/abs"}
        assert img.get("evil") is None
        dest = tmp_path / "out"
        with pytest.raises(InputError, match="unsafe name"):
            ii.extract(img, "/", dest)
        assert not (tmp_path / "evil").exists()
        plan = ii.plan(img, [ii.AddFile("etc/new", b"x")])
        assert any("unsafe name" in w for w in plan.warnings)


def test_extract_subtree(tmp_path: Path, img_path: Path) -> None:
    with ii.InstallImage.open(img_path) as img:
        res = ii.extract(img, "etc", tmp_path / "x")
        shadow = tmp_path / "x" / "etc" / "shadow"
        assert shadow.read_bytes() == img.read("etc/shadow")
        assert (shadow.stat().st_mode & 0o777) == 0o600  # private, but readable by us
        assert (tmp_path / "x" / "etc" / "passwd").stat().st_mode & 0o777 == 0o644
        assert shadow in res
        res = ii.extract(img, "dev", tmp_path / "y")
        assert sorted(res.skipped) == ["/dev/console (chardev)", "/dev/null (chardev)"]
        res = ii.extract(img, "usr/bin", tmp_path / "z")
        assert os.readlink(tmp_path / "z" / "bin" / "python") == "python2"
        assert (tmp_path / "z" / "bin" / "python2").read_bytes() == img.read("usr/bin/python2")


def test_open_region_of_the_iso(demo_iso: Path) -> None:
    from xcptui.engine.iso.read import IsoSource

    with IsoSource.open(demo_iso) as src:
        off, size = src.extent("/install.img")
        data = src.read("/install.img")
    with ii.InstallImage.open(demo_iso, off, size) as img:
        assert img.region.size == size
        names = [e.name for e in img.all_headers()]
        assert img.read("etc/passwd").startswith(b"root:")
    tmp = demo_iso.parent / "region-check.img"
    tmp.write_bytes(data)
    try:
        with ii.InstallImage.open(tmp) as whole:
            assert [e.name for e in whole.all_headers()] == names
    finally:
        tmp.unlink()


def test_progress_and_cancel(img_path: Path) -> None:
    events: list[ProgressEvent] = []
    ii.InstallImage.open(img_path, progress=Progress(events.append, min_interval=0)).close()
    assert events[0].kind == "step" and events[0].total == img_path.stat().st_size
    assert any(e.kind == "bytes" for e in events)
    cancel = threading.Event()
    cancel.set()
    before = threading.active_count()
    with pytest.raises(Cancelled):
        ii.InstallImage.open(img_path, cancel=cancel)
    assert threading.active_count() == before
