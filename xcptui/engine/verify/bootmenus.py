"""The boot menus (isolinux.cfg, grub.cfg, efiboot.img's grub.cfg, and grub-usb.cfg on
pre-2023 8.2.x media) and the files their entries name."""

from __future__ import annotations

import os
import re

from xcptui.engine.errors import XcptuiError
from xcptui.engine.layout import (
    BUILD_MARKER_PREFIX,
    EFIBOOT_IMG,
    GRUB_CFG,
    GRUB_USB_CFG,
    ISOLINUX_BIN,
    ISOLINUX_CFG,
    ISOLINUX_DIR,
)
from xcptui.engine.verify.registry import Ctx, check
from xcptui.engine.verify.report import Outcome, failed, passed, skipped


def _load_configs(ctx: Ctx) -> None:
    if ctx.configs_loaded:
        return
    ctx.configs_loaded = True
    from xcptui.engine.boot import config as bootcfg
    from xcptui.engine.iso import efiboot

    for cname, path, kind in (("isolinux", ISOLINUX_CFG, bootcfg.ISOLINUX),
                              ("grub", GRUB_CFG, bootcfg.GRUB)):
        if not ctx.src.exists(path):
            ctx.config_errors[cname] = f"{path}: missing"
            continue
        try:
            ctx.configs[cname] = bootcfg.BootConfig.from_bytes(ctx.src.read(path), kind,
                                                               path.lstrip("/"))
        except XcptuiError as e:
            ctx.config_errors[cname] = str(e)
    if ctx.src.exists(GRUB_USB_CFG):  # optional: only old 8.2.x media have it
        try:
            ctx.configs["grub-usb"] = bootcfg.BootConfig.from_bytes(
                ctx.src.read(GRUB_USB_CFG), bootcfg.GRUB, GRUB_USB_CFG.lstrip("/"))
        except XcptuiError as e:
            ctx.config_errors["grub-usb"] = str(e)
    if ctx.src.exists(EFIBOOT_IMG):
        ctx.load_efiboot()
        if ctx.efiboot_error:
            ctx.config_errors["efiboot"] = ctx.efiboot_error
            return
        assert ctx.efiboot_host is not None and ctx.efiboot_files is not None
        try:
            path = efiboot.find_grub_cfg(ctx.efiboot_files, name=EFIBOOT_IMG.lstrip("/"))
            name = f"{EFIBOOT_IMG.lstrip('/')}:{path}"
            data = efiboot.read_file(ctx.efiboot_host, path, name=EFIBOOT_IMG.lstrip("/"))
            ctx.configs["efiboot"] = bootcfg.BootConfig.from_bytes(data, bootcfg.GRUB, name)
        except efiboot.NoGrubCfg:
            pass  # older media: BOOTX64.EFI alone, reading the ISO-side grub.cfg
        except XcptuiError as e:
            ctx.config_errors["efiboot"] = str(e)


@check("boot-configs", "Boot menus agree", cheap=True)
def check_boot_configs(ctx: Ctx) -> Outcome:
    from xcptui.engine.boot import config as bootcfg
    from xcptui.engine.iso import efiboot

    _load_configs(ctx)
    problems = list(ctx.config_errors.values())  # each names its file
    cfgs = ctx.configs
    for cfg in cfgs.values():
        if not cfg.installer_entries():
            problems.append(f"{cfg.name}: no installer entry (Xen + vmlinuz + install.img)")
    diffs = bootcfg.compare(cfgs) if len(cfgs) > 1 else []
    problems += diffs
    efi = cfgs.get("efiboot")
    searched = efiboot.search_files(efi.text) if efi is not None else []
    if efi is not None and efiboot.SEARCH_LINE not in efi.text and not any(
            f.startswith(BUILD_MARKER_PREFIX) for f in searched):
        problems.append(f"{efi.name}: lacks '{efiboot.SEARCH_LINE}': firmware that makes "
                        "efiboot.img grub's root would not find /boot/xen.gz")
    for f in searched:
        if not ctx.src.exists(f):
            problems.append(f"{efi.name if efi else 'efiboot.img'}: 'search --file' looks "
                            f"for {f}, which is not on the ISO: grub would find no root")
    if problems:
        return failed(problems)
    n = {k: len(c.installer_entries()) for k, c in cfgs.items()}
    which_cfgs = ", ".join(f"{k} ({v} installer entries)" for k, v in n.items())
    return passed(f"{which_cfgs}: same dom0 and Xen parameters in every entry")


_ISO_MODULE_KW = {"kernel", "linux", "com32", "ui"}


def _isolinux_modules(text: str) -> list[str]:
    """Files isolinux itself loads (KERNEL mboot.c32, UI menu.c32, LINUX /boot/memtest.bin)."""
    out = []
    for line in text.splitlines():
        toks = line.split()
        if len(toks) >= 2 and toks[0].lower() in _ISO_MODULE_KW:
            out.append(toks[1])
    return out


@check("boot-files", "Files named by boot entries", cheap=True)
def check_boot_files(ctx: Ctx) -> Outcome:
    _load_configs(ctx)
    if not ctx.configs:
        return skipped("no readable boot menu")
    needed: dict[str, str] = {}  # ISO path -> who names it

    def need(path: str | None, who: str, base: str = "/") -> None:
        if not path:
            return
        p = path if path.startswith("/") else f"{base.rstrip('/')}/{path}"
        p = re.sub(r"^\([^)]*\)", "", p)  # grub device prefix "(cd0)/..."
        needed.setdefault(os.path.normpath(p), who)

    iso = ctx.configs.get("isolinux")
    if iso is not None:
        for mod in _isolinux_modules(iso.text):
            need(mod, iso.name, ISOLINUX_DIR)
        try:
            binary = ctx.src.read(ISOLINUX_BIN)
        except XcptuiError:
            binary = b""
        m = re.search(rb"ISOLINUX (\d+)\.", binary)
        if m and int(m.group(1)) >= 5:
            need("ldlinux.c32", f"{ISOLINUX_BIN} (syslinux {m.group(1).decode()})",
                 ISOLINUX_DIR)
    for cfg in ctx.configs.values():
        for e in cfg.entries:
            who = f"{cfg.name} '{e.label}'"
            need(e.hypervisor, who)
            need(e.kernel_path, who)
            need(e.initrd, who)
    missing = [f"{p} (named by {who}) is not on the ISO" for p, who in needed.items()
               if not ctx.src.exists(p)]
    empty = [f"{p} (named by {who}) is empty" for p, who in needed.items()
             if ctx.src.exists(p) and not ctx.src.is_dir(p) and ctx.src.entry(p).size == 0]
    problems = missing + empty
    if problems:
        return failed(problems)
    return passed(f"all {len(needed)} present: {', '.join(sorted(needed))}")
