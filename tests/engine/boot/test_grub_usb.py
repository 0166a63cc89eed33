"""Pre-2023 8.2.x media: EFI/xenserver/grub-usb.cfg is a fourth boot config, edited,
compared, inspected and verified with the other three; efiboot.img's grub.cfg is found
wherever it lives in the FAT image.

Test media: the 8.2 demo ISO with grub-usb.cfg added by the engine's own [[iso.files]]
build. Results are read back with bsdtar (ISO files) and mtools (efiboot.img).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import iso_member
from xcptui.engine import recipe
from xcptui.engine.build import boot_stage, facts
from xcptui.engine.build import runner as build
from xcptui.engine.errors import InputError
from xcptui.engine.iso import efiboot
from xcptui.engine.iso.read import IsoSource
from xcptui.engine.verify import checks as verify

MT_ENV = dict(os.environ, MTOOLS_SKIP_CHECK="1", MTOOLSRC=os.devnull)
CFGS = ("boot/isolinux/isolinux.cfg", "EFI/xenserver/grub.cfg", "EFI/xenserver/grub-usb.cfg")


def _with_files(src: Path, out: Path, files: dict[str, Path], work: Path) -> Path:
    text = "".join(f'[[iso.files]]\nsource = "{s}"\ndest = "{d}"\n' for d, s in files.items())
    build.build(src, recipe.loads(text, work), out, verify=False)
    return out


@pytest.fixture(scope="module")
def iso82(iso_factory: Callable[..., Path]) -> Path:
    return iso_factory(version="8.2", volume_id="XCP-ng 8.2.1")


@pytest.fixture(scope="module")
def iso82_usb(iso82: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8.2 demo media plus an ISO-side grub-usb.cfg (a copy of grub.cfg, as on old media)."""
    work = tmp_path_factory.mktemp("usb82")
    cfg = work / "grub-usb.cfg"
    cfg.write_bytes(iso_member(iso82, "EFI/xenserver/grub.cfg"))
    return _with_files(iso82, work / "usb82.iso", {"/EFI/xenserver/grub-usb.cfg": cfg}, work)


def _status(rep: verify.Report) -> dict[str, str]:
    return {c.id: c.status for c in rep.checks}


def _said(rep: verify.Report, cid: str) -> str:
    c = next(c for c in rep.checks if c.id == cid)
    return " ".join([c.evidence, *map(str, c.details), *map(str, c.findings)])


def _mtype(iso: Path, inner: str, tmp: Path) -> str:
    img = tmp / "efiboot.img"
    img.write_bytes(iso_member(iso, "boot/efiboot.img"))
    return subprocess.run(["mtype", "-i", str(img), "::" + inner], capture_output=True,
                          check=True, env=MT_ENV).stdout.decode()


def test_fixture_is_structurally_sound(iso82_usb: Path) -> None:
    listing = subprocess.run(["bsdtar", "-tf", str(iso82_usb)], capture_output=True,
                             text=True, check=True).stdout.split()
    assert "EFI/xenserver/grub-usb.cfg" in listing
    rep = verify.verify(iso82_usb)
    st = _status(rep)
    for cid in ("eltorito-bios", "eltorito-uefi", "hybrid-mbr", "gpt", "boot-configs",
                "boot-files"):
        if cid in st:
            assert st[cid] == "pass", (cid, rep.lines())
    assert "grub-usb (6 installer entries)" in _said(rep, "boot-configs")


def test_inspect_reports_grub_usb(iso82_usb: Path, demo_iso: Path) -> None:
    with IsoSource.open(iso82_usb) as src:
        b = facts.boot_facts(src)
    assert b["grub_usb_cfg"] is True and "grub-usb.cfg" in b["configs"]
    assert b["efiboot_grub_cfg"] == "/EFI/xenserver/grub.cfg" and b["differences"] == []
    with IsoSource.open(demo_iso) as src:  # 8.3 media have none
        b = facts.boot_facts(src)
    assert b["grub_usb_cfg"] is False and "grub-usb.cfg" not in b["configs"]


def test_boot_edit_reaches_all_four(iso82_usb: Path, tmp_path: Path) -> None:
    r = recipe.loads('[boot]\nappend = ["sshpassword=pw"]\nremove = ["console=tty0"]\n',
                     tmp_path)
    out = tmp_path / "out.iso"
    res = build.build(iso82_usb, r, out)  # verify on: the four must agree
    assert any("all 4 boot configs" in c for c in res.changes), res.changes
    texts = [iso_member(out, c).decode() for c in CFGS]
    texts.append(_mtype(out, "/EFI/xenserver/grub.cfg", tmp_path))
    for text in texts[1:]:
        mods = [ln for ln in text.splitlines() if "module2 /boot/" in ln and "vmlinuz" in ln]
        assert mods and all("sshpassword=pw" in m and "console=tty0" not in m.split()
                            for m in mods)
    assert texts[2].replace("grub-usb", "grub") == texts[1]  # kept in step
    with IsoSource.open(out) as src:
        eff = dict(boot_stage.per_config_effects(src, {}, None))
    assert set(eff) == {"isolinux.cfg", "grub.cfg", "grub-usb.cfg", "efiboot.img grub.cfg"}


def test_verify_compares_grub_usb(iso82: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "grub-usb.cfg"
    text = iso_member(iso82, "EFI/xenserver/grub.cfg").decode()
    cfg.write_text(text.replace("console=tty0", "console=tty0 debug", 1))
    bad = _with_files(iso82, tmp_path / "bad.iso", {"/EFI/xenserver/grub-usb.cfg": cfg},
                      tmp_path)
    rep = verify.verify(bad)
    assert _status(rep)["boot-configs"] == "fail"
    assert "grub-usb has extra dom0 params 'debug'" in _said(rep, "boot-configs")
    with IsoSource.open(bad) as src:
        assert any("grub-usb.cfg" in d for d in facts.boot_facts(src)["differences"])


def _fat(path: Path, files: dict[str, bytes], tmp: Path) -> Path:
    subprocess.run(["mformat", "-i", str(path), "-C", "-f", "2880", "::"], check=True,
                   env=MT_ENV, capture_output=True)
    made: set[str] = set()
    for inner, data in files.items():
        parts = inner.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/" + "/".join(parts[:i])
            if d not in made:
                subprocess.run(["mmd", "-i", str(path), "::" + d], check=True, env=MT_ENV,
                               capture_output=True)
                made.add(d)
        host = tmp / "f"
        host.write_bytes(data)
        subprocess.run(["mcopy", "-i", str(path), str(host), "::" + inner], check=True,
                       env=MT_ENV, capture_output=True)
    return path


def test_find_grub_cfg_elsewhere(demo_iso: Path, tmp_path: Path) -> None:
    grub = _mtype(demo_iso, "/EFI/xenserver/grub.cfg", tmp_path).encode()
    loader = b"MZ-loader"
    img = _fat(tmp_path / "alt.img", {"/EFI/BOOT/BOOTX64.EFI": loader,
                                      "/EFI/BOOT/grub.cfg": grub}, tmp_path)
    assert efiboot.read_grub_cfg(img) == ("/EFI/BOOT/grub.cfg", grub)
    out = tmp_path / "new.img"
    assert efiboot.replace_grub_cfg(img, b"new\n", out) == "/EFI/BOOT/grub.cfg"
    assert subprocess.run(["mtype", "-i", str(out), "::/EFI/BOOT/grub.cfg"], env=MT_ENV,
                          capture_output=True, check=True).stdout == b"new\n"
    empty = _fat(tmp_path / "none.img", {"/EFI/BOOT/BOOTX64.EFI": loader}, tmp_path)
    with pytest.raises(InputError) as ei:
        efiboot.read_grub_cfg(empty)
    msg = str(ei.value)
    assert "has no grub.cfg" in msg and "/EFI/BOOT/BOOTX64.EFI" in msg and "\n" not in msg
    assert efiboot.find_grub_cfg(["/boot/grub/grub.cfg", "/EFI/x/grub.cfg"]) == \
        "/EFI/x/grub.cfg"
    assert efiboot.find_grub_cfg(["/efi/XENSERVER/GRUB.CFG", "/EFI/BOOT/grub.cfg"]) == \
        "/efi/XENSERVER/GRUB.CFG"


def test_build_edits_grub_cfg_where_it_lives(demo_iso: Path, tmp_path: Path) -> None:
    """An efiboot.img whose grub.cfg is /EFI/BOOT/grub.cfg: found, edited there."""
    orig = tmp_path / "orig.img"
    orig.write_bytes(iso_member(demo_iso, "boot/efiboot.img"))
    moved = tmp_path / "moved.img"
    grub = efiboot.read_file(orig, "/EFI/xenserver/grub.cfg")
    loader = efiboot.read_file(orig, efiboot.LOADER)
    _fat(moved, {"/EFI/BOOT/BOOTX64.EFI": loader, "/EFI/BOOT/grub.cfg": grub}, tmp_path)
    assert moved.stat().st_size == orig.stat().st_size
    src = _with_files(demo_iso, tmp_path / "moved.iso", {"/boot/efiboot.img": moved},
                      tmp_path)
    out = tmp_path / "out.iso"
    res = build.build(src, recipe.loads('[boot]\nappend = ["xyz=1"]\n', tmp_path), out,
                      verify=False)
    assert any("all 3 boot configs" in c for c in res.changes), res.changes
    text = _mtype(out, "/EFI/BOOT/grub.cfg", tmp_path)
    mods = [ln for ln in text.splitlines() if "module2 /boot/" in ln and "vmlinuz" in ln]
    assert mods and all("xyz=1" in m for m in mods)
    rep = verify.verify(out)
    assert _status(rep)["boot-configs"] == "pass", rep.lines()


def test_diff_compares_grub_usb(iso82: Path, iso82_usb: Path, tmp_path: Path) -> None:
    from xcptui.engine.diff.compare import diff_isos

    added = diff_isos(iso82, iso82_usb)
    assert [(c.name, c.change) for c in added.boot] == [("grub-usb.cfg", "added")]
    cfg = tmp_path / "grub-usb.cfg"
    text = iso_member(iso82, "EFI/xenserver/grub.cfg").decode()
    cfg.write_text(text.replace("console=tty0", "console=tty0 debug", 1))
    edited = _with_files(iso82, tmp_path / "edited.iso", {"/EFI/xenserver/grub-usb.cfg": cfg},
                         tmp_path)
    rep = diff_isos(iso82_usb, edited)
    assert [c.name for c in rep.boot] == ["grub-usb.cfg"]  # grub.cfg and the rest unchanged
    assert any(e.dom0_added == ["debug"] for e in rep.boot[0].entries)


def test_efiboot_without_grub_cfg_is_older_media(demo_iso: Path, tmp_path: Path) -> None:
    """create-install-image before mid-2023 put only BOOTX64.EFI in efiboot.img (its grub
    reads the ISO's grub.cfg): boot edits reach the ISO-side configs, verify passes."""
    orig = tmp_path / "orig.img"
    orig.write_bytes(iso_member(demo_iso, "boot/efiboot.img"))
    bare = tmp_path / "bare.img"
    _fat(bare, {"/EFI/BOOT/BOOTX64.EFI": efiboot.read_file(orig, efiboot.LOADER)}, tmp_path)
    src = _with_files(demo_iso, tmp_path / "bare.iso", {"/boot/efiboot.img": bare}, tmp_path)
    out = tmp_path / "out.iso"
    res = build.build(src, recipe.loads('[boot]\nappend = ["xyz=1"]\n', tmp_path), out,
                      verify=True)
    assert any("all 2 boot configs" in c for c in res.changes), res.changes
    for cfg in CFGS[:2]:
        assert b"xyz=1" in iso_member(out, cfg)
    assert efiboot.list_files(_efi_of(out, tmp_path)) == ["/EFI/BOOT/BOOTX64.EFI"]
    assert _status(verify.verify(out))["boot-configs"] == "pass"


def _efi_of(iso: Path, tmp: Path) -> Path:
    p = tmp / "efi-of.img"
    p.write_bytes(iso_member(iso, "boot/efiboot.img"))
    return p
