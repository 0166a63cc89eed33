"""Editing install.img: plan/write, attributes kept, drivers, RPM payloads, splicing.

Outputs are checked with bsdtar, GNU cpio, bzip2 -t / lbzip2 -t and Python's codecs.
"""

from __future__ import annotations

import bz2
import gzip
import re
import shutil
import subprocess
import tempfile
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
    demo_img,
    make_ko,
    put,
    uncompressed,
)
from xcptui.engine.errors import Cancelled, InputError
from xcptui.engine.events import Progress, ProgressEvent
from xcptui.engine.initrd import installimg as ii

KDIR = f"usr/lib/modules/{MAIN_KVER}"  # stored names: lib -> usr/lib, no "./"
ALT_KDIR = f"usr/lib/modules/{ALT_KVER}"


def _apply(src: Path, edits: list[object], out: Path | None = None,
           **kw: object) -> tuple[ii.ImagePlan, Path, ii.WriteStats]:
    out = out or src.with_name("out.img")
    with ii.InstallImage.open(src) as img:
        plan = ii.plan(img, edits)
        with open(out, "wb") as fp:
            stats = ii.write(img, plan, fp, **kw)  # type: ignore[arg-type]
    return plan, out, stats


def _rows(img: Path) -> dict[str, object]:
    return {r.name: r for r in bsdtar_list(img)}


def _bzip2_ok(path: Path) -> None:
    subprocess.run(["bzip2", "-t", str(path)], check=True, capture_output=True)
    if shutil.which("lbzip2"):
        subprocess.run(["lbzip2", "-t", str(path)], check=True, capture_output=True)


@pytest.fixture()
def src(tmp_path: Path) -> Path:
    return put(tmp_path, demo_img(), "src.img")


def test_empty_edit_list_means_no_rewrite(src: Path) -> None:
    with ii.InstallImage.open(src) as img:
        plan = ii.plan(img, [])
    assert plan.empty and plan.changes == [] and plan.new_usize == 0


def test_replace_keeps_owner_and_mode_000(src: Path) -> None:
    plan, out, _ = _apply(src, [ii.AddFile("etc/shadow", b"root:NEW:1::::::\n"),
                                ii.AddFile("/etc/passwd", b"root:x:0:0::/:/bin/sh\n",
                                           mode=0o600, uid=0, gid=5)])
    _bzip2_ok(out)
    rows = _rows(out)
    assert rows["etc/shadow"].mode == "----------"  # type: ignore[attr-defined]
    assert bsdtar_read(out, "etc/shadow") == b"root:NEW:1::::::\n"
    pw = rows["etc/passwd"]
    assert (pw.mode, pw.uid, pw.gid) == ("-rw-------", "0", "5")  # type: ignore[attr-defined]
    assert rows["dev/console"].size == "5,1"  # type: ignore[attr-defined]
    assert rows["dev/console"].mode == "crw-------"  # type: ignore[attr-defined]
    assert any(c.startswith("replace etc/shadow") for c in plan.changes)
    gnu = subprocess.run(["cpio", "-itv", "--quiet", "-n"], input=uncompressed(out),
                         capture_output=True, check=True).stdout.decode().splitlines()
    by_name = {ln.split()[-1]: ln.split() for ln in gnu if "->" not in ln}
    assert by_name["etc/shadow"][:4] == ["----------", "1", "0", "0"]
    assert by_name["dev/console"][:6] == ["crw-------", "1", "0", "0", "5,", "1"]
    # every untouched entry keeps its exact header bytes: same listing otherwise
    before = {r.name: r for r in bsdtar_list(src)}
    for name, r in before.items():
        if name not in ("etc/shadow", "etc/passwd"):
            assert rows[name] == r, name


def test_new_file_defaults_and_parent_dirs_in_order(src: Path, tmp_path: Path) -> None:
    host = tmp_path / "tool.sh"
    host.write_bytes(b"#!/bin/sh\necho hi\n")
    host.chmod(0o755)
    plan, out, _ = _apply(src, [ii.AddFile("opt/new/deep/tool.sh", host),
                                ii.AddFile("answerfile.xml", b"<a/>\n")])
    rows = _rows(out)
    assert rows["opt/new/deep/tool.sh"].mode == "-rwxr-xr-x"  # type: ignore[attr-defined]
    for d in ("opt/new", "opt/new/deep"):
        assert rows[d].mode == "drwxr-xr-x"  # type: ignore[attr-defined]
        assert (rows[d].uid, rows[d].gid) == ("0", "0")  # type: ignore[attr-defined]
    assert rows["answerfile.xml"].mode == "-rw-r--r--"  # type: ignore[attr-defined]
    names = cpio_names(uncompressed(out))
    assert names.index("opt") < names.index("opt/new") < names.index("opt/new/deep") \
        < names.index("opt/new/deep/tool.sh")
    assert bsdtar_read(out, "opt/new/deep/tool.sh") == host.read_bytes()
    assert "create directory opt/new (0755 root:root)" in plan.changes


def test_remove_file_and_subtree(src: Path) -> None:
    plan, out, _ = _apply(src, [ii.RemovePath("usr/share/doc"), ii.RemovePath("/EULA")])
    names = {r.name for r in bsdtar_list(out)}
    assert not any(n.startswith("usr/share/doc") for n in names)
    assert "EULA" not in names and "usr/share" in names and "usr/bin/python2" in names
    assert "remove usr/share/doc (4 entries)" in plan.changes
    with ii.InstallImage.open(src) as img, pytest.raises(InputError, match="no such file"):
        ii.plan(img, [ii.RemovePath("etc/nothing")])


def test_bad_edits_are_refused(src: Path) -> None:
    with ii.InstallImage.open(src) as img:
        with pytest.raises(InputError, match="cannot replace directory etc"):
            ii.plan(img, [ii.AddFile("etc", b"x")])
        with pytest.raises(InputError, match="not a file path"):
            ii.plan(img, [ii.AddFile("../escape", b"x")])
        with pytest.raises(InputError, match="is not a directory"):
            ii.plan(img, [ii.AddFile("etc/passwd/sub", b"x")])
        with pytest.raises(InputError, match="no such file"):
            ii.plan(img, [ii.AddFile("etc/x", Path("/nonexistent/file"))])


def test_hardlinks_survive_replace_and_remove(src: Path, tmp_path: Path) -> None:
    with ii.InstallImage.open(src) as img:
        py = img.read("usr/bin/python2")
    # removing the member that carries the data moves the data to the other one
    _, out, _ = _apply(src, [ii.RemovePath("usr/bin/python2.7")], tmp_path / "a.img")
    rows = _rows(out)
    assert rows["usr/bin/python2"].nlink == 1  # type: ignore[attr-defined]
    assert bsdtar_read(out, "usr/bin/python2") == py
    # replacing one member detaches it; the other keeps the old data
    _, out, _ = _apply(src, [ii.AddFile("usr/bin/python2", b"new python\n")],
                       tmp_path / "b.img")
    assert bsdtar_read(out, "usr/bin/python2") == b"new python\n"
    assert bsdtar_read(out, "usr/bin/python2.7") == py
    rows = _rows(out)
    assert rows["usr/bin/python2.7"].nlink == 1  # type: ignore[attr-defined]
    assert rows["usr/bin/python2"].mode == "-rwxr-xr-x"  # type: ignore[attr-defined]


def test_driver_swap(src: Path, tmp_path: Path) -> None:
    ko = make_ko(tmp_path / "igc.ko", aliases=("pci:v00008086d0000ABCDsv*sd*bc*sc*i*",))
    plan, out, _ = _apply(src, [ii.AddDriver(ko)])
    _bzip2_ok(out)
    names = {r.name for r in bsdtar_list(out)}
    assert f"{KDIR}/updates/igc.ko" in names
    assert f"{KDIR}/kernel/drivers/net/ethernet/intel/igc/igc.ko" not in names
    assert f"{ALT_KDIR}/kernel/drivers/net/ethernet/intel/igc/igc.ko" in names  # other kernel
    assert bsdtar_read(out, f"{KDIR}/updates/igc.ko") == ko.read_bytes()
    dep = bsdtar_read(out, f"{KDIR}/modules.dep").decode()
    assert "updates/igc.ko:" in dep and "intel/igc/igc.ko" not in dep
    alias = bsdtar_read(out, f"{KDIR}/modules.alias").decode()
    assert "alias pci:v00008086d0000ABCDsv*sd*bc*sc*i* igc" in alias
    assert bsdtar_read(out, f"{ALT_KDIR}/modules.dep") == bsdtar_read(src, f"{ALT_KDIR}/modules.dep")
    assert plan.changes[0] == f"driver igc.ko -> kernel {MAIN_KVER} (main; the image also " \
        f"has {ALT_KVER})"
    assert any(c.startswith("regenerate module index") and "modules.dep" in c
               for c in plan.changes)
    # the regenerated files keep their headers (owner, mode, mtime) but the size
    old, new = _rows(src), _rows(out)
    for n in ("modules.dep", "modules.alias"):
        o, w = old[f"{KDIR}/{n}"], new[f"{KDIR}/{n}"]
        assert (o.mode, o.uid, o.gid) == (w.mode, w.uid, w.gid)  # type: ignore[attr-defined]
    with ii.InstallImage.open(out) as img:  # the new index lists exactly one igc
        dep_lines = [ln for ln in img.read(f"{KDIR}/modules.dep").decode().splitlines()
                     if "igc" in ln]
        assert len(dep_lines) == 1


def test_driver_vermagic_force_and_kernel_choice(src: Path, tmp_path: Path) -> None:
    wrong = make_ko(tmp_path / "w" / "igc.ko", magic="5.10.0 SMP mod_unload ")
    with ii.InstallImage.open(src) as img:
        with pytest.raises(InputError) as ei:
            ii.plan(img, [ii.AddDriver(wrong)])
        assert str(ei.value) == (f"igc.ko: vermagic 5.10.0 SMP mod_unload does not match "
                                 f"kernel {MAIN_KVER} of install.img (set force = true to "
                                 "override)")
        forced = ii.plan(img, [ii.AddDriver(wrong, force=True)])
        assert any("added anyway" in w for w in forced.warnings)
        msg = f"kernel 9.9 is not in install.img (available: {MAIN_KVER}, {ALT_KVER})"
        with pytest.raises(InputError, match=re.escape(msg)):
            ii.plan(img, [ii.AddDriver(wrong, kernel="9.9")])
    alt = make_ko(tmp_path / "a" / "igc.ko", kver=ALT_KVER)
    plan, out, _ = _apply(src, [ii.AddDriver(alt, kernel=ALT_KVER)])
    names = {r.name for r in bsdtar_list(out)}
    assert f"{ALT_KDIR}/updates/igc.ko" in names
    assert f"{ALT_KDIR}/kernel/drivers/net/ethernet/intel/igc/igc.ko" not in names
    assert f"{KDIR}/kernel/drivers/net/ethernet/intel/igc/igc.ko" in names
    assert "updates/igc.ko" in bsdtar_read(out, f"{ALT_KDIR}/modules.dep").decode()
    assert plan.changes[0] == f"driver igc.ko -> kernel {ALT_KVER}"


def test_driver_not_a_module(src: Path, tmp_path: Path) -> None:
    txt = tmp_path / "igc.ko"
    txt.write_bytes(b"this is text\n")
    plain = tmp_path / "plain.ko"
    c = tmp_path / "plain.c"
    c.write_text("int f(void) { return 1; }\n")
    subprocess.run(["gcc", "-c", "-o", str(plain), str(c)], check=True)
    with ii.InstallImage.open(src) as img:
        with pytest.raises(InputError, match="^igc.ko: not an ELF kernel module$"):
            ii.plan(img, [ii.AddDriver(txt)])
        with pytest.raises(InputError, match="plain.ko: has no .modinfo section"):
            ii.plan(img, [ii.AddDriver(plain)])


def test_rpm_payload(src: Path, tmp_path: Path) -> None:
    from xcptui.demoiso.rpms import RpmSpec, build_rpms

    spec = RpmSpec("some-tool", "1.0", "1", "x86_64",
                   files={"/usr/bin/some-tool": (0o755, b"#!/bin/sh\necho tool\n"),
                          "/etc/some-tool": (0o750, None),
                          "/etc/some-tool/conf": (0o600, b"x=1\n")},
                   symlinks={"/usr/bin/st": "some-tool"})
    rpm = build_rpms([spec], tmp_path / "rpms")[0]
    plan, out, _ = _apply(src, [ii.AddRpmPayload(rpm)])
    rows = _rows(out)
    assert rows["usr/bin/some-tool"].mode == "-rwxr-xr-x"  # type: ignore[attr-defined]
    assert rows["etc/some-tool"].mode == "drwxr-x---"  # type: ignore[attr-defined]
    assert rows["etc/some-tool/conf"].mode == "-rw-------"  # type: ignore[attr-defined]
    assert rows["usr/bin/st"].target == "some-tool"  # type: ignore[attr-defined]
    assert bsdtar_read(out, "usr/bin/some-tool") == b"#!/bin/sh\necho tool\n"
    assert f"{rpm.name}: payload copied; scriptlets not run and the image's rpmdb not " \
        "updated" in plan.warnings
    bad = tmp_path / "bad.rpm"
    bad.write_bytes(b"not an rpm at all" * 10)
    trunc = tmp_path / "trunc.rpm"
    trunc.write_bytes(rpm.read_bytes()[:-200])
    with ii.InstallImage.open(src) as img:
        with pytest.raises(InputError, match="^bad.rpm: not a valid RPM"):
            ii.plan(img, [ii.AddRpmPayload(bad)])
        with pytest.raises(InputError, match="^trunc.rpm: "):
            ii.plan(img, [ii.AddRpmPayload(trunc)])


SPEC = """Name: owned
Version: 1
Release: 1
Summary: owners and hardlinks
License: GPLv2
BuildArch: noarch
%description
test
%install
mkdir -p %{buildroot}/opt/owned
echo data > %{buildroot}/opt/owned/a
ln %{buildroot}/opt/owned/a %{buildroot}/opt/owned/b
echo mine > %{buildroot}/opt/owned/c
%files
%attr(0644,root,root) /opt/owned/a
%attr(0644,root,root) /opt/owned/b
%attr(0640,daemon,tty) /opt/owned/c
"""


def test_rpm_owners_and_hardlinks(src: Path, tmp_path: Path) -> None:
    top = tmp_path / "rpmbuild"
    (top / "SPECS").mkdir(parents=True)
    spec = top / "SPECS" / "owned.spec"
    spec.write_text(SPEC)
    subprocess.run(["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {top}",
                    "--define", "_binary_payload w9.gzdio", "--define", "_build_id_links none",
                    str(spec)], check=True, capture_output=True)
    rpm = next((top / "RPMS").rglob("*.rpm"))
    plan, out, _ = _apply(src, [ii.AddRpmPayload(rpm)])
    rows = _rows(out)
    c = rows["opt/owned/c"]
    assert (c.uid, c.gid, c.mode) == ("0", "5", "-rw-r-----")  # type: ignore[attr-defined]
    assert any("user 'daemon' is not in the image's etc/passwd" in w for w in plan.warnings)
    a, b = rows["opt/owned/a"], rows["opt/owned/b"]
    assert (a.nlink, b.nlink) == (2, 2)  # type: ignore[attr-defined]
    x = tmp_path / "x"
    x.mkdir()
    subprocess.run(["bsdtar", "-xf", str(out), "-C", str(x), "opt/owned"], check=True)
    assert (x / "opt/owned/a").read_bytes() == (x / "opt/owned/b").read_bytes() == b"data\n"
    assert (x / "opt/owned/a").stat().st_ino == (x / "opt/owned/b").stat().st_ino
    with ii.InstallImage.open(out) as img:
        ea, eb = img.get("opt/owned/a"), img.get("opt/owned/b")
        assert ea is not None and eb is not None and ea.ino == eb.ino
        assert ea.stored_size == 0 and eb.stored_size == 5


def _level1_source(tmp_path: Path) -> Path:
    """Level 1 = 100 kB blocks: the demo archive spans ~20 blocks, enough to splice."""
    return put(tmp_path, compressed("bzip2", 1), "l1.img")


def test_splice_equals_full_reference_rewrite(tmp_path: Path) -> None:
    src = _level1_source(tmp_path)
    ko = make_ko(tmp_path / "igc.ko")
    edits: list[object] = [ii.AddDriver(ko), ii.AddFile("etc/motd", b"hello\n"),
                           ii.RemovePath("usr/share/doc/bash/README")]
    spliced, full = tmp_path / "spliced.img", tmp_path / "full.img"
    with ii.InstallImage.open(src) as img:
        plan = ii.plan(img, edits)  # one plan: new entries carry the planning time
        with open(spliced, "wb") as fp:
            st = ii.write(img, plan, fp)
        with open(full, "wb") as fp:
            st_full = ii.write(img, plan, fp, reuse_blocks=False)
    _bzip2_ok(spliced)
    assert spliced.read_bytes().count(b"BZh") >= 1 and spliced.read_bytes()[:4] == b"BZh1"
    assert bz2.decompress(spliced.read_bytes()) == bz2.decompress(full.read_bytes())
    assert st.blocks_reused >= 10 and st.blocks_written <= 6
    assert st_full.blocks_reused == 0
    assert st.bytes_compressed < st_full.bytes_compressed / 3
    assert ii.check_kernel_format(spliced) == []
    # a single bzip2 stream: decompressing the first stream gives everything
    d = bz2.BZ2Decompressor()
    d.decompress(spliced.read_bytes())
    assert d.eof and d.unused_data == b""


@pytest.mark.parametrize("codec", ["gzip", pytest.param("xz", marks=pytest.mark.slow),
                                   "zstd", "cpio"])
def test_other_codecs_rewrite_with_the_same_codec(tmp_path: Path, codec: str) -> None:
    data = compressed(codec)
    src = put(tmp_path, data, f"src.{codec}")
    _, out, _ = _apply(src, [ii.AddFile("etc/motd", b"hi\n")])
    head = out.read_bytes()[:6]
    assert head.startswith({"gzip": b"\x1f\x8b", "xz": b"\xfd7zXZ", "zstd": b"\x28\xb5\x2f\xfd",
                            "cpio": b"070701"}[codec])
    if codec == "xz":
        assert out.read_bytes()[7] & 0x0F == 1  # CRC32 check, as the kernel needs
    assert bsdtar_read(out, "etc/motd") == b"hi\n"
    assert bsdtar_read(out, "etc/shadow") == bsdtar_read(src, "etc/shadow")
    assert len(bsdtar_list(out)) == len(bsdtar_list(src)) + 1


def test_multi_segment_rewrite_touches_only_changed_segment(tmp_path: Path) -> None:
    from xcptui.demoiso.newc import S_IFDIR, S_IFREG, Node, write_newc

    overlay = gzip.compress(write_newc([Node("opt", S_IFDIR | 0o755),
                                        Node("opt/x", S_IFREG | 0o644, b"x\n")]))
    base = demo_img()
    src = put(tmp_path, base + overlay)
    plan, out, st = _apply(src, [ii.AddFile("opt/y", b"y\n")])
    assert st.segments_copied == 1 and st.segments_rewritten == 1
    assert out.read_bytes().startswith(base)  # the bzip2 segment is byte-identical
    with ii.InstallImage.open(out) as img:
        assert img.segments == 2 and img.read("opt/y") == b"y\n"
        assert img.get("opt/y") is not None and img.get("opt/y").segment == 1  # type: ignore[union-attr]
    assert ii.check_kernel_format(out) == []


def test_progress_cancel_leaves_nothing(src: Path, tmp_path: Path) -> None:
    ko = make_ko(tmp_path / "igc.ko")
    before_threads = threading.active_count()
    before_tmp = set(Path(tempfile.gettempdir()).glob("xcptui-depmod-*"))
    with ii.InstallImage.open(src) as img:
        cancel = threading.Event()
        plan = ii.plan(img, [ii.AddDriver(ko)], cancel=cancel)
        events: list[ProgressEvent] = []

        def cb(ev: ProgressEvent) -> None:
            events.append(ev)
            if ev.kind == "bytes" and ev.done > 0:
                cancel.set()

        with open(tmp_path / "o.img", "wb") as fp, pytest.raises(Cancelled):
            ii.write(img, plan, fp, progress=Progress(cb, min_interval=0), cancel=cancel)
        assert events[0].kind == "step" and events[0].total == plan.new_usize
        cancel.set()
        with pytest.raises(Cancelled):
            ii.plan(img, [ii.AddDriver(ko)], cancel=cancel)
    assert set(Path(tempfile.gettempdir()).glob("xcptui-depmod-*")) == before_tmp
    assert threading.active_count() == before_threads


def test_large_host_file_is_streamed(tmp_path: Path) -> None:
    """Files over the in-memory limit stay on the host until write (and must not change)."""
    src = _level1_source(tmp_path)
    big = tmp_path / "big.bin"
    big.write_bytes(b"0123456789abcdef" * (ii.SMALL_FILE // 16 + 1000))
    with ii.InstallImage.open(src) as img:
        plan = ii.plan(img, [ii.AddFile("opt/big.bin", big)])
        assert any(isinstance(p, ii.HostFile) for u in plan.units for p in u.pieces)
        with open(tmp_path / "o.img", "wb") as fp:
            ii.write(img, plan, fp)
        assert bsdtar_read(tmp_path / "o.img", "opt/big.bin") == big.read_bytes()
        big.write_bytes(b"changed")
        with open(tmp_path / "p.img", "wb") as fp, pytest.raises(InputError, match="changed"):
            ii.write(img, plan, fp)
