"""Kernel module helpers: .modinfo, vermagic, kernel order, depmod (checked with modinfo)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.installimg_util import ALT_KVER, MAIN_KVER, make_ko
from xcptui.engine.errors import InputError
from xcptui.engine.initrd import kmod


def test_read_modinfo_agrees_with_modinfo_tool(tmp_path: Path) -> None:
    ko = make_ko(tmp_path / "igc.ko", version="1.2.3",
                 aliases=("pci:v00008086d000015F2sv*sd*bc*sc*i*",))
    info = kmod.read_modinfo(ko.read_bytes(), "igc.ko")
    assert info.name == "igc" and info.kernel == MAIN_KVER
    assert info.first("version") == "1.2.3"
    assert info.fields["alias"] == ["pci:v00008086d000015F2sv*sd*bc*sc*i*"]
    tool = shutil.which("modinfo") or "/usr/sbin/modinfo"
    if Path(tool).exists():
        out = subprocess.run([tool, "-F", "vermagic", str(ko)], capture_output=True,
                             text=True).stdout.strip()
        assert out == info.vermagic.strip()


def test_not_a_module(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="^x.ko: not an ELF kernel module$"):
        kmod.read_modinfo(b"hello", "x.ko")
    with pytest.raises(InputError, match="^x.ko: not a valid ELF kernel module"):
        kmod.read_modinfo(b"\x7fELF" + b"\0" * 10, "x.ko")


def test_vermagic_check() -> None:
    info = kmod.ModInfo("igc", "5.10.0 SMP mod_unload ")
    assert kmod.check_vermagic(kmod.ModInfo("igc", f"{MAIN_KVER} SMP "), MAIN_KVER, "igc.ko",
                               "install.img", False) is None
    with pytest.raises(InputError) as ei:
        kmod.check_vermagic(info, MAIN_KVER, "igc.ko", "install.img", False)
    assert str(ei.value) == ("igc.ko: vermagic 5.10.0 SMP mod_unload does not match kernel "
                             f"{MAIN_KVER} of install.img (set force = true to override)")
    warn = kmod.check_vermagic(info, MAIN_KVER, "igc.ko", "install.img", True)
    assert warn is not None and "added anyway" in warn
    with pytest.raises(InputError, match="no vermagic"):
        kmod.check_vermagic(kmod.ModInfo("x", ""), MAIN_KVER, "x.ko", "install.img", False)


def test_kernel_order_and_names() -> None:
    assert kmod.order_kernels([ALT_KVER, MAIN_KVER]) == [MAIN_KVER, ALT_KVER]
    assert kmod.order_kernels(["4.19.309", "4.19.19", "5.4.1"]) == ["4.19.19", "4.19.309",
                                                                    "5.4.1"]
    assert kmod.order_kernels([]) == []
    # 8.3's two unames both carry "+": the sublevel-0 one is the main kernel
    assert kmod.order_kernels(["4.19.322+1", "4.19.0+1"]) == ["4.19.0+1", "4.19.322+1"]
    assert kmod.order_kernels(["4.19.0+1", "4.19.309"]) == ["4.19.0+1", "4.19.309"]
    assert kmod.module_stem("lib/x/igc.ko") == "igc"
    assert kmod.module_stem("a.ko.xz") == "a" and kmod.module_stem("modules.dep") is None
    assert kmod.normalise("megaraid-sas") == kmod.normalise("megaraid_sas")


def test_run_depmod(tmp_path: Path) -> None:
    base = tmp_path / "lib" / "modules" / MAIN_KVER
    make_ko(base / "updates" / "igc.ko", aliases=("pci:v00008086d0000ABCDsv*sd*bc*sc*i*",))
    assert kmod.run_depmod(tmp_path, MAIN_KVER) == []
    assert (base / "modules.dep").read_text() == "updates/igc.ko:\n"
    assert "igc" in (base / "modules.alias").read_text()
