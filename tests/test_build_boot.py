"""Boot parameters and identity land in all three boot configs and in .treeinfo."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import iso_member
from xcptui.engine import recipe
from xcptui.engine.build import runner as build
from xcptui.engine.errors import InputError


def _efiboot_grub(iso: Path, tmp: Path) -> str:
    img = tmp / "efiboot.img"
    img.write_bytes(iso_member(iso, "boot/efiboot.img"))
    out = subprocess.run(["mtype", "-i", str(img), "::/EFI/xenserver/grub.cfg"],
                         capture_output=True, check=True,
                         env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})
    return out.stdout.decode()


def test_boot_params_default_timeout_and_identity(demo_iso: Path, tmp_path: Path) -> None:
    r = recipe.loads(
        '[iso]\nvolume_id = "XCP-ng 8.3 custom"\nbuild_number = "custom1"\n'
        '[boot]\nappend = ["sshpassword=secret"]\nremove = ["console=tty0"]\n'
        'default = "shell"\ntimeout = 10\n',
        tmp_path,
    )
    out = tmp_path / "out.iso"
    res = build.build(demo_iso, r, out, verify=False)
    assert any("all 3 boot configs" in c for c in res.changes)
    iso_cfg = iso_member(out, "boot/isolinux/isolinux.cfg").decode()
    grub = iso_member(out, "EFI/xenserver/grub.cfg").decode()
    efi = _efiboot_grub(out, tmp_path)
    for line in iso_cfg.splitlines():
        if "--- /boot/vmlinuz" in line or "--- /boot/alt/vmlinuz" in line:
            xen, dom0, initrd = line.split(" --- ")
            assert "sshpassword=secret" in dom0 and "sshpassword" not in xen
            assert "console=tty0" not in dom0.split()
            assert initrd.strip() == "/install.img"
    assert "DEFAULT shell" in iso_cfg and "TIMEOUT 100" in iso_cfg
    for text in (grub, efi):
        mods = [ln for ln in text.splitlines() if "module2 /boot/" in ln and "vmlinuz" in ln]
        assert len(mods) == 6
        assert all("sshpassword=secret" in m for m in mods)
        assert all("sshpassword" not in ln for ln in text.splitlines() if "multiboot2" in ln)
        assert 'set default="5"' in text and "set timeout=10" in text
        assert "chainloader /boot/memtest.efi" in text
    assert "search --file --set /install.img" in efi
    assert "bash-shell" in iso_cfg  # entry-specific params kept
    vol = subprocess.run(["isoinfo", "-d", "-i", str(out)], capture_output=True, text=True).stdout
    assert "Volume id: XCP-ng 8.3 custom" in vol
    ti = iso_member(out, ".treeinfo").decode()
    src_ti = iso_member(demo_iso, ".treeinfo").decode()
    assert ti == src_ti.replace("number = cloud", "number = custom1")


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ('[iso]\nvolume_id = "' + "X" * 40 + '"', "32"),
        ('[boot]\ndefault = "nosuchentry"', "nosuchentry"),
        ('[iso]\nbuild_number = "a;b"', "build"),
    ],
)
def test_bad_identity_and_boot_values(demo_iso: Path, tmp_path: Path, toml: str,
                                      needle: str) -> None:
    r = recipe.loads(toml, tmp_path)
    with pytest.raises(InputError) as ei:
        build.build(demo_iso, r, tmp_path / "o.iso", verify=False)
    assert needle in str(ei.value)
    assert list(p for p in tmp_path.iterdir()) == []
