"""install.img on the real XCP-ng layout: a CentOS 7 root (lib -> usr/lib, ...), both
kernels under usr/lib/modules, names without "./", GNU cpio hardlinks.

Every result that matters is read back with bsdtar or GNU cpio, never the engine.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.installimg_util import (
    ALT_KVER,
    MAIN_KVER,
    TarLine,
    bsdtar_list,
    bsdtar_read,
    demo_img,
    make_ko,
    put,
    uncompressed,
)
from xcptui.engine.initrd import bzip2blocks
from xcptui.engine.initrd import installimg as ii
from xcptui.engine.initrd.scan import ImageScan

KDIR = f"usr/lib/modules/{MAIN_KVER}"
ALT_KDIR = f"usr/lib/modules/{ALT_KVER}"
IGC = "kernel/drivers/net/ethernet/intel/igc/igc.ko"


@pytest.fixture()
def src(tmp_path: Path) -> Path:
    return put(tmp_path, demo_img(), "src.img")


def _apply(src: Path, edits: list[object], out: Path | None = None
           ) -> tuple[ii.ImagePlan, Path]:
    out = out or src.with_name("out.img")
    with ii.InstallImage.open(src, spool=ii.depmod_input, spool_dir=src.parent) as img:
        plan = ii.plan(img, edits)
        with open(out, "wb") as fp:
            ii.write(img, plan, fp)
    return plan, out


def _rows(img: Path) -> dict[str, TarLine]:
    return {r.name: r for r in bsdtar_list(img)}


def _gnu_cpio(img: Path) -> dict[str, list[str]]:
    """`cpio -itv` columns by name (GNU cpio reading the decompressed archive)."""
    out = subprocess.run(["cpio", "-itv", "--quiet", "-n"], input=uncompressed(img),
                         capture_output=True, check=True).stdout.decode().splitlines()
    return {ln.split()[8]: ln.split() for ln in out}


def _cpio_extract(img: Path, dest: Path, *names: str) -> Path:
    """GNU cpio extracting ``names`` (it joins a hardlink group when the data comes)."""
    dest.mkdir(parents=True)
    subprocess.run(["cpio", "-id", "--quiet", "--no-absolute-filenames", *names],
                   input=uncompressed(img), cwd=dest, capture_output=True, check=True)
    return dest


def _assert_el7_shape(img: Path) -> dict[str, TarLine]:
    rows = _rows(img)
    for link, target in (("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", "usr/lib64"),
                         ("sbin", "usr/sbin")):
        assert rows[link].mode.startswith("l") and rows[link].target == target, link
    assert not any(n.startswith("./") for n in rows)  # find . | cpio stores "bin", not "./bin"
    assert not any(n.startswith(("lib/", "bin/", "sbin/")) for n in rows)
    return rows


# -- the fixture itself ------------------------------------------------------


def test_demo_image_has_the_real_layout(src: Path) -> None:
    rows = _assert_el7_shape(src)
    assert rows["."].mode.startswith("d") and rows["init"].target == "/sbin/init"
    for k in (KDIR, ALT_KDIR):
        assert rows[f"{k}/modules.dep"].mode == "-rw-r--r--"
    assert "var/lib/rpm/Packages" in rows and "etc/depmod.d/dist.conf" in rows
    dep = bsdtar_read(src, f"{KDIR}/modules.dep").decode()
    assert "updates/ixgbe.ko: kernel/drivers/net/mdio.ko" in dep  # made by depmod
    assert f"{IGC}:" in bsdtar_read(src, f"{ALT_KDIR}/modules.dep").decode()


def test_demo_hardlinks_are_written_the_gnu_cpio_way(src: Path) -> None:
    """Earlier links are held back and written, without data, just before the last one."""
    names = [ln for ln in subprocess.run(["cpio", "-it", "--quiet"], input=uncompressed(src),
                                         capture_output=True, check=True
                                         ).stdout.decode().splitlines()]
    # mkfs sorts between mke2fs and mkfs.ext4, yet the group is emitted together
    assert names.index("usr/sbin/mkfs") + 1 == names.index("usr/sbin/mke2fs")
    assert names.index("usr/sbin/mke2fs") + 1 == names.index("usr/sbin/mkfs.ext4")
    gnu = _gnu_cpio(src)
    assert gnu["usr/sbin/mke2fs"][1] == "2" and gnu["usr/sbin/mke2fs"][4] == "0"
    assert int(gnu["usr/sbin/mkfs.ext4"][4]) > 0


def test_flat_layout_still_builds(tmp_path: Path) -> None:
    rows = _rows(put(tmp_path, demo_img(layout="flat")))
    assert rows["./lib"].mode.startswith("d") and f"./lib/modules/{MAIN_KVER}/modules.dep" in rows


# -- reading through the symlink -------------------------------------------------


def test_reading_through_lib_symlink(src: Path) -> None:
    with ii.InstallImage.open(src) as img:
        assert img.kernels() == [MAIN_KVER, ALT_KVER]
        assert img.kernel_dir(MAIN_KVER) == KDIR and img.kernel_dir(ALT_KVER) == ALT_KDIR
        assert img.get(f"lib/modules/{MAIN_KVER}/modules.dep") is None  # not an entry
        e = img.get(f"lib/modules/{MAIN_KVER}/modules.dep", follow=True)
        assert e is not None and e.path == f"{KDIR}/modules.dep"
        lib = img.get("lib")
        assert lib is not None and lib.is_symlink
        assert img.read(f"/lib/modules/{MAIN_KVER}/modules.dep") == \
            bsdtar_read(src, f"{KDIR}/modules.dep")
        assert [x.path for x in img.listdir("lib/modules")] == [KDIR, ALT_KDIR]
        walked = [x.path for x in img.walk(f"lib/modules/{ALT_KVER}", follow=True)]
        assert walked[0] == ALT_KDIR and f"{ALT_KDIR}/{IGC}" in walked
        assert list(img.walk(f"lib/modules/{ALT_KVER}")) == []  # literal: nothing there


def test_extract_through_lib_symlink(src: Path, tmp_path: Path) -> None:
    with ii.InstallImage.open(src) as img:
        ii.extract(img, f"lib/modules/{MAIN_KVER}", tmp_path / "x")
        got = tmp_path / "x" / MAIN_KVER / "modules.dep"
        assert got.read_bytes() == bsdtar_read(src, f"{KDIR}/modules.dep")
        assert (tmp_path / "x" / MAIN_KVER / "updates" / "ixgbe.ko").is_file()
        ii.extract(img, "lib", tmp_path / "y")  # the link itself, as a link
        assert (tmp_path / "y" / "lib").readlink() == Path("usr/lib")


# -- driver swap ---------------------------------------------------------------


def _assert_swapped(out: Path, kdir: str, other: str, ko: Path) -> None:
    rows = _assert_el7_shape(out)  # lib is still a symlink, nothing written as lib/...
    assert f"{kdir}/updates/igc.ko" in rows and f"{kdir}/{IGC}" not in rows
    assert f"{other}/{IGC}" in rows  # the other kernel keeps its own
    assert bsdtar_read(out, f"{kdir}/updates/igc.ko") == ko.read_bytes()
    dep = bsdtar_read(out, f"{kdir}/modules.dep").decode()
    assert "updates/igc.ko:" in dep.splitlines() and "intel/igc/igc.ko" not in dep
    alias = bsdtar_read(out, f"{kdir}/modules.alias").decode()
    assert "alias pci:v00008086d0000ABCDsv*sd*bc*sc*i* igc" in alias


def test_driver_swap_into_main_kernel_through_lib(src: Path, tmp_path: Path) -> None:
    ko = make_ko(tmp_path / "igc.ko", aliases=("pci:v00008086d0000ABCDsv*sd*bc*sc*i*",))
    plan, out = _apply(src, [ii.AddDriver(ko)])
    _assert_swapped(out, KDIR, ALT_KDIR, ko)
    assert bsdtar_read(out, f"{ALT_KDIR}/modules.dep") == bsdtar_read(src, f"{ALT_KDIR}/"
                                                                       "modules.dep")
    assert f"add {KDIR}/updates/igc.ko" in " ".join(plan.changes)
    gnu = _gnu_cpio(out)  # GNU cpio agrees: stored names carry no "./"
    assert f"{KDIR}/updates/igc.ko" in gnu and f"./{KDIR}/updates/igc.ko" not in gnu


def test_driver_swap_into_alt_kernel(src: Path, tmp_path: Path) -> None:
    ko = make_ko(tmp_path / "a" / "igc.ko", kver=ALT_KVER,
                 aliases=("pci:v00008086d0000ABCDsv*sd*bc*sc*i*",))
    plan, out = _apply(src, [ii.AddDriver(ko, kernel=ALT_KVER)])
    _assert_swapped(out, ALT_KDIR, KDIR, ko)
    assert plan.changes[0] == f"driver igc.ko -> kernel {ALT_KVER}"


def test_driver_dest_spelled_through_lib(src: Path, tmp_path: Path) -> None:
    ko = make_ko(tmp_path / "igc.ko")
    plan, out = _apply(src, [ii.AddDriver(ko, dest=f"/lib/modules/{MAIN_KVER}/extra/igc.ko")])
    rows = _assert_el7_shape(out)
    assert f"{KDIR}/extra/igc.ko" in rows and rows[f"{KDIR}/extra"].mode == "drwxr-xr-x"
    assert "extra/igc.ko:" in bsdtar_read(out, f"{KDIR}/modules.dep").decode().splitlines()
    assert plan.changes[0] == f"driver igc.ko -> kernel {MAIN_KVER}"


def test_driver_swap_decodes_the_image_once(src: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan spools what depmod reads; planning decodes nothing more."""
    scans: list[int] = []
    decodes: list[str] = []
    real_run, real_decode = ImageScan.run, bzip2blocks.decode_blocks

    def run(self: ImageScan, *a: object, **kw: object) -> None:
        scans.append(1)
        real_run(self, *a, **kw)  # type: ignore[arg-type]

    def decode(*a: object, **kw: object) -> object:
        decodes.append("decode")
        return real_decode(*a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(ImageScan, "run", run)
    monkeypatch.setattr(bzip2blocks, "decode_blocks", decode)
    ko = make_ko(tmp_path / "igc.ko")
    with ii.InstallImage.open(src, spool=ii.depmod_input, spool_dir=tmp_path) as img:
        assert len(scans) == 1 and len(decodes) == 1  # the one scan
        plan = ii.plan(img, [ii.AddDriver(ko)])
        assert len(decodes) == 1  # depmod staged from the spool, index compared from it
        with open(tmp_path / "o.img", "wb") as fp:
            ii.write(img, plan, fp)
    assert len(scans) == 1
    assert "updates/igc.ko:" in bsdtar_read(tmp_path / "o.img", f"{KDIR}/modules.dep").decode()


# -- other edits on the real layout ------------------------------------------------


def test_hardlink_group_data_stays_on_the_last_link(src: Path, tmp_path: Path) -> None:
    mke2fs = bsdtar_read(src, "usr/sbin/mkfs.ext4")
    _, out = _apply(src, [ii.AddDriver(make_ko(tmp_path / "igc.ko"))])
    gnu = _gnu_cpio(out)  # an unrelated edit: the group is copied as it was
    assert gnu["usr/sbin/mke2fs"][4] == "0" and gnu["usr/sbin/mkfs.ext4"][4] == str(len(mke2fs))
    x = _cpio_extract(out, tmp_path / "x", "usr/sbin/mke2fs", "usr/sbin/mkfs.ext4")
    assert (x / "usr/sbin/mke2fs").read_bytes() == mke2fs
    assert (x / "usr/sbin/mke2fs").stat().st_ino == (x / "usr/sbin/mkfs.ext4").stat().st_ino
    # removing the carrier (the last link) moves the data to the remaining member
    _, out2 = _apply(src, [ii.RemovePath("/sbin/mkfs.ext4")], tmp_path / "o2.img")
    gnu = _gnu_cpio(out2)
    assert "usr/sbin/mkfs.ext4" not in gnu
    assert gnu["usr/sbin/mke2fs"][1] == "1" and gnu["usr/sbin/mke2fs"][4] == str(len(mke2fs))
    assert bsdtar_read(out2, "usr/sbin/mke2fs") == mke2fs
    assert _rows(out2)["sbin"].target == "usr/sbin"


def test_new_entries_keep_the_image_name_style(src: Path, tmp_path: Path) -> None:
    _, out = _apply(src, [ii.AddFile("opt/new/tool", b"x"), ii.AddFile("/bin/extra", b"y")])
    rows = _assert_el7_shape(out)
    assert "opt/new/tool" in rows and "usr/bin/extra" in rows
    flat = put(tmp_path, demo_img(layout="flat"), "flat.img")
    _, out = _apply(flat, [ii.AddFile("opt/new/tool", b"x")], tmp_path / "flat-out.img")
    rows = _rows(out)
    assert "./opt/new/tool" in rows and "./opt/new" in rows


def test_rpm_payload_lands_in_the_real_directories(src: Path, tmp_path: Path) -> None:
    from xcptui.demoiso.rpms import RpmSpec, build_rpms

    a = make_ko(tmp_path / "ko" / "drva.ko", "drva").read_bytes()
    b = make_ko(tmp_path / "ko" / "drvb.ko", "drvb").read_bytes()
    spec = RpmSpec("vendor-drv", "1.0", "1", "x86_64", files={
        "/lib": (0o755, None),  # an EL7 payload's /lib must not replace lib -> usr/lib
        f"/lib/modules/{MAIN_KVER}/updates/drva.ko": (0o644, a),
        f"/usr/lib/modules/{MAIN_KVER}/updates/drvb.ko": (0o644, b),
        "/lib/firmware/drv.bin": (0o644, b"firmware\n")})
    rpm = build_rpms([spec], tmp_path / "rpms")[0]
    _, out = _apply(src, [ii.AddRpmPayload(rpm)])
    rows = _assert_el7_shape(out)
    assert f"{KDIR}/updates/drva.ko" in rows and f"{KDIR}/updates/drvb.ko" in rows
    assert bsdtar_read(out, "usr/lib/firmware/drv.bin") == b"firmware\n"
    dep = bsdtar_read(out, f"{KDIR}/modules.dep").decode().splitlines()
    assert "updates/drva.ko:" in dep and "updates/drvb.ko:" in dep


# -- the image's depmod.d against the host -----------------------------------------


def _marker_tree(tmp_path: Path) -> Path:
    host = tmp_path / "host-modules"
    make_ko(host / "marker.ko", "xcptuimarker")
    return host


def test_hostile_depmod_d_reads_no_host_directory(src: Path, tmp_path: Path) -> None:
    host = _marker_tree(tmp_path)
    evil = (f"search updates built-in\nexternal * {host}\nsearch /root ../../{host.name}\n"
            f"override igc {MAIN_KVER} {host}\nexternal {MAIN_KVER} \\\n  /etc\n").encode()
    # the control: the host's depmod really does read that directory with this config
    ctl = tmp_path / "ctl"
    make_ko(ctl / "lib" / "modules" / MAIN_KVER / "kernel" / "a.ko", "a")
    (ctl / "etc" / "depmod.d").mkdir(parents=True)
    (ctl / "etc" / "depmod.d" / "evil.conf").write_bytes(evil)
    subprocess.run(["depmod", "-b", str(ctl), "-C", str(ctl / "etc" / "depmod.d"), MAIN_KVER],
                   check=True, capture_output=True)
    assert "marker.ko" in (ctl / "lib" / "modules" / MAIN_KVER / "modules.dep").read_text()

    ko = make_ko(tmp_path / "igc.ko")
    plan, out = _apply(src, [ii.AddFile("etc/depmod.d/evil.conf", evil), ii.AddDriver(ko)])
    for kdir in (KDIR, ALT_KDIR):  # the conf changed: both indexes were rebuilt
        dep = bsdtar_read(out, f"{kdir}/modules.dep").decode()
        assert "marker" not in dep and str(host) not in dep
        assert "marker" not in bsdtar_read(out, f"{kdir}/modules.alias").decode()
    assert "updates/igc.ko:" in bsdtar_read(out, f"{KDIR}/modules.dep").decode().splitlines()
    dropped = [w for w in plan.warnings if "etc/depmod.d/evil.conf line" in w]
    assert [w.split(":")[1].strip() for w in dropped] == [
        "etc/depmod.d/evil.conf line 2", "etc/depmod.d/evil.conf line 3",
        "etc/depmod.d/evil.conf line 4", "etc/depmod.d/evil.conf line 5"]
    assert all("\n" not in w for w in dropped)
    assert bsdtar_read(out, "etc/depmod.d/evil.conf") == evil  # the image keeps its file


def test_sanitise_depmod_conf_keeps_the_safe_directives() -> None:
    from xcptui.engine.initrd.depmod_stage import sanitise_depmod_conf

    text = ("# comment with external * /etc\nsearch override\n"
            "search updates extra built-in weak-updates\noverride igc * updates\n"
            "exclude /x\nexternal 4.19.0+1 /lib/modules/4.19.0+1/extra\n")
    out, warns = sanitise_depmod_conf(text, "install.img: etc/depmod.d/a.conf")
    assert out.splitlines() == text.splitlines()[:5] + [""]
    assert warns == ["install.img: etc/depmod.d/a.conf line 6: 'external 4.19.0+1 "
                     "/lib/modules/4.19.0+1/extra' makes depmod scan directories of this "
                     "computer; left out of the depmod run"]


def test_hostile_depmod_d_shipped_in_the_image(src: Path, tmp_path: Path) -> None:
    """The same when the image itself carries the file (read from the scan's spool)."""
    host = _marker_tree(tmp_path)
    evil = f"external * {host}\n".encode()
    _, hostile = _apply(src, [ii.AddFile("etc/depmod.d/zz-evil.conf", evil)],
                        tmp_path / "hostile.img")
    assert bsdtar_read(hostile, "etc/depmod.d/zz-evil.conf") == evil
    plan, out = _apply(hostile, [ii.AddDriver(make_ko(tmp_path / "igc.ko"))],
                       tmp_path / "out2.img")
    dep = bsdtar_read(out, f"{KDIR}/modules.dep").decode()
    assert "marker" not in dep and "updates/igc.ko:" in dep.splitlines()
    assert any("etc/depmod.d/zz-evil.conf line 1: 'external * " in w for w in plan.warnings)
