"""Turning the recipe's [iso] identity and [boot]/[answerfile] settings into file changes.

The three boot configs (isolinux.cfg, the ISO-side grub.cfg, and the grub.cfg
inside boot/efiboot.img; four on pre-2023 8.2.x media, which also have
EFI/xenserver/grub-usb.cfg) are always edited together: which grub.cfg a UEFI boot reads
depends on the GRUB build and the firmware (with XCP-ng's grubx64.efi a CD boot reads
the ISO-side copy and a USB boot the copy inside efiboot.img; some firmware treat
efiboot.img as the root), so an edit that misses one silently loses it on some path.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from xcptui.engine.boot import config as bootcfg
from xcptui.engine.errors import BuildError, InputError
from xcptui.engine.iso import efiboot
from xcptui.engine.iso.read import IsoSource
from xcptui.engine.layout import (
    BUILD_MARKER_PREFIX,
    EFIBOOT_GRUB,
    EFIBOOT_IMG,
    GRUB_CFG,
    GRUB_USB_CFG,
    ISOLINUX_CFG,
    TREEINFO,
)
from xcptui.engine.recipe import Recipe

if TYPE_CHECKING:
    from xcptui.engine.boot.answerfile import AnswerfilePlan



@dataclass
class BootConfigs:
    """The source's boot configs that exist (None when a file is absent)."""

    isolinux: bootcfg.BootConfig | None
    grub: bootcfg.BootConfig | None
    efiboot: bootcfg.BootConfig | None
    grub_usb: bootcfg.BootConfig | None = None  # EFI/xenserver/grub-usb.cfg (old 8.2.x)
    efiboot_path: str = EFIBOOT_GRUB  # where efiboot.img's grub.cfg lives in the FAT image

    def items(self) -> list[tuple[str, bootcfg.BootConfig]]:
        out = [("isolinux.cfg", self.isolinux), ("grub.cfg", self.grub),
               ("grub-usb.cfg", self.grub_usb), ("efiboot.img grub.cfg", self.efiboot)]
        return [(n, c) for n, c in out if c is not None]


#: the ISO-side boot configs by the name ``BootConfigs.items`` gives them
ISO_PATHS = {"isolinux.cfg": ISOLINUX_CFG, "grub.cfg": GRUB_CFG, "grub-usb.cfg": GRUB_USB_CFG}


def load_configs(src: IsoSource) -> BootConfigs:
    found: dict[str, bootcfg.BootConfig] = {}
    for name, path in ISO_PATHS.items():
        if src.exists(path):
            kind = "isolinux" if path == ISOLINUX_CFG else "grub"
            found[name] = bootcfg.BootConfig.from_bytes(src.read(path), kind, path.lstrip("/"))
    efi = None
    efi_path = EFIBOOT_GRUB
    if src.exists(EFIBOOT_IMG):
        try:
            efi_path, data = efiboot.read_grub_cfg_from_bytes(src.read(EFIBOOT_IMG))
        except efiboot.NoGrubCfg:
            pass  # older media: the UEFI grub reads the ISO-side grub.cfg; nothing to edit
        else:
            efi = bootcfg.BootConfig.from_bytes(data, "grub",
                                                f"{EFIBOOT_IMG.lstrip('/')}:{efi_path}")
    return BootConfigs(found.get("isolinux.cfg"), found.get("grub.cfg"), efi,
                       found.get("grub-usb.cfg"), efi_path)


def _relabel(line: str, before: bootcfg.BootConfig, after: bootcfg.BootConfig,
             via: bootcfg.BootConfig | None) -> str:
    """Rewrite a grub effect line 'TITLE: ...' with the matching isolinux label."""
    if via is None or before.kind == "isolinux":
        return line
    for e in before.entries:
        prefix = f"{e.label}: "
        if line.startswith(prefix):
            for a, b in bootcfg.match_entries(via, before):
                if b is e and a is not None:
                    return f"{a.label}: " + line[len(prefix):]
    return line


@dataclass(frozen=True)
class BootPart:
    """What the boot stage produces: new file contents and the lines that describe them."""

    new_text: dict[str, bytes] = field(default_factory=dict)  # ISO path -> new content
    efiboot_grub: bytes | None = None  # new grub.cfg for inside boot/efiboot.img
    changes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def plan_identity(src: IsoSource, recipe: Recipe, base: bytes | None = None) -> BootPart:
    """.treeinfo [build] number / product version, on top of ``base`` (a signing edit)."""
    from xcptui.engine.repo import treeinfo

    iso = recipe.iso
    if iso.build_number is None and iso.product_version is None:
        return BootPart()
    if not src.exists(TREEINFO):
        raise InputError(f"{src.path.name}: has no /.treeinfo (netinstall ISO?); "
                         "build_number/product_version need it")
    before = treeinfo.TreeInfo.from_bytes(base or src.read(TREEINFO))
    after = before
    if iso.build_number is not None:
        after = after.set_build_number(iso.build_number)
    if iso.product_version is not None:
        after = after.set_product_version(iso.product_version)
    if after.text == before.text:
        return BootPart()
    return BootPart(new_text={TREEINFO: after.to_bytes()},
                    changes=tuple(treeinfo.describe_changes(before, after)))


def _is_82(src: IsoSource) -> bool:
    from xcptui.engine.repo import signing

    ver = signing.detect(src).product_version or ""
    return ver == "8.2" or ver.startswith("8.2.")


def gpgcheck_off_reason(src: IsoSource, recipe: Recipe) -> str | None:
    """Why ``no-gpgcheck`` (or gpgcheck="false") goes on the installer, or None.

    8.2 has no such boot flag (interactive local installs check nothing there; answerfile
    installs get netinstall-gpg-check="false" from the answerfile planner).
    """
    from xcptui.engine.repo import signing

    sig = recipe.signing
    if sig is None:
        return None
    why = signing.installer_gpgcheck_off(sig.mode, sig.installer_gpgcheck,
                                         recipe.touches_repo())
    if why is None or _is_82(src):
        return None
    return why


def plan_answerfile(src: IsoSource, recipe: Recipe) -> AnswerfilePlan | None:
    if recipe.answerfile is None:
        return None
    from xcptui.engine.boot import answerfile

    extra: list[str] = []
    sig = recipe.signing
    embedded_auto = recipe.answerfile.source is not None and (
        sig is None or sig.installer_gpgcheck is None)
    # an embedded answerfile in auto mode already gets gpgcheck="false" from its planner
    if not embedded_auto and gpgcheck_off_reason(src, recipe) is not None:
        extra.append("no-gpgcheck")
    return answerfile.plan_answerfile(recipe, src, extra_params=extra)


def _gpg_params(src: IsoSource, recipe: Recipe, afp: AnswerfilePlan | None
                ) -> tuple[list[str], list[str], list[str]]:
    """(parameters for every installer entry, change lines, warnings): installer_gpgcheck."""
    why = gpgcheck_off_reason(src, recipe)
    if why is None:
        sig = recipe.signing
        if sig is not None and sig.installer_gpgcheck == "off" and afp is None:
            return [], [], ['[signing] installer_gpgcheck = "off": XCP-ng 8.2 has no '
                            "no-gpgcheck boot flag (interactive installs from the ISO check "
                            "no RPM signatures there); nothing added"]
        return [], [], []
    if afp is not None:  # with an answerfile the flag is refused: see plan_answerfile
        return [], [], []
    if "no-gpgcheck" in recipe.boot.append or "no-gpgcheck" in recipe.boot.remove:
        return [], [], []  # the recipe already says (remove: the user wants the check kept)
    return ["no-gpgcheck"], [f"installer gpgcheck off: no-gpgcheck on every installer "
                             f"entry ({why})"], []


def _marker(recipe: Recipe, cfgs: BootConfigs) -> tuple[str | None, list[str], list[str]]:
    """([boot] unique_search) the marker path, its change lines, warnings."""
    if not recipe.boot.unique_search:
        return None, [], []
    if cfgs.efiboot is None:
        return None, [], ["[boot] unique_search: no boot/efiboot.img grub.cfg to point at a "
                          "marker; nothing done"]
    build_id = secrets.token_hex(4)
    marker = f"{BUILD_MARKER_PREFIX}{build_id}"
    return marker, [
        f"add {marker} (build id {build_id}) and make {cfgs.efiboot.name} search for it "
        "instead of /install.img: another XCP-ng USB stick cannot take over the boot"], []


def _edit_each(cfgs: BootConfigs, recipe: Recipe, afp: AnswerfilePlan | None,
               append: list[str]) -> tuple[dict[str, bootcfg.BootConfig], list[str]]:
    """Apply the edits to every config; (new configs by name, effect lines)."""
    b = recipe.boot
    via = cfgs.isolinux
    new: dict[str, bootcfg.BootConfig] = {}
    effects: dict[str, list[str]] = {}  # effect line -> configs it applies to
    for name, cfg in cfgs.items():
        v = None if cfg is via else via
        out = bootcfg.edit(cfg, append=append, remove=b.remove, default=b.default,
                           timeout=b.timeout, via=v)
        if afp is not None and not afp.empty:
            targets = afp.entries or None
            if afp.params_to_remove:
                out = out.remove_params(afp.params_to_remove, targets, via=v)
            if afp.params_to_append:
                out = out.append_params(afp.params_to_append, targets, via=v)
        new[name] = out
        for line in bootcfg.describe_effect(cfg, out):
            # grub titles differ from isolinux labels: key effects by the isolinux label
            effects.setdefault(_relabel(line, cfg, out, via), []).append(name)
    everywhere = len(new)
    changes = []
    for line, names in effects.items():
        where = f"all {everywhere} boot configs" if len(names) == everywhere and everywhere > 1 \
            else ", ".join(names)
        changes.append(f"boot ({where}): {line}")
    return new, changes


def plan_boot(src: IsoSource, recipe: Recipe, afp: AnswerfilePlan | None) -> BootPart:
    """Edit the boot configs in step; return their new contents."""
    b = recipe.boot
    gpg_append, gpg_changes, gpg_warnings = _gpg_params(src, recipe, afp)
    if not (b.append or b.remove or b.default is not None or b.timeout is not None
            or (afp is not None and not afp.empty) or gpg_append or b.unique_search):
        return BootPart(warnings=tuple(gpg_warnings))
    # before any per-entry work (which compares each new parameter with the line)
    size = len(" ".join(b.append))
    if size > bootcfg.DOM0_CMDLINE_MAX:
        raise InputError(f"{recipe.path or 'recipe'}: [boot] append adds {len(b.append)} "
                         f"parameters, {size} bytes: more than the {bootcfg.DOM0_CMDLINE_MAX} "
                         "bytes Xen passes to dom0")
    warnings: list[str] = list(gpg_warnings)
    new_text: dict[str, bytes] = {}
    efiboot_grub: bytes | None = None
    cfgs = load_configs(src)
    if cfgs.isolinux is None and cfgs.grub is None:
        raise InputError(f"{src.path.name}: has neither {ISOLINUX_CFG} nor {GRUB_CFG}; "
                         "cannot change boot parameters")
    before_diff = bootcfg.compare(dict(cfgs.items())) if len(cfgs.items()) > 1 else []
    new, changes = _edit_each(cfgs, recipe, afp, [*b.append, *gpg_append])
    changes += gpg_changes
    if len(new) > 1:
        after_diff = bootcfg.compare(new)
        if after_diff and not before_diff:
            raise BuildError("boot configs would disagree after the edit: " + after_diff[0])
        if before_diff:
            warnings.append("the source's boot configs already disagree (kept as they "
                            "are): " + "; ".join(before_diff))
    for name, path in ISO_PATHS.items():
        old = dict(cfgs.items()).get(name)
        if old is not None and new[name].text != old.text:
            new_text[path] = new[name].to_bytes()
    marker, lines, warns = _marker(recipe, cfgs)
    changes += lines
    warnings += warns
    if cfgs.efiboot is not None:
        efi_new = new["efiboot.img grub.cfg"]
        if efi_new.text != cfgs.efiboot.text or marker is not None:
            text = efiboot.ensure_search_line(efi_new.text)
            if marker is not None:
                text = efiboot.set_search_file(text, marker)
                new_text[marker] = f"xcptui build {marker[len(BUILD_MARKER_PREFIX):]}\n".encode()
            efiboot_grub = text.encode("utf-8", "surrogateescape")
    elif cfgs.grub is not None and src.exists(EFIBOOT_IMG) is False:
        warnings.append("no boot/efiboot.img: only the ISO-side grub.cfg was edited")
    return BootPart(new_text, efiboot_grub, tuple(changes), tuple(warnings))


def summarise(before: bootcfg.BootConfig, after: bootcfg.BootConfig) -> tuple[str, ...]:
    """Compact lines for one config: entries grouped by the same parameter change."""
    groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]] = {}
    for eff in bootcfg.effects(before, after):
        if eff.changed:
            groups.setdefault((tuple(eff.added), tuple(eff.removed)), []).append(eff.label)
    lines = []
    for (added, removed), labels in groups.items():
        what = " ".join([f"+{p}" for p in added] + [f"-{p}" for p in removed])
        lines.append(f"{what}  on {', '.join(labels)}")
    lines += [x for x in bootcfg.describe_effect(before, after)
              if x.startswith(("default:", "timeout:"))]
    return tuple(lines) or ("unchanged",)


def per_config_effects(src: IsoSource, new_text: dict[str, bytes],
                       efiboot_grub: bytes | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(config name, summary lines) for each boot config the source has."""
    out = []
    for name, cfg in load_configs(src).items():
        new = new_text.get(ISO_PATHS[name]) if name in ISO_PATHS else efiboot_grub
        after = cfg if new is None else bootcfg.BootConfig.from_bytes(new, cfg.kind, cfg.name)
        out.append((name, summarise(cfg, after)))
    return tuple(out)
