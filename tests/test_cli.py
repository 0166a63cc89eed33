"""The CLI as a user runs it: output, JSON, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import cpio_listing, iso_member
from xcptui.demoiso.builder import ALT_KVER, MAIN_KVER, KoSpec, build_ko


def xcptui(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([sys.executable, "-m", "xcptui", *map(str, args)], capture_output=True,
                       text=True)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def test_inspect_text_and_json(demo_iso: Path) -> None:
    out = xcptui("inspect", demo_iso).stdout
    for needle in ("volume id    'XCP-ng 8.3.0'", "BIOS  /boot/isolinux/isolinux.bin",
                   "UEFI  /boot/efiboot.img", "partition 2: type 0xef (EFI)",
                   "install.img  bzip2", f"kernels: {MAIN_KVER}, {ALT_KVER}",
                   "all copies agree", "signed"):
        assert needle in out, needle
    data = json.loads(xcptui("inspect", demo_iso, "--json").stdout)
    assert data["volume_id"] == "XCP-ng 8.3.0"
    assert data["install_img"]["compression"] == "bzip2"
    assert data["repo"]["signed"] is True
    assert {p["name"] for p in data["packages"]} >= {"xcp-ng-deps", "htop"}


def test_ls_iso_install_img_and_packages(demo_iso: Path) -> None:
    assert "/boot/isolinux/" in xcptui("ls", demo_iso, "/boot").stdout
    inner = xcptui("ls", demo_iso, "install.img:/etc").stdout
    shadow = next(ln for ln in inner.splitlines() if ln.endswith("/etc/shadow"))
    assert shadow.startswith("----------")
    dev = xcptui("ls", demo_iso, "install.img:/dev").stdout
    assert any(ln.startswith("crw-------") and "5,1" in ln for ln in dev.splitlines())
    pk = xcptui("ls", demo_iso, "/Packages").stdout
    assert "xcp-ng-deps-8.3-14.noarch" in pk
    js = json.loads(xcptui("ls", demo_iso, "install.img:/", "--json").stdout)
    assert any(e["path"] == "init" and e["link_target"] == "/sbin/init" for e in js)


def test_extract_from_iso_and_from_install_img(demo_iso: Path, tmp_path: Path) -> None:
    xcptui("extract", demo_iso, "/boot/isolinux/isolinux.cfg", tmp_path / "a")
    assert (tmp_path / "a" / "isolinux.cfg").read_bytes() == iso_member(
        demo_iso, "boot/isolinux/isolinux.cfg")
    xcptui("extract", demo_iso, "install.img:/opt/xensource/installer", tmp_path / "b")
    assert (tmp_path / "b" / "installer" / "install.py").is_file()


def test_worked_example_driver_and_ssh(demo_iso: Path, tmp_path: Path) -> None:
    ko = build_ko(KoSpec("igc", "updates/igc.ko", "5.4.0-7",
                         aliases=["pci:v00008086d000015F3sv*sd*bc*sc*i*"]), MAIN_KVER,
                  tmp_path / "igc.ko")
    (tmp_path / "igc.toml").write_text(
        '[iso]\nbuild_number = "igc1"\n[boot]\nappend = ["sshpassword=secret"]\n'
        f'[[installer.drivers]]\nsource = "{ko.name}"\n')
    out = tmp_path / "out.iso"
    p = xcptui("build", demo_iso, "--recipe", tmp_path / "igc.toml", "-o", out)
    assert "updates/igc.ko" in p.stdout and "verify: OK" in p.stdout
    img = iso_member(out, "install.img")
    lines = cpio_listing(img)
    kdir = f"usr/lib/modules/{MAIN_KVER}"  # real layout: lib -> usr/lib, no "./"
    assert any(ln.endswith(f"{kdir}/updates/igc.ko") for ln in lines)
    assert not any(ln.endswith(f"{kdir}/kernel/drivers/net/ethernet/intel/igc/igc.ko")
                   for ln in lines)
    assert any(ln.endswith(f"{ALT_KVER}/kernel/drivers/net/ethernet/intel/igc/igc.ko")
               for ln in lines)
    # metadata of untouched entries survives, as libarchive reads it
    def key(ln: str) -> str:
        return ln.split(" -> ")[0].split()[-1]

    before = {key(ln): ln for ln in cpio_listing(iso_member(demo_iso, "install.img"))}
    after = {key(ln): ln for ln in lines}
    for path in ("etc/shadow", "dev/console", "usr/bin/python2", "usr/bin/sh", "lib"):
        assert after[path] == before[path]
    assert after["etc/shadow"].startswith("---------- ")
    alias = subprocess.run(["bsdtar", "-xOf", "-", f"{kdir}/modules.alias"], input=img,
                           capture_output=True, check=True).stdout.decode()
    assert "alias pci:v00008086d000015F3sv*sd*bc*sc*i* igc" in alias
    dep = subprocess.run(["bsdtar", "-xOf", "-", f"{kdir}/modules.dep"], input=img,
                         capture_output=True, check=True).stdout.decode()
    assert "updates/igc.ko:" in dep and "intel/igc/igc.ko" not in dep
    assert subprocess.run(["bzip2", "-t"], input=img).returncode == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["inspect", "/etc/hostname"], "not an ISO 9660 image"),
        (["inspect", "/nonexistent.iso"], "no such file"),
        (["ls", "DEMO", "/nope"], "no /nope in the ISO"),
        (["build", "DEMO", "--recipe", "/nonexistent.toml", "-o", "OUT"], "no such file"),
        (["verify", "/etc/hostname"], "not an ISO"),
    ],
)
def test_errors_are_one_line(demo_iso: Path, tmp_path: Path, args: list[str],
                             needle: str) -> None:
    args = [str(demo_iso) if a == "DEMO" else str(tmp_path / "o.iso") if a == "OUT" else a
            for a in args]
    p = xcptui(*args, check=False)
    assert p.returncode != 0
    assert needle in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "Traceback" not in p.stderr
