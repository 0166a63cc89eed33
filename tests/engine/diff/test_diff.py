"""`xcptui diff`: each section reports exactly the changes a build made, and nothing else."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.installimg_util import make_ko
from xcptui.engine import InstallImage, IsoSource, build_iso, diff_isos, recipe
from xcptui.engine.diff import packages as pkdiff
from xcptui.engine.diff.model import Change, DiffReport
from xcptui.engine.rpm.header import RpmInfo
from xcptui.engine.units import size

RECIPE = """
[iso]
build_number = "custom7"
volume_id = "XCP-ng 8.3 diff"

[[iso.files]]
source = "eula.txt"
dest = "/EULA"

[boot]
append = ["sshpassword=secret"]
timeout = 9

[[installer.drivers]]
source = "xcpdiff.ko"

[[installer.files]]
source = "hello"
dest = "/opt/hello"
mode = "0755"

[packages]
remove = ["htop"]

[deps]
drop = ["xapi-core"]

[signing]
mode = "unsigned"
"""


@pytest.fixture(scope="module")
def pair(demo_iso: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("diff")
    make_ko(d / "xcpdiff.ko", name="xcpdiff")
    (d / "hello").write_text("hello\n")
    with IsoSource.open(demo_iso) as src:
        eula = src.read("/EULA")
    # same size, other bytes: must be found by content, not by extent offset and size
    (d / "eula.txt").write_bytes(bytes(reversed(eula)))
    out = d / "b.iso"
    build_iso(demo_iso, recipe.loads(RECIPE, d), out, verify=False)
    return demo_iso, out


@pytest.fixture(scope="module")
def report(pair: tuple[Path, Path]) -> DiffReport:
    return diff_isos(*pair)


def test_identical_isos_report_nothing(demo_iso: Path) -> None:
    rep = diff_isos(demo_iso, demo_iso)
    assert rep.identical
    assert rep.files == [] and rep.boot == [] and rep.treeinfo == [] and rep.volume_id is None
    assert rep.image.identical and rep.packages.same
    assert rep.lines()[-1] == "identical"
    assert rep.to_json()["identical"] is True


def test_files_section(report: DiffReport) -> None:
    by = {f.path: f for f in report.files}
    assert by["/EULA"].change is Change.CHANGED and by["/EULA"].details == ["content"]
    sha = by["/EULA"].sha256
    assert sha is not None and sha[0] != sha[1] and by["/.treeinfo"].sha256 is None
    for p in ("/.treeinfo", "/boot/isolinux/isolinux.cfg", "/EFI/xenserver/grub.cfg"):
        assert by[p].details == ["size"], p
    assert by["/repodata/repomd.xml.asc"].change is Change.REMOVED
    assert not any(p.endswith(".rpm") for p in by)  # RPMs are the packages section's
    assert set(by) - {"/EULA", "/.treeinfo", "/boot/isolinux/isolinux.cfg",
                      "/EFI/xenserver/grub.cfg", "/boot/efiboot.img", "/install.img"} \
        == {p for p in by if p.startswith("/repodata/")}
    assert [f.path for f in report.files] == sorted(by)


def test_install_img_section(report: DiffReport, pair: tuple[Path, Path]) -> None:
    img = report.image
    assert not img.identical
    with IsoSource.open(pair[0]) as src:
        off, size = src.extent("/install.img")
        with InstallImage.open(src.path, off, size) as ii:
            kver = ii.kernels()[0]
            tree = ii.kernel_dir(kver)
    assert set(img.groups) == {kver, "other"}
    other = img.groups["other"]
    assert [(c.path, c.change) for c in other] == [("opt/hello", Change.ADDED)]
    assert other[0].details == ["6 B"]
    ktree = img.groups[kver]
    assert tree.startswith("usr/lib/modules/")  # the real layout: lib -> usr/lib
    # paths inside the tree, whichever spelling the image uses
    assert [c.path for c in ktree if c.change is Change.ADDED] == ["updates/xcpdiff.ko"]
    assert not [c for c in ktree if c.change is Change.REMOVED]
    changed = [c for c in ktree if c.change is Change.CHANGED]
    assert {c.path for c in changed} == {"modules.alias", "modules.alias.bin", "modules.dep",
                                         "modules.dep.bin"}
    assert all(c.details[0].startswith("content") for c in changed)
    assert f"  kernel tree lib/modules/{kver}: 1 added, 4 changed" in report.lines()


def test_packages_section(report: DiffReport) -> None:
    p = report.packages
    assert p.removed == ["htop-2.2.0-3.el7.x86_64"]
    assert p.added == [] and p.downgraded == [] and p.rebuilt == []
    assert [(u.name, u.old) for u in p.upgraded] == [("xcp-ng-deps", "8.3-14")]
    assert p.deps_removed == ["xapi-core"] and p.deps_added == []


def test_boot_section(report: DiffReport, demo_iso: Path) -> None:
    names = [c.name for c in report.boot]
    assert names == ["isolinux.cfg", "grub.cfg", "efiboot.img grub.cfg"]
    for c in report.boot:
        assert c.timeout is not None and c.timeout[1] == 9
        assert c.default is None and c.entries_added == [] and c.entries_removed == []
        assert c.entries, c.name
        for e in c.entries:
            assert e.dom0_added == ["sshpassword=secret"], (c.name, e.label)
            assert e.dom0_removed == e.xen_added == e.xen_removed == e.other == []
        assert "install" in [e.label for e in c.entries]


def test_treeinfo_section(report: DiffReport) -> None:
    got = {k.key: (k.old, k.new) for k in report.treeinfo}
    # unsigned: the installer must not look for the key any more
    assert got == {"build.number": ("cloud", "custom7"), "keys.key1": ("RPM-GPG-KEY-xcpng", None)}


def test_volume_id(report: DiffReport) -> None:
    assert report.volume_id == ("XCP-ng 8.3.0", "XCP-ng 8.3 diff")


def test_lines_and_json(report: DiffReport) -> None:
    lines = report.lines()
    assert "volume id: 'XCP-ng 8.3.0' -> 'XCP-ng 8.3 diff'" in lines
    assert lines[-1] == "the ISOs differ"
    assert "  - htop-2.2.0-3.el7.x86_64" in lines
    assert "  ~ build.number: cloud -> custom7" in lines
    assert "    ~ install: dom0 +sshpassword=secret" in lines
    assert "    timeout: 5 -> 9" in lines
    data = json.loads(json.dumps(report.to_json()))
    assert data["identical"] is False
    assert data["packages"]["removed"] == ["htop-2.2.0-3.el7.x86_64"]
    assert data["packages"]["xcp_ng_deps"]["removed"] == ["xapi-core"]
    assert report.lines() == lines  # stable


def test_only_boot_change_keeps_install_img_identical(demo_iso: Path, tmp_path: Path) -> None:
    out = tmp_path / "b.iso"
    build_iso(demo_iso, recipe.loads('[boot]\nappend = ["nomodeset"]\n', tmp_path), out,
              verify=False)
    rep = diff_isos(demo_iso, out)
    assert rep.image.identical and rep.image.groups == {}
    assert rep.packages.same and rep.treeinfo == []
    assert "install.img: byte-identical" in rep.lines()
    assert {f.path for f in rep.files} == {"/boot/isolinux/isolinux.cfg",
                                           "/EFI/xenserver/grub.cfg", "/boot/efiboot.img"}


def _rpm(name: str, version: str, release: str = "1", epoch: int = 0) -> RpmInfo:
    return RpmInfo(name, epoch, version, release, "x86_64", 100)


def test_package_pairing_by_evr(monkeypatch: pytest.MonkeyPatch) -> None:
    a = [_rpm("a", "1.0"), _rpm("b", "2.0"), _rpm("k", "1"), _rpm("k", "2"), _rpm("gone", "1")]
    b = [_rpm("a", "1.1"), _rpm("b", "10"), _rpm("k", "3"), _rpm("k", "4"), _rpm("new", "1")]
    # rpm order: 10 > 2.0 (not as strings); the epoch wins: 1:1 -> 0:1 is a downgrade
    a.append(_rpm("c", "1", epoch=1))
    b.append(_rpm("c", "1"))
    sides = iter([{p.nevra: p for p in a}, {p.nevra: p for p in b}])
    monkeypatch.setattr(pkdiff, "_packages", lambda *_a: next(sides))
    d = pkdiff.compare(None, None)  # type: ignore[arg-type]
    assert [(u.name, u.old, u.new) for u in d.upgraded] == [("a", "1.0-1", "1.1-1"),
                                                           ("b", "2.0-1", "10-1")]
    assert [(u.name, u.old, u.new) for u in d.downgraded] == [("c", "1:1-1", "1-1")]
    # two versions of k on each side: not guessed as upgrades
    assert d.removed == ["gone-1-1.x86_64", "k-1-1.x86_64", "k-2-1.x86_64"]
    assert d.added == ["k-3-1.x86_64", "k-4-1.x86_64", "new-1-1.x86_64"]


def _cli(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "xcptui", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_cli_exit_codes_and_json(pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = pair
    same = _cli("diff", a, a)
    assert same.returncode == 0 and same.stdout.splitlines()[-1] == "identical"
    p = _cli("diff", a, b, "--json")
    assert p.returncode == 1, p.stderr
    assert json.loads(p.stdout)["treeinfo"][0]["key"] == "build.number"
    p = _cli("diff", a, b)
    assert p.returncode == 1 and "  - htop-2.2.0-3.el7.x86_64" in p.stdout
    bad = _cli("diff", a, tmp_path / "nope.iso")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "nope.iso: no such file" in bad.stderr


def test_kernel_trees_pair_across_layouts(demo_iso: Path, iso_factory: Callable[..., Path]) -> None:
    """usr/lib/modules/<kver> (lib -> usr/lib) and a real lib/modules/<kver> are one tree."""
    flat = iso_factory(layout="flat")
    rep = diff_isos(demo_iso, flat)
    assert rep.image.kernels[0] == rep.image.kernels[1]
    assert set(rep.image.groups) == {"other"}  # the modules themselves are the same
    other = {c.path: c for c in rep.image.groups["other"]}
    assert other["lib"].details == ["type symlink -> dir"]


def test_a_kernel_that_went_is_one_line(demo_iso: Path, iso_factory: Callable[..., Path]) -> None:
    rep = diff_isos(demo_iso, iso_factory(with_alt_kernel=False))
    main_k, alt_k = rep.image.kernels[0]
    assert rep.image.kernels[1] == [main_k]
    gone = rep.image.groups[alt_k]
    assert gone and all(c.change is Change.REMOVED for c in gone)
    lines = rep.lines()
    summary = [ln for ln in lines if f"lib/modules/{alt_k}:" in ln]
    assert summary == [f"  kernel tree lib/modules/{alt_k}: removed ({len(gone)} entries, "
                       f"{size(sum(c.size for c in gone))})"]
    after = lines[lines.index(summary[0]) + 1:]
    assert not after or not after[0].startswith("    ")  # its entries are not listed


def test_spliced_pair_reads_only_what_differs(iso_factory: Callable[..., Path],
                                              tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """B built from A reuses A's bzip2 blocks: files wholly in them are known equal
    without reading their data, and the report is the one a full read gives."""
    from xcptui.engine.diff import image as imgdiff

    a = iso_factory(filler_files=1500, fast_compress=True)  # lbzip2: many blocks
    make_ko(tmp_path / "xcpdiff.ko", name="xcpdiff")
    # a same-size content change: only its data tells it apart
    with IsoSource.open(a) as src:
        off, n = src.extent("/install.img")
        with InstallImage.open(src.path, off, n) as ii:
            inv = ii.get("etc/xensource-inventory")
            assert inv is not None
            motd = b"".join(ii.iter_range(*ii.data_range(inv)))
    (tmp_path / "motd").write_bytes(bytes(reversed(motd)))
    b = tmp_path / "b.iso"
    build_iso(a, recipe.loads('[[installer.drivers]]\nsource = "xcpdiff.ko"\n'
                              '[[installer.files]]\nsource = "motd"\ndest = "/etc/xensource-inventory"\n',
                              tmp_path), b, verify=False)
    known: list[int] = []
    real = imgdiff._same_by_blocks

    def spy(*args: object) -> set[tuple[str, str]]:
        out = real(*args)  # type: ignore[arg-type]
        known.append(len(out))
        return out

    monkeypatch.setattr(imgdiff, "_same_by_blocks", spy)
    fast = diff_isos(a, b)
    assert known and known[0] > 1000, known  # most files never read
    monkeypatch.setattr(imgdiff, "_open_against",
                        lambda src, base, p, c: (imgdiff._open(src, "B", p, c), []))
    slow = diff_isos(a, b)
    assert fast.lines() == slow.lines()
    other = [c.path for c in fast.image.groups["other"]]
    assert other == ["etc/xensource-inventory"] and fast.image.groups["other"][0].details == ["content"]
