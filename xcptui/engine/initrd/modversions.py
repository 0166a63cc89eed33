"""Symbol versions (CONFIG_MODVERSIONS): will a module really load into a kernel tree?

XCP-ng 8.2 and 8.3 both build ``4.19.0+1`` with the same vermagic, so vermagic alone
cannot tell their modules apart: only the CRCs of the symbols a module imports can
(the kernel refuses a mismatch with "disagrees about version of symbol"). A module
lists what it imports in its ``__versions`` section (``struct modversion_info
{unsigned long crc; char name[56];}``) and what it exports as absolute ``__crc_NAME``
symbols. The image has no Module.symvers, but every module of a tree imports
``module_layout`` and its other vmlinux symbols with their CRCs, so the union of the
tree's ``__versions`` tables and ``__crc_`` exports is the tree's symbol table.

ELF is parsed by hand (bounds-checked, hostile input): pyelftools would cost seconds on
the 2,600 modules of a real tree.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

_ENTRY = 64  # sizeof(struct modversion_info) on 64-bit
_NAME = _ENTRY - 8


@dataclass(frozen=True)
class Versions:
    """What one module imports (``__versions``) and exports (``__crc_*``), name -> CRC."""

    imports: dict[str, int] = field(default_factory=dict)
    exports: dict[str, int] = field(default_factory=dict)


class _Elf:
    def __init__(self, data: bytes) -> None:
        if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            raise ValueError("not a 64-bit little-endian ELF file")
        self.data = data
        shoff, = struct.unpack_from("<Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
        if shentsize != 64 or shnum > 65535 or shoff + shnum * 64 > len(data):
            raise ValueError("section headers past the end of the file")
        self.sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * 64)
                         for i in range(shnum)]
        if shnum and shstrndx >= shnum:
            raise ValueError("bad section-name table index")
        self.shstr = self.body(shstrndx) if shnum else b""

    def body(self, i: int) -> bytes:
        sh = self.sections[i]
        off, size = sh[4], sh[5]
        if sh[1] == 8:  # SHT_NOBITS
            return b""
        if off + size > len(self.data):
            raise ValueError("section past the end of the file")
        return self.data[off:off + size]

    def name(self, i: int) -> str:
        start = self.sections[i][0]
        end = self.shstr.find(b"\0", start)
        return self.shstr[start:end if end >= 0 else None].decode("latin-1")

    def find(self, name: str) -> int | None:
        return next((i for i in range(len(self.sections)) if self.name(i) == name), None)


def _cstr(b: bytes) -> str:
    return b.split(b"\0", 1)[0].decode("latin-1")


def read_versions(data: bytes) -> Versions:
    """The module's imported and exported symbol CRCs; ValueError when it is not ELF64."""
    try:
        return _read_versions(data)
    except struct.error as e:
        raise ValueError(f"truncated ELF structure ({e})") from None


def _read_versions(data: bytes) -> Versions:
    elf = _Elf(data)
    imports: dict[str, int] = {}
    sec = elf.find("__versions")
    if sec is not None:
        body = elf.body(sec)
        for off in range(0, len(body) - _ENTRY + 1, _ENTRY):
            crc, = struct.unpack_from("<Q", body, off)
            name = _cstr(body[off + 8:off + 8 + _NAME])
            if name:
                imports[name] = crc & 0xFFFFFFFF
    exports: dict[str, int] = {}
    symtab = next((i for i, sh in enumerate(elf.sections) if sh[1] == 2), None)  # SHT_SYMTAB
    if symtab is not None:
        link = elf.sections[symtab][6]
        if link >= len(elf.sections):
            raise ValueError("bad string-table index")
        strtab = elf.body(link)
        syms = elf.body(symtab)
        for off in range(0, len(syms) - 24 + 1, 24):
            st_name, _info, _other, shndx, value, _size = struct.unpack_from("<IBBHQQ", syms, off)
            if shndx != 0xFFF1:  # SHN_ABS: genksyms' "__crc_NAME = 0x..." definitions
                continue
            end = strtab.find(b"\0", st_name)
            nm = strtab[st_name:end if end >= 0 else None].decode("latin-1")
            if nm.startswith("__crc_"):
                exports[nm[6:]] = value & 0xFFFFFFFF
    return Versions(imports, exports)


@dataclass
class TreeSymbols:
    """A kernel tree's symbol CRCs, learned from the modules it holds."""

    crcs: dict[str, int] = field(default_factory=dict)
    modules: int = 0

    @classmethod
    def learn(cls, modules: Iterable[bytes], skip: Iterable[str] = ()) -> TreeSymbols:
        out = cls()
        for data in modules:
            try:
                v = read_versions(data)
            except (ValueError, struct.error):
                continue  # compressed or foreign: it cannot vouch for anything
            out.modules += 1
            for name, crc in (*v.imports.items(), *v.exports.items()):
                out.crcs.setdefault(name, crc)
        for name in skip:
            out.crcs.pop(name, None)
        return out


@dataclass(frozen=True)
class SymbolVerdict:
    mismatched: list[tuple[str, int, int]]  # (symbol, module's CRC, tree's CRC)
    unknown: list[str]  # imported symbols no module of the tree mentions
    checked: int

    @property
    def ok(self) -> bool:
        return not self.mismatched


def check_symbols(module: Versions, tree: TreeSymbols) -> SymbolVerdict:
    """Compare the CRCs a module expects with the ones the tree's modules agree on."""
    mism: list[tuple[str, int, int]] = []
    unknown: list[str] = []
    checked = 0
    for name, crc in sorted(module.imports.items(), key=lambda kv: kv[0] != "module_layout"):
        want = tree.crcs.get(name)
        if want is None:
            unknown.append(name)
            continue
        checked += 1
        if want != crc:
            mism.append((name, crc, want))
    return SymbolVerdict(mism, unknown, checked)


def describe(verdict: SymbolVerdict, label: str, kver: str) -> str:
    """One line for a refusal: the first mismatching symbol, module_layout first."""
    name, mine, theirs = verdict.mismatched[0]
    more = f" (and {len(verdict.mismatched) - 1} more)" if len(verdict.mismatched) > 1 else ""
    return (f"{label}: built for another kernel: disagrees about version of symbol {name} "
            f"(module 0x{mine:08x}, {kver} 0x{theirs:08x}){more}")
