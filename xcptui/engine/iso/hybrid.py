"""Hybrid (USB-bootable) partition tables of an ISO: MBR and GPT, read, check and repair.

``isohybrid --uefi`` writes an MBR whose partition 1 starts at sector 0 and holds
the whole ISO, plus a 0xEF partition covering ``boot/efiboot.img``, and a GPT
(primary at LBA 1, backup at the end of the image). pycdlib rewrites these when it
writes an ISO but leaves the GPT partition-array CRC computed over the used
entries only; firmware that validates GPT rejects that. ``repair_gpt`` recomputes
both arrays and headers from the primary table.
"""

from __future__ import annotations

import os
import struct
import uuid
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any

SECTOR = 512
GPT_SIG = b"EFI PART"
# GPT partition type GUIDs we name
GPT_TYPES = {
    "c12a7328-f81f-11d2-ba4b-00a0c93ec93b": "EFI System",
    "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7": "Basic data",
    "0fc63daf-8483-4772-8e79-3d69d8477de4": "Linux filesystem",
    "48465300-0000-11aa-aa11-00306543ecac": "Apple HFS+",
}


@dataclass
class MbrPartition:
    index: int  # 1-based
    bootable: bool
    type: int
    start: int  # in 512-byte sectors
    sectors: int

    @property
    def offset(self) -> int:
        return self.start * SECTOR

    @property
    def size(self) -> int:
        return self.sectors * SECTOR


@dataclass
class GptPartition:
    index: int
    type_guid: str
    type_name: str
    guid: str
    first_lba: int
    last_lba: int
    name: str


@dataclass
class GptInfo:
    present: bool
    problems: list[str] = field(default_factory=list)
    partitions: list[GptPartition] = field(default_factory=list)
    backup_lba: int = 0
    num_entries: int = 0
    entry_size: int = 0


@dataclass
class HybridInfo:
    mbr_signature: bool
    isohybrid: bool  # syslinux isohdpfx boot code recognised
    partitions: list[MbrPartition]
    gpt: GptInfo

    def efi_partition(self) -> MbrPartition | None:
        return next((p for p in self.partitions if p.type == 0xEF), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# The isohdpfx.bin boot code of syslinux starts with these bytes (what pycdlib keys on).
_ISOHYBRID_HEADER = b"\x33\xed"


def parse_mbr(sector0: bytes) -> tuple[bool, list[MbrPartition]]:
    if len(sector0) < SECTOR or sector0[510:512] != b"\x55\xaa":
        return False, []
    parts = []
    for i in range(4):
        e = sector0[446 + 16 * i: 446 + 16 * (i + 1)]
        boot, ptype = e[0], e[4]
        start, count = struct.unpack_from("<II", e, 8)
        if ptype == 0 and count == 0:
            continue
        parts.append(MbrPartition(i + 1, boot == 0x80, ptype, start, count))
    return True, parts


def _guid(b: bytes) -> str:
    return str(uuid.UUID(bytes_le=b))


def _read_at(fd: int, offset: int, size: int) -> bytes:
    return os.pread(fd, size, offset)


def _parse_gpt_header(raw: bytes) -> dict[str, Any] | None:
    if raw[:8] != GPT_SIG:
        return None
    (rev, hsize, hcrc, _r, my_lba, alt_lba, first, last, dguid, ent_lba, n, esize,
     ecrc) = struct.unpack_from("<IIIIQQQQ16sQIII", raw, 8)
    if not 92 <= hsize <= SECTOR:
        return {"bad": f"header size {hsize} is invalid"}
    chk = bytearray(raw[:hsize])
    chk[16:20] = b"\0\0\0\0"
    return {
        "rev": rev, "hsize": hsize, "hcrc": hcrc, "hcrc_ok": zlib.crc32(chk) == hcrc,
        "my_lba": my_lba, "alt_lba": alt_lba, "first": first, "last": last,
        "disk_guid": _guid(dguid), "ent_lba": ent_lba, "n": n, "esize": esize, "ecrc": ecrc,
    }


def parse_gpt(fd: int, image_size: int) -> GptInfo:
    """Read and check primary and backup GPT; every inconsistency becomes a problem line."""
    prim = _parse_gpt_header(_read_at(fd, SECTOR, SECTOR))
    if prim is None:
        return GptInfo(False)
    info = GptInfo(True)
    if "bad" in prim:
        info.problems.append(f"primary GPT: {prim['bad']}")
        return info
    if not prim["hcrc_ok"]:
        info.problems.append("primary GPT header CRC mismatch")
    n, esize = prim["n"], prim["esize"]
    info.num_entries, info.entry_size, info.backup_lba = n, esize, prim["alt_lba"]
    if esize < 128 or n * esize > 1 << 20:
        info.problems.append(f"primary GPT: implausible entry array ({n} x {esize})")
        return info
    arr = _read_at(fd, prim["ent_lba"] * SECTOR, n * esize)
    if len(arr) < n * esize:
        info.problems.append("primary GPT entry array runs past the end of the image")
        return info
    if zlib.crc32(arr) != prim["ecrc"]:
        info.problems.append("primary GPT partition-array CRC mismatch")
    for i in range(n):
        e = arr[i * esize: (i + 1) * esize]
        if e[:16] == b"\0" * 16:
            continue
        tg = _guid(e[:16])
        first, last = struct.unpack_from("<QQ", e, 32)
        name = e[56:128].decode("utf-16-le", "replace").rstrip("\0")
        info.partitions.append(GptPartition(i + 1, tg, GPT_TYPES.get(tg, "unknown"),
                                            _guid(e[16:32]), first, last, name))
    last_lba = image_size // SECTOR - 1
    if prim["alt_lba"] != last_lba:
        info.problems.append(
            f"backup GPT header expected at the last sector {last_lba}, header says "
            f"{prim['alt_lba']}")
    for p in info.partitions:
        if p.last_lba > last_lba or p.first_lba > p.last_lba:
            info.problems.append(f"GPT partition {p.index} ({p.first_lba}-{p.last_lba}) is "
                                 "outside the image")
    back = _parse_gpt_header(_read_at(fd, prim["alt_lba"] * SECTOR, SECTOR))
    if back is None or "bad" in back:
        info.problems.append("backup GPT header missing at the sector the primary names")
        return info
    if not back["hcrc_ok"]:
        info.problems.append("backup GPT header CRC mismatch")
    barr = _read_at(fd, back["ent_lba"] * SECTOR, back["n"] * back["esize"])
    if zlib.crc32(barr) != back["ecrc"]:
        info.problems.append("backup GPT partition-array CRC mismatch")
    if barr != arr:
        info.problems.append("backup GPT partition array differs from the primary")
    if back["disk_guid"] != prim["disk_guid"]:
        info.problems.append("backup GPT disk GUID differs from the primary")
    return info


def inspect(path: str | os.PathLike[str]) -> HybridInfo:
    with open(path, "rb") as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        s0 = _read_at(fd, 0, SECTOR)
        ok, parts = parse_mbr(s0)
        gpt = parse_gpt(fd, size) if size > 2 * SECTOR else GptInfo(False)
    return HybridInfo(ok, ok and s0[:2] == _ISOHYBRID_HEADER, parts, gpt)


def repair_gpt(path: str | os.PathLike[str]) -> bool:
    """Make the GPT self-consistent from the primary table; return True if anything changed.

    Rebuilds the entry-array CRC over every declared entry, places the backup array and
    header at the end of the image (mirroring the primary) and recomputes header CRCs.
    """
    with open(path, "r+b") as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        raw = _read_at(fd, SECTOR, SECTOR)
        prim = _parse_gpt_header(raw)
        if prim is None or "bad" in prim:
            return False
        n, esize, hsize = prim["n"], prim["esize"], prim["hsize"]
        arr = _read_at(fd, prim["ent_lba"] * SECTOR, n * esize)
        last_lba = size // SECTOR - 1
        arr_sectors = (n * esize + SECTOR - 1) // SECTOR
        back_arr_lba = last_lba - arr_sectors
        ecrc = zlib.crc32(arr)

        def header(my: int, alt: int, ent: int) -> bytes:
            h = bytearray(raw[:hsize])
            struct.pack_into("<QQ", h, 24, my, alt)
            struct.pack_into("<Q", h, 48, last_lba - arr_sectors - 1)  # last usable
            struct.pack_into("<Q", h, 72, ent)
            struct.pack_into("<I", h, 88, ecrc)
            h[16:20] = b"\0\0\0\0"
            struct.pack_into("<I", h, 16, zlib.crc32(h))
            return bytes(h) + b"\0" * (SECTOR - hsize)

        new_prim = header(1, last_lba, prim["ent_lba"])
        new_back = header(last_lba, 1, back_arr_lba)
        changed = (
            new_prim != _read_at(fd, SECTOR, SECTOR)
            or new_back != _read_at(fd, last_lba * SECTOR, SECTOR)
            or arr != _read_at(fd, back_arr_lba * SECTOR, n * esize)
        )
        if changed:
            os.pwrite(fd, new_prim, SECTOR)
            os.pwrite(fd, arr, back_arr_lba * SECTOR)
            os.pwrite(fd, new_back, last_lba * SECTOR)
        return changed
