"""Driver disks: written like XCP-ng's (checked with bsdtar + defusedxml, no createrepo_c
or dnf), read back, and merged into an ISO by a recipe (install.img + Packages/)."""

from __future__ import annotations

import gzip
import re
import subprocess
import sys
from pathlib import Path

import pytest
from defusedxml import ElementTree

from tests.helpers import iso_member
from tests.installimg_util import ALT_KVER, MAIN_KVER
from xcptui.demoiso.kmods import KoSpec, build_ko
from xcptui.engine.build.driverdisk import make_disk
from xcptui.engine.build.runner import build
from xcptui.engine.errors import InputError
from xcptui.engine.recipe import loads
from xcptui.engine.repo.driverdisk import read_disk

NS = "{http://linux.duke.edu/metadata/repo}"


def _ko(tmp: Path, kver: str = MAIN_KVER, abi: str | None = None, name: str = "igc") -> Path:
    spec = KoSpec(name, "unused", "5.4.0-k", aliases=["pci:v00008086d000015F3sv*sd*bc*sc*i*"])
    return build_ko(spec, kver, tmp / f"{kver}-{abi}" / f"{name}.ko", abi=abi)


def _names(iso: Path) -> list[str]:
    return subprocess.run(["bsdtar", "-tf", str(iso)], capture_output=True, check=True
                          ).stdout.decode().split()


def _member(iso: Path, name: str) -> bytes:
    return subprocess.run(["bsdtar", "-xOf", str(iso), name], capture_output=True,
                          check=True).stdout


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("disk")
    out = tmp / "igc-disk.iso"
    make_disk([_ko(tmp)], out)
    return out


def test_disk_is_laid_out_like_xcpngs(disk: Path) -> None:
    names = _names(disk)
    assert "update.xml" in names and "repodata/repomd.xml" in names
    rpms = sorted(n for n in names if n.startswith("Packages/") and n.endswith(".rpm"))
    rpm, upd_rpm = rpms
    assert rpm == "Packages/igc-module-5.4.0_k-1.x86_64.rpm"
    assert upd_rpm == "Packages/update-igc-module-1.0-1.noarch.rpm"
    upd = ElementTree.fromstring(_member(disk, "update.xml"))
    assert upd.tag == "update" and upd.get("name-label") == "igc-module"
    assert re.fullmatch(r"[0-9a-f-]{36}", upd.get("uuid") or "")
    repomd = ElementTree.fromstring(_member(disk, "repodata/repomd.xml"))
    hrefs = {d.get("type"): d.find(f"{NS}location").get("href")  # type: ignore[union-attr]
             for d in repomd.iter(f"{NS}data")}
    assert {"primary", "filelists", "other", "group", "group_gz"} <= set(hrefs)
    comps = ElementTree.fromstring(gzip.decompress(_member(disk, hrefs["group_gz"])))
    groups = {g.findtext("id"): [p.text for p in g.iter("packagereq")]
              for g in comps.iter("group")}
    # as xcp-ng/driver-disks + build-update: both groups name only update-<label>
    assert groups["drivers"] == groups["update"] == ["update-igc-module"]
    primary = ElementTree.fromstring(gzip.decompress(_member(disk, hrefs["primary"])))
    locs = [e.get("href") for e in primary.iter("{http://linux.duke.edu/metadata/common}"
                                                 "location")]
    assert sorted(locs) == rpms  # type: ignore[type-var]
    reqs = subprocess.run(["rpm", "-qpR", "/dev/stdin"], input=_member(disk, upd_rpm),
                          capture_output=True, check=True).stdout.decode().splitlines()
    assert "igc-module >= 5.4.0_k-1" in reqs
    assert subprocess.run(["rpm", "-qpl", "/dev/stdin"], input=_member(disk, upd_rpm),
                          capture_output=True, check=True).stdout.strip() == b"(contains no files)"
    files = _member(disk, rpm)
    listing = subprocess.run(["rpm", "-qpl", "/dev/stdin"], input=files, capture_output=True,
                             check=True).stdout.decode()
    assert f"/lib/modules/{MAIN_KVER}/updates/igc.ko" in listing


def test_read_disk_finds_the_drivers_group(disk: Path, tmp_path: Path) -> None:
    got = read_disk(disk, tmp_path)
    # the group names update-igc-module; its Requires bring the driver RPM
    assert got.label == "igc-module"
    assert [i.name for i in got.rpms] == ["update-igc-module", "igc-module"]
    assert all(i.path is not None and i.path.is_file() for i in got.rpms)
    with pytest.raises(InputError, match="nonexistent.iso: no such file"):
        read_disk(tmp_path / "nonexistent.iso", tmp_path)


def test_not_a_driver_disk(demo_iso: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"not a driver disk \(no /update.xml"):
        read_disk(demo_iso, tmp_path)


def test_recipe_merges_a_disk_into_install_img_and_packages(demo_iso: Path, disk: Path,
                                                            tmp_path: Path) -> None:
    r = loads(f'[[drivers.disk]]\nsource = "{disk}"\n', tmp_path)
    out = tmp_path / "out.iso"
    res = build(demo_iso, r, out, verify=True)
    text = "\n".join(res.changes)
    assert f"-> kernel {MAIN_KVER}" in text and "Packages: add igc-module" in text
    assert "Packages: add update-igc-module" in text
    assert re.search(r"xcp-ng-deps: rebuilt as .*\+ igc-module", text), text
    img = iso_member(out, "install.img")
    dep = subprocess.run(["bsdtar", "-xOf", "-", f"usr/lib/modules/{MAIN_KVER}/modules.dep"],
                         input=img, capture_output=True, check=True).stdout.decode()
    assert "updates/igc.ko:" in dep
    assert iso_member(out, "Packages/igc-module-5.4.0_k-1.x86_64.rpm")


def test_disk_kernels_and_wrong_abi(demo_iso: Path, disk: Path, tmp_path: Path) -> None:
    r = loads(f'[[drivers.disk]]\nsource = "{disk}"\nkernels = ["alt"]\n', tmp_path)
    with pytest.raises(InputError, match=re.escape(f"has no kernel module for kernel "
                                                   f"{ALT_KVER} (only for {MAIN_KVER})")):
        build(demo_iso, r, tmp_path / "o.iso", verify=False)
    bad = tmp_path / "bad.iso"
    make_disk([_ko(tmp_path, abi=ALT_KVER)], bad, label="igc-bad")
    r = loads(f'[[drivers.disk]]\nsource = "{bad}"\n', tmp_path)
    with pytest.raises(InputError, match="disagrees about version of symbol module_layout"):
        build(demo_iso, r, tmp_path / "o.iso", verify=False)
    assert not (tmp_path / "o.iso").exists()


def test_cli_driver_disk_from_ko_and_rpm(disk: Path, tmp_path: Path) -> None:
    subprocess.run(["bsdtar", "-xf", str(disk), "-C", str(tmp_path), "Packages"], check=True)
    rpm = next((tmp_path / "Packages").glob("*.rpm"))
    alt = _ko(tmp_path, ALT_KVER, name="igb")
    out = tmp_path / "both.iso"
    p = subprocess.run([sys.executable, "-m", "xcptui", "driver-disk", str(alt), str(rpm),
                        "-o", str(out), "--label", "intel-both"], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    got = read_disk(out, tmp_path)
    assert got.label == "intel-both"
    assert sorted(i.name for i in got.rpms) == ["igc-module", "intel-both",
                                                "update-intel-both"]
    p = subprocess.run([sys.executable, "-m", "xcptui", "driver-disk", str(tmp_path / "n.txt"),
                        "-o", str(tmp_path / "n.iso")], capture_output=True, text=True)
    assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "n.iso").exists()


def test_check_with_a_disk_sees_its_packages(demo_iso: Path, disk: Path,
                                             tmp_path: Path) -> None:
    from xcptui.engine.iso.read import IsoSource
    from xcptui.engine.repo import packages

    r = loads(f'[[drivers.disk]]\nsource = "{disk}"\n', tmp_path)
    with IsoSource.open(demo_iso) as src:
        rep = packages.check(src, r)
    assert rep.ok and any(n.startswith("igc-module-5.4.0_k-1") for n in rep.install), rep.lines()
    assert r.drivers.disk  # the user's recipe is not changed


def test_an_rpm_source_brings_its_firmware(demo_iso: Path, tmp_path: Path) -> None:
    from xcptui.demoiso.rpms import RpmSpec, build_rpms

    spec = KoSpec("fwnic", "unused", "2.0", aliases=["pci:v00008086d0000FFF1sv*sd*bc*sc*i*"],
                  firmware=["fwnic/fw-2.bin"])
    ko = build_ko(spec, MAIN_KVER, tmp_path / "fwnic.ko").read_bytes()
    rpm, = build_rpms([RpmSpec("fwnic-module", "2.0", "1", arch="x86_64", files={
        f"/lib/modules/{MAIN_KVER}/updates/fwnic.ko": (0o644, ko),
        "/lib/firmware/fwnic/fw-2.bin": (0o644, b"firmware blob")})], tmp_path / "rpms")
    r = loads(f'[[drivers.disk]]\nsource = "{rpm}"\n', tmp_path)
    res = build(demo_iso, r, tmp_path / "o.iso", verify=False)
    assert not [w for w in res.warnings if "firmware" in w], res.warnings
    img = iso_member(tmp_path / "o.iso", "install.img")
    fw = subprocess.run(["bsdtar", "-xOf", "-", "usr/lib/firmware/fwnic/fw-2.bin"], input=img,
                        capture_output=True, check=True).stdout
    assert fw == b"firmware blob"


def _iso_of(tmp: Path, files: dict[str, bytes]) -> Path:
    root = tmp / "root"
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    out = tmp / "hostile.iso"
    subprocess.run(["genisoimage", "-o", str(out), "-quiet", "-r", "-J", "-V", "D", str(root)],
                   check=True)
    return out


@pytest.mark.parametrize(("files", "needle"), [
    ({"update.xml": b"<update"}, "update.xml: not well-formed XML"),
    ({"update.xml": b"<!DOCTYPE x [<!ENTITY a 'b'>]><update>&a;</update>"},
     "update.xml: not well-formed XML"),
    ({"update.xml": b"<update name-label='x'/>"}, "without /repodata/repomd.xml"),
    ({"update.xml": b"<update name-label='x'/>", "repodata/repomd.xml":
      b"<repomd xmlns='http://linux.duke.edu/metadata/repo'><data type='group'><location "
      b"href='repodata/comps.xml'/></data></repomd>", "repodata/comps.xml":
      b"<comps><group><id>drivers</id><packagelist><packagereq>ghost</packagereq>"
      b"</packagelist></group></comps>", "Packages/a.rpm": b"not an rpm"},
     "not a valid"),
])
def test_hostile_disks_are_one_line_errors(tmp_path: Path, files: dict[str, bytes],
                                           needle: str) -> None:
    with pytest.raises(InputError) as ei:
        read_disk(_iso_of(tmp_path, files), tmp_path)
    assert needle in str(ei.value) and "\n" not in str(ei.value), str(ei.value)


def test_group_naming_a_missing_package(disk: Path, tmp_path: Path) -> None:
    rpm = _member(disk, "Packages/igc-module-5.4.0_k-1.x86_64.rpm")
    iso = _iso_of(tmp_path, {
        "update.xml": b"<update name-label='x'/>", "igc.rpm": rpm,  # the RPM at the root
        "repodata/repomd.xml": b"<repomd xmlns='http://linux.duke.edu/metadata/repo'><data "
        b"type='group'><location href='repodata/comps.xml'/></data></repomd>",
        "repodata/comps.xml": b"<comps><group><id>drivers</id><packagelist><packagereq>"
        b"igc-module</packagereq><packagereq>ghost</packagereq></packagelist></group></comps>"})
    with pytest.raises(InputError, match="'drivers' group lists ghost, which is not on"):
        read_disk(iso, tmp_path)


def test_closure_follows_requires_by_name_and_provides() -> None:
    from xcptui.engine.repo.driverdisk import _closure
    from xcptui.engine.rpm.evr import Dep
    from xcptui.engine.rpm.header import RpmInfo

    def rpm(name: str, requires: tuple[str, ...] = (), provides: tuple[str, ...] = ()
            ) -> RpmInfo:
        return RpmInfo(name, 0, "1", "1", "x86_64", 1, requires=[Dep(r) for r in requires],
                       provides=[Dep(p) for p in provides])

    upd = rpm("update-x", ("x-driver", "kernel"))
    drv = rpm("x-module", ("x-firmware",), provides=("x-driver",))
    fw = rpm("x-fw", provides=("x-firmware",))
    other = rpm("unrelated")
    got = _closure([upd], [upd, drv, fw, other])
    assert [i.name for i in got] == ["update-x", "x-module", "x-fw"]
