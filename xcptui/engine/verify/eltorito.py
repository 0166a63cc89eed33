"""Boot structures of the image: El Torito entries, the hybrid MBR and the GPT."""

from __future__ import annotations

import os
import struct

from xcptui.engine import units
from xcptui.engine.iso import hybrid
from xcptui.engine.iso.read import SECTOR, IsoSource
from xcptui.engine.layout import EFI_LOADER, EFIBOOT_IMG, ISOLINUX_BIN
from xcptui.engine.verify.registry import Ctx, check
from xcptui.engine.verify.report import Outcome, failed, passed, skipped


def _boot_info_table_problem(src: IsoSource, data: bytes, lba: int, size: int) -> str | None:
    """Check isolinux.bin's 56-byte boot-info table (written by -boot-info-table)."""
    if len(data) < 64:
        return "isolinux.bin is too small to hold a boot-info table"
    pvd, bi_file, bi_len, bi_csum = struct.unpack_from("<IIII", data, 8)
    body = data[64:]
    body += b"\0" * (-len(body) % 4)
    csum = sum(struct.unpack(f"<{len(body) // 4}I", body)) & 0xFFFFFFFF
    with open(src.path, "rb") as f:
        desc = os.pread(f.fileno(), 6, pvd * SECTOR)
    if desc != b"\x01CD001":
        return (f"boot-info table names sector {pvd} as the primary volume descriptor, "
                "which is not one (no boot-info table, or a stale one)")
    if bi_file != lba:
        return f"boot-info table says isolinux.bin is at sector {bi_file}, it is at {lba}"
    if bi_len != size:
        return f"boot-info table says isolinux.bin is {bi_len} bytes, it is {size}"
    if bi_csum != csum:
        return "boot-info table checksum does not match isolinux.bin (stale table)"
    return None


@check("eltorito-bios", "El Torito BIOS entry", cheap=True)
def check_eltorito_bios(ctx: Ctx) -> Outcome:
    bios = [b for b in ctx.src.eltorito() if b.platform == "BIOS"]
    if not bios:
        return failed("no BIOS El Torito entry: the ISO does not boot from CD in BIOS mode")
    b = bios[0]
    problems = []
    if b.path is None:
        problems.append(f"the entry loads sector {b.load_rba}, which is no file on the ISO")
    elif b.path != ISOLINUX_BIN:
        problems.append(f"the entry loads {b.path}, not {ISOLINUX_BIN}")
    if b.media != "no-emul":
        problems.append(f"media type {b.media}, isolinux needs no-emulation")
    if b.load_size != 4:
        problems.append(f"load size {b.load_size} sectors, isolinux expects 4")
    if not b.bootable:
        problems.append("the entry is not marked bootable")
    if b.path is not None:
        off, size = ctx.src.extent(b.path)
        p = _boot_info_table_problem(ctx.src, ctx.src.read(b.path), off // SECTOR, size)
        if p:
            problems.append(p)
    if problems:
        return failed(problems)
    return passed(f"{b.path}: no-emul, load size 4, boot-info table valid")


@check("eltorito-uefi", "El Torito UEFI entry", cheap=True)
def check_eltorito_uefi(ctx: Ctx) -> Outcome:
    uefi = [b for b in ctx.src.eltorito() if b.platform == "UEFI"]
    if not uefi:
        if not ctx.src.exists(EFIBOOT_IMG):
            return skipped(f"no UEFI entry and no {EFIBOOT_IMG}: a BIOS-only ISO")
        return failed(f"no UEFI El Torito entry although {EFIBOOT_IMG} exists: the ISO does not "
                      "boot from CD in UEFI mode")
    b = uefi[0]
    problems = []
    if b.path is None:
        problems.append(f"the entry loads sector {b.load_rba}, which is no file on the ISO")
    if b.media != "no-emul":
        problems.append(f"media type {b.media}, expected no-emulation")
    if not b.bootable:
        problems.append("the entry is not marked bootable")
    if b.path is not None and b.path == EFIBOOT_IMG:
        ctx.load_efiboot()
        if ctx.efiboot_error:
            problems.append(ctx.efiboot_error)
        elif ctx.efiboot_files is not None and EFI_LOADER.lower() not in (
                f.lower() for f in ctx.efiboot_files):
            problems.append(f"{EFIBOOT_IMG} has no {EFI_LOADER}: UEFI firmware finds no loader")
    if problems:
        return failed(problems)
    assert b.path is not None
    size = ctx.src.entry(b.path).size
    cover = ("covers the image" if b.load_size * 512 >= size
             else f"{b.load_size * 512} of {size} bytes")
    return passed(f"{b.path}: no-emul FAT image with {EFI_LOADER} (load size {b.load_size} "
                  f"sectors, {cover})")


# ---------------------------------------------------------------------------
# hybrid MBR / GPT


@check("hybrid-mbr", "Hybrid MBR (USB boot)", cheap=True)
def check_hybrid(ctx: Ctx) -> Outcome:
    h = hybrid.inspect(ctx.src.path)
    if not h.mbr_signature:
        return failed("no MBR (no 55AA signature): the ISO does not boot from a USB stick")
    problems = []
    if not h.isohybrid:
        problems.append("the MBR boot code is not syslinux isohybrid's: BIOS USB boot would "
                        "not reach isolinux")
    vol = ctx.src.pycdlib.pvd.space_size * SECTOR
    p1 = next((p for p in h.partitions if p.index == 1), None)
    if p1 is None:
        problems.append("MBR has no partition 1 (the installer mounts partition 1 of a USB "
                        "stick to find its packages)")
    else:
        if p1.start != 0:
            problems.append(f"partition 1 starts at sector {p1.start}, not 0: it does not hold "
                            "the ISO 9660 filesystem")
        if p1.size < vol:
            problems.append(f"partition 1 is {p1.size} bytes, smaller than the {vol}-byte ISO "
                            "volume")
        if p1.offset + p1.size > ctx.src.size:
            problems.append(f"partition 1 ends at byte {p1.offset + p1.size}, past the end of "
                            f"the {ctx.src.size}-byte image")
    efi = h.efi_partition()
    has_uefi = any(b.platform == "UEFI" for b in ctx.src.eltorito())
    evidence_efi = ""
    if has_uefi and ctx.src.exists(EFIBOOT_IMG):
        off, size = ctx.src.extent(EFIBOOT_IMG)
        if efi is None:
            problems.append("no 0xEF (EFI system) partition: the ISO does not boot from a USB "
                            "stick in UEFI mode")
        elif efi.offset != off or efi.size != (size + 511) // 512 * 512:
            problems.append(f"0xEF partition {efi.index} covers bytes {efi.offset}+{efi.size}, "
                            f"but {EFIBOOT_IMG} is at {off}+{size}")
        else:
            evidence_efi = f", 0xEF partition {efi.index} = {EFIBOOT_IMG} at byte {off}"
    elif efi is not None:
        evidence_efi = f", 0xEF partition {efi.index} (no UEFI El Torito entry)"
    if problems:
        return failed(problems)
    assert p1 is not None
    return passed(f"isohybrid MBR: partition 1 at sector 0 holds the {units.size(vol)} ISO"
                  f"{evidence_efi}")


@check("gpt", "GPT", cheap=True)
def check_gpt(ctx: Ctx) -> Outcome:
    with open(ctx.src.path, "rb") as f:
        info = hybrid.parse_gpt(f.fileno(), ctx.src.size)
    if not info.present:
        return skipped("no GPT (MBR-only hybrid)")
    problems = list(info.problems)
    if ctx.src.exists(EFIBOOT_IMG) and any(b.platform == "UEFI" for b in ctx.src.eltorito()):
        off, size = ctx.src.extent(EFIBOOT_IMG)
        first, last = off // 512, (off + size + 511) // 512 - 1
        if not any(p.first_lba == first and p.last_lba == last for p in info.partitions):
            problems.append(f"no GPT partition covers {EFIBOOT_IMG} (sectors {first}-{last})")
    if problems:
        return failed(problems)
    return passed(f"primary and backup agree, CRCs valid, {len(info.partitions)} partitions "
                  f"(backup header at sector {info.backup_lba})")
