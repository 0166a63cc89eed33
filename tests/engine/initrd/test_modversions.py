"""Symbol CRCs: a module built for another kernel ABI with the right vermagic is caught."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from xcptui.engine.initrd.modversions import (
    TreeSymbols,
    check_symbols,
    describe,
    read_versions,
)


def ko(tmp: Path, name: str, imports: dict[str, int], exports: dict[str, int]) -> bytes:
    """A relocatable ELF object with a real __versions table and __crc_ exports (gcc)."""
    rows = ", ".join(f'{{ 0x{c:08x}UL, "{n}" }}' for n, c in imports.items())
    src = ["struct modversion_info { unsigned long crc; char name[56]; };"]
    if imports:
        src.append("static const struct modversion_info ____versions[] "
                   f'__attribute__((used, section("__versions"))) = {{ {rows} }};')
    for n, c in exports.items():
        src.append(f'int {n}(void) {{ return 1; }} asm(".globl __crc_{n}\\n.set __crc_{n}, '
                   f'0x{c:08x}");')
    src.append("int init_module(void) { return 0; }")
    c = tmp / f"{name}.c"
    c.write_text("\n".join(src) + "\n")
    out = tmp / f"{name}.ko"
    subprocess.run(["gcc", "-c", "-O2", "-fno-pic", "-o", str(out), str(c)], check=True)
    return out.read_bytes()


LAYOUT_83, LAYOUT_82 = 0x1A2B3C4D, 0x0BADF00D


def test_reads_imports_and_exports(tmp_path: Path) -> None:
    v = read_versions(ko(tmp_path, "a", {"module_layout": LAYOUT_83, "printk": 0x27E1A049},
                         {"mdio45_probe": 0xDEADBEEF}))
    assert v.imports == {"module_layout": LAYOUT_83, "printk": 0x27E1A049}
    assert v.exports == {"mdio45_probe": 0xDEADBEEF}


def test_wrong_abi_is_refused_naming_the_symbol(tmp_path: Path) -> None:
    tree = TreeSymbols.learn([
        ko(tmp_path, "igb", {"module_layout": LAYOUT_83, "printk": 0x27E1A049}, {}),
        ko(tmp_path, "mdio", {"module_layout": LAYOUT_83}, {"mdio45_probe": 0xDEADBEEF}),
    ])
    assert tree.modules == 2
    good = read_versions(ko(tmp_path, "good", {"module_layout": LAYOUT_83,
                                               "mdio45_probe": 0xDEADBEEF}, {}))
    assert check_symbols(good, tree).ok
    bad = read_versions(ko(tmp_path, "bad", {"printk": 0x27E1A049,
                                             "module_layout": LAYOUT_82}, {}))
    verdict = check_symbols(bad, tree)
    assert not verdict.ok
    msg = describe(verdict, "igc.ko", "4.19.0+1")
    assert "disagrees about version of symbol module_layout" in msg
    assert "0x0badf00d" in msg and "0x1a2b3c4d" in msg


def test_unknown_symbols_are_reported_not_refused(tmp_path: Path) -> None:
    tree = TreeSymbols.learn([ko(tmp_path, "igb", {"module_layout": LAYOUT_83}, {})])
    v = read_versions(ko(tmp_path, "n", {"module_layout": LAYOUT_83, "rare_symbol": 1}, {}))
    verdict = check_symbols(v, tree)
    assert verdict.ok and verdict.unknown == ["rare_symbol"] and verdict.checked == 1


@pytest.mark.parametrize("data", [b"", b"\x7fELF" + b"\x02\x01" + b"\0" * 58,
                                  b"\x7fELF\x02\x01" + b"\xff" * 200, b"MZ" * 100])
def test_hostile_elf_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        read_versions(data)


def test_tree_ignores_modules_it_cannot_read(tmp_path: Path) -> None:
    tree = TreeSymbols.learn([b"not elf", ko(tmp_path, "a", {"module_layout": 5}, {})])
    assert tree.modules == 1 and tree.crcs == {"module_layout": 5}
