"""Reading ISOs: names, tree, extents, El Torito, hybrid tables, bad inputs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import bsdtar_files, iso_member
from xcptui.engine.errors import InputError
from xcptui.engine.iso import hybrid
from xcptui.engine.iso.read import IsoSource

LONG_RPM = "xcp-ng-pv-tools-8.3-12.xcpng8.3.with.an.exceptionally.long.release.tag.noarch.rpm"


def test_tree_names_and_sizes_match_bsdtar(demo_iso: Path) -> None:
    ref = bsdtar_files(demo_iso)
    with IsoSource.open(demo_iso) as src:
        assert src.name_source == "rockridge"
        ours = {e.path.lstrip("/"): e.size for e in src.walk() if not e.is_dir}
        assert set(ours) == set(ref)
        assert f"Packages/{LONG_RPM}" in ours
        assert src.read("/.treeinfo") == iso_member(demo_iso, ".treeinfo")
        assert src.read("/install.img", limit=3) == b"BZh"


def test_eltorito_and_hybrid_facts(demo_iso: Path) -> None:
    with IsoSource.open(demo_iso) as src:
        boots = src.eltorito()
        assert [(b.platform, b.path, b.load_size, b.boot_info_table) for b in boots] == [
            ("BIOS", "/boot/isolinux/isolinux.bin", 4, True),
            ("UEFI", "/boot/efiboot.img", 5760, False),
        ]
        assert src.boot_catalog_path() == "/boot/isolinux/boot.cat"
        efi_off, efi_size = src.extent("/boot/efiboot.img")
    h = hybrid.inspect(demo_iso)
    assert h.isohybrid and h.mbr_signature
    efi = h.efi_partition()
    assert efi is not None and efi.offset == efi_off and efi.size == efi_size
    assert h.partitions[0].start == 0
    assert h.gpt.present and h.gpt.problems == []


def test_extract_subtree_is_user_writable_and_has_no_boot_junk(demo_iso: Path,
                                                                tmp_path: Path) -> None:
    with IsoSource.open(demo_iso) as src:
        files = src.extract("/boot", tmp_path)
        src.extract("/", tmp_path / "all")
    assert (tmp_path / "boot" / "isolinux" / "isolinux.cfg").is_file()
    assert all(os.access(f, os.W_OK) for f in files)
    assert not (tmp_path / "all" / "[BOOT]").exists()
    assert (tmp_path / "all" / "install.img").stat().st_size > 0


def test_not_an_iso(tmp_path: Path) -> None:
    p = tmp_path / "x.iso"
    p.write_bytes(b"hello" * 10000)
    with pytest.raises(InputError, match="not an ISO 9660 image"):
        IsoSource.open(p)
    with pytest.raises(InputError, match="no such file"):
        IsoSource.open(tmp_path / "absent.iso")
    with pytest.raises(InputError, match="is a directory"):
        IsoSource.open(tmp_path)


def test_truncated_iso(demo_iso: Path, tmp_path: Path) -> None:
    p = tmp_path / "cut.iso"
    with open(demo_iso, "rb") as f, open(p, "wb") as g:
        g.write(f.read(demo_iso.stat().st_size // 2))
    with pytest.raises(InputError, match="truncated"):
        IsoSource.open(p)


def test_gpt_repair_fixes_a_broken_array_crc(demo_iso: Path, tmp_path: Path) -> None:
    p = tmp_path / "g.iso"
    shutil.copy(demo_iso, p)
    # Corrupt one byte of the primary partition array (an unused entry).
    with open(p, "r+b") as f:
        f.seek(1024 + 127 * 128)
        f.write(b"\x01")
    assert "primary GPT partition-array CRC mismatch" in hybrid.inspect(p).gpt.problems
    assert hybrid.repair_gpt(p)
    assert hybrid.inspect(p).gpt.problems == []
    out = __import__("subprocess").run(["sgdisk", "-v", str(p)], capture_output=True, text=True)
    assert "CRC" not in out.stdout
