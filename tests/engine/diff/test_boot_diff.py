"""Boot menus by parameter: entries added/removed, Xen and dom0 lines, default, timeout."""

from __future__ import annotations

from xcptui.engine.boot.config import BootConfig
from xcptui.engine.diff import boot
from xcptui.engine.diff.model import Change

CFG = """DEFAULT install
TIMEOUT 50
LABEL install
\tKERNEL mboot.c32
\tAPPEND /boot/xen.gz dom0_mem=max:8192M console=com1,vga --- /boot/vmlinuz console=hvc0 console=tty0 --- /install.img
LABEL safe
\tKERNEL mboot.c32
\tAPPEND /boot/xen.gz dom0_mem=max:8192M nosmp --- /boot/vmlinuz console=tty0 --- /install.img
LABEL memtest
\tLINUX /boot/memtest.bin
"""


def _cfg(text: str) -> dict[str, BootConfig]:
    return {"isolinux.cfg": BootConfig.from_bytes(text.encode(), "isolinux", "isolinux.cfg")}


def test_same_config_reports_nothing() -> None:
    assert boot.compare_configs(_cfg(CFG), _cfg(CFG)) == []


def test_each_kind_of_change() -> None:
    new = (CFG.replace("DEFAULT install", "DEFAULT safe").replace("TIMEOUT 50", "TIMEOUT 100")
           .replace("dom0_mem=max:8192M console", "dom0_mem=max:4096M console")
           .replace("console=hvc0 console=tty0", "console=hvc0 console=tty0 console=tty0 x=1")
           .replace("LABEL memtest\n\tLINUX /boot/memtest.bin\n",
                    "LABEL rescue\n\tKERNEL mboot.c32\n\tAPPEND /boot/xen.gz --- "
                    "/boot/vmlinuz bash-shell --- /install.img\n"))
    [d] = boot.compare_configs(_cfg(CFG), _cfg(new))
    assert d.name == "isolinux.cfg" and d.change is Change.CHANGED
    assert d.default == ("install", "safe") and d.timeout == (5, 10)
    assert d.entries_added == ["rescue"] and d.entries_removed == ["memtest"]
    [e] = d.entries  # "safe" is unchanged
    assert e.label == "install"
    assert e.xen_added == ["dom0_mem=max:4096M"] and e.xen_removed == ["dom0_mem=max:8192M"]
    assert e.dom0_added == ["console=tty0", "x=1"] and e.dom0_removed == []  # a multiset
    assert d.lines() == [
        "isolinux.cfg:", "  default: install -> safe", "  timeout: 5 -> 10",
        "  + entry rescue", "  - entry memtest",
        "  ~ install: xen +dom0_mem=max:4096M -dom0_mem=max:8192M; dom0 +console=tty0 +x=1",
    ]


def test_config_present_on_one_side() -> None:
    [d] = boot.compare_configs({}, _cfg(CFG))
    assert d.change is Change.ADDED and d.lines() == ["+ isolinux.cfg"]
