"""Boot menus by parameter: per config, per entry label, the Xen and dom0 lines.

The configs are read the way the build reads them (isolinux.cfg, the ISO-side
grub.cfg, grub-usb.cfg where pre-2023 8.2.x media carry it, and the grub.cfg inside
boot/efiboot.img wherever it lies there). Entries pair by label within one config
(the same file in both ISOs); a repeated label pairs by its occurrence ("label #2").
Parameters compare as multisets: a parameter given twice and now once is one removal.
"""

from __future__ import annotations

from collections import Counter

from xcptui.engine.boot.config import BootConfig, BootEntry
from xcptui.engine.diff.model import Change, ConfigDiff, EntryDiff
from xcptui.engine.errors import XcptuiError
from xcptui.engine.iso import efiboot
from xcptui.engine.iso.read import IsoSource
from xcptui.engine.layout import (
    EFIBOOT_GRUB_NAME,
    EFIBOOT_IMG,
    GRUB_CFG,
    GRUB_USB_CFG,
    ISOLINUX_CFG,
)

NAMES = ("isolinux.cfg", "grub.cfg", "grub-usb.cfg", "efiboot.img grub.cfg")


def load(src: IsoSource, notes: list[str]) -> dict[str, BootConfig]:
    """The configs that exist, by display name; what cannot be read goes to ``notes``."""
    out: dict[str, BootConfig] = {}
    if src.exists(ISOLINUX_CFG):
        out[NAMES[0]] = BootConfig.from_bytes(src.read(ISOLINUX_CFG), "isolinux",
                                              ISOLINUX_CFG.lstrip("/"))
    if src.exists(GRUB_CFG):
        out[NAMES[1]] = BootConfig.from_bytes(src.read(GRUB_CFG), "grub", GRUB_CFG.lstrip("/"))
    if src.exists(GRUB_USB_CFG):
        out[NAMES[2]] = BootConfig.from_bytes(src.read(GRUB_USB_CFG), "grub",
                                              GRUB_USB_CFG.lstrip("/"))
    if src.exists(EFIBOOT_IMG):
        try:
            inner, data = efiboot.read_grub_cfg_from_bytes(src.read(EFIBOOT_IMG))
        except XcptuiError as e:  # mtools missing, or no grub.cfg inside
            notes.append(f"{src.path.name}: {EFIBOOT_GRUB_NAME} not compared: {e}")
        else:
            out[NAMES[3]] = BootConfig.from_bytes(data, "grub", f"efiboot.img:{inner}")
    return out


def compare_configs(ca: dict[str, BootConfig], cb: dict[str, BootConfig]) -> list[ConfigDiff]:
    """The configs that differ, in NAMES order."""
    out: list[ConfigDiff] = []
    for name in NAMES:
        a, b = ca.get(name), cb.get(name)
        if a is None and b is None:
            continue
        if a is None or b is None:
            out.append(ConfigDiff(name, Change.ADDED if a is None else Change.REMOVED))
            continue
        d = _config(name, a, b)
        if not d.same:
            out.append(d)
    return out


def _by_label(cfg: BootConfig) -> dict[str, BootEntry]:
    out: dict[str, BootEntry] = {}
    seen: Counter[str] = Counter()
    for e in cfg.entries:
        seen[e.label] += 1
        out[e.label if seen[e.label] == 1 else f"{e.label} #{seen[e.label]}"] = e
    return out


def _config(name: str, a: BootConfig, b: BootConfig) -> ConfigDiff:
    d = ConfigDiff(name)
    if a.default != b.default:
        d.default = (a.default, b.default)
    if a.timeout != b.timeout:
        d.timeout = (a.timeout, b.timeout)
    la, lb = _by_label(a), _by_label(b)
    d.entries_added = [lbl for lbl in lb if lbl not in la]  # in menu order
    d.entries_removed = [lbl for lbl in la if lbl not in lb]
    for lbl, ea in la.items():
        eb = lb.get(lbl)
        if eb is not None:
            ed = _entry(lbl, ea, eb)
            if not ed.same:
                d.entries.append(ed)
    return d


def _minus(x: list[str], y: list[str]) -> list[str]:
    """Items of ``x`` not in ``y`` (multiset difference), in ``x``'s order."""
    left = Counter(y)
    out: list[str] = []
    for p in x:
        if left[p]:
            left[p] -= 1
        else:
            out.append(p)
    return out


def _entry(label: str, a: BootEntry, b: BootEntry) -> EntryDiff:
    d = EntryDiff(label)
    d.xen_added, d.xen_removed = _minus(b.xen_args, a.xen_args), _minus(a.xen_args, b.xen_args)
    d.dom0_added = _minus(b.dom0_args, a.dom0_args)
    d.dom0_removed = _minus(a.dom0_args, b.dom0_args)
    for what, x, y in (("hypervisor", a.hypervisor, b.hypervisor),
                       ("kernel", a.kernel_path, b.kernel_path),
                       ("initrd", a.initrd, b.initrd)):
        if x != y:
            d.other.append(f"{what}: {x or '(none)'} -> {y or '(none)'}")
    return d
