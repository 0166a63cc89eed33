"""verify: the good fixture passes every check; each kind of damage is caught by its check.

Broken ISOs are made from COPIES of the fixture, with tools independent of the code
under test where possible (genisoimage, mtools on the ISO copy, byte patches), or
through xcptui's own build with plain [[iso.files]] replacements (which does not touch
boot configs, repodata or signatures, so the damage is exactly the one injected).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from xcptui import cli
from xcptui.engine import recipe
from xcptui.engine.build import runner as build
from xcptui.engine.errors import InputError
from xcptui.engine.iso.read import IsoSource
from xcptui.engine.verify import checks as verify
from xcptui.engine.verify import signing as verify_signing

MT_ENV = dict(os.environ, MTOOLS_SKIP_CHECK="1", MTOOLSRC=os.devnull)


def _copy(src: Path, dest: Path) -> Path:
    shutil.copyfile(src, dest)
    return dest


def _status(rep: verify.Report) -> dict[str, str]:
    return {c.id: c.status for c in rep.checks}


def _extract_tree(iso: Path, dest: Path) -> Path:
    dest.mkdir()
    subprocess.run(["bsdtar", "-xf", str(iso), "-C", str(dest)], check=True,
                   capture_output=True)
    for p in [dest, *dest.rglob("*")]:
        if not p.is_symlink():
            p.chmod(p.stat().st_mode | 0o200)
    return dest


def _replace_via_build(iso: Path, out: Path, files: dict[str, Path], work: Path) -> Path:
    """Master a copy with some ISO files replaced (nothing else changes)."""
    text = "".join(f'[[iso.files]]\nsource = "{src}"\ndest = "{dest}"\n'
                   for dest, src in files.items())
    r = recipe.loads(text, work)
    build.build(iso, r, out, verify=False)
    return out


def _extent(iso: Path, path: str) -> tuple[int, int]:
    with IsoSource.open(iso) as src:
        return src.extent(path)


# ---------------------------------------------------------------------------
# the good fixture


def test_good_fixture_passes_every_check(demo_iso: Path) -> None:
    rep = verify.verify(demo_iso)
    st = _status(rep)
    assert rep.ok, "\n".join(rep.lines())
    assert st == {
        "eltorito-bios": "pass", "eltorito-uefi": "pass", "hybrid-mbr": "pass", "gpt": "pass",
        "boot-configs": "pass", "boot-files": "pass", "install-img": "pass",
        "repodata": "pass", "deps": "pass", "treeinfo": "pass", "signature": "pass",
    }
    ev = {c.id: c.evidence for c in rep.checks}
    assert "boot-info table valid" in ev["eltorito-bios"]
    assert "0xEF partition 2 = /boot/efiboot.img" in ev["hybrid-mbr"]
    assert "4 mode-000 files" in ev["install-img"] and "2 device nodes" in ev["install-img"]
    assert "/etc/shadow" in ev["install-img"] and "/dev/console" in ev["install-img"]
    assert "10 RPMs" in ev["repodata"]
    assert "good signature" in ev["signature"]
    for c in rep.checks:  # one line of evidence each
        assert c.evidence and "\n" not in c.evidence
    lines = rep.lines()
    assert lines[-1].startswith("verify: OK: 11 passed, 0 failed, 0 skipped")


def test_unsigned_and_bios_only_fixtures(iso_factory: Callable[..., Path]) -> None:
    unsigned = verify.verify(iso_factory(signed=False))
    assert unsigned.ok, "\n".join(unsigned.lines())
    assert _status(unsigned)["signature"] == "skip"
    assert "unsigned" in (unsigned.get("treeinfo") or verify.Check("", "", "", "")).evidence
    bios = verify.verify(iso_factory(uefi=False))
    assert bios.ok, "\n".join(bios.lines())
    assert _status(bios)["eltorito-uefi"] == "skip"


def test_verify_cli_json_and_exit_codes(demo_iso: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    assert cli.main(["verify", "--json", str(demo_iso)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["counts"]["fail"] == 0
    assert {c["id"] for c in data["checks"]} >= {"eltorito-bios", "repodata", "signature"}
    assert all(set(c) == {"id", "title", "status", "evidence", "details", "findings"}
               for c in data["checks"])


@pytest.mark.parametrize("content", [b"", b"hello, not an ISO\n" * 4000,
                                     bytes(range(256)) * 160],
                         ids=["empty", "text", "binary"])
def test_verify_non_iso_is_one_clear_line(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "notes.iso"
    bad.write_bytes(content)
    with pytest.raises(InputError) as ei:
        verify.verify(bad)
    msg = str(ei.value)
    assert "notes.iso" in msg and "\n" not in msg
    proc = subprocess.run([sys.executable, "-m", "xcptui", "verify", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("xcptui: error:") and "notes.iso" in err[0]
    assert proc.stdout == ""


def test_verify_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        verify.verify(tmp_path / "nope.iso")


# ---------------------------------------------------------------------------
# El Torito / hybrid


@pytest.mark.slow
def test_missing_efi_eltorito_entry_is_caught(demo_iso: Path, tmp_path: Path) -> None:
    tree = _extract_tree(demo_iso, tmp_path / "tree")
    out = tmp_path / "no-efi.iso"
    # genisoimage without -eltorito-alt-boot -e: BIOS entry only, efiboot.img still on it
    subprocess.run(["genisoimage", "-o", str(out), "-quiet", "-r", "-J", "--joliet-long",
                    "-V", "XCP-ng 8.3.0", "-input-charset", "utf-8",
                    "-c", "boot/isolinux/boot.cat", "-b", "boot/isolinux/isolinux.bin",
                    "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table", str(tree)],
                   check=True, capture_output=True)
    subprocess.run(["isohybrid", str(out)], check=True, capture_output=True)
    rep = verify.verify(out)
    st = _status(rep)
    assert not rep.ok
    assert st["eltorito-uefi"] == "fail"
    assert "no UEFI El Torito entry" in (rep.get("eltorito-uefi") or verify.Check(
        "", "", "", "")).evidence
    assert st["eltorito-bios"] == "pass" and st["repodata"] == "pass"


def test_zeroed_mbr_is_caught(demo_iso: Path, tmp_path: Path) -> None:
    bad = _copy(demo_iso, tmp_path / "no-hybrid.iso")
    with open(bad, "r+b") as f:
        f.write(b"\0" * 512)
    rep = verify.verify(bad)
    c = rep.get("hybrid-mbr")
    assert c is not None and c.status == "fail"
    assert "does not boot from a USB stick" in c.evidence
    assert _status(rep)["eltorito-bios"] == "pass"


def test_mbr_without_efi_partition_is_caught(demo_iso: Path, tmp_path: Path) -> None:
    bad = _copy(demo_iso, tmp_path / "no-ef.iso")
    with open(bad, "r+b") as f:  # blank MBR partition entry 2 (the 0xEF one)
        f.seek(446 + 16)
        f.write(b"\0" * 16)
    c = verify.verify(bad).get("hybrid-mbr")
    assert c is not None and c.status == "fail" and "0xEF" in c.evidence


def test_moved_efi_partition_is_caught(demo_iso: Path, tmp_path: Path) -> None:
    bad = _copy(demo_iso, tmp_path / "moved-ef.iso")
    with open(bad, "r+b") as f:
        f.seek(446 + 16 + 8)
        start = int.from_bytes(f.read(4), "little")
        f.seek(446 + 16 + 8)
        f.write((start + 4).to_bytes(4, "little"))
    c = verify.verify(bad).get("hybrid-mbr")
    assert c is not None and c.status == "fail" and "covers bytes" in c.evidence


def test_broken_gpt_is_caught(demo_iso: Path, tmp_path: Path) -> None:
    bad = _copy(demo_iso, tmp_path / "bad-gpt.iso")
    with open(bad, "r+b") as f:  # flip a byte of the primary partition array
        f.seek(1024 + 40)
        b = f.read(1)
        f.seek(1024 + 40)
        f.write(bytes([b[0] ^ 0xFF]))
    c = verify.verify(bad).get("gpt")
    assert c is not None and c.status == "fail" and "CRC" in c.evidence


def test_stale_boot_info_table_is_caught(demo_iso: Path, tmp_path: Path) -> None:
    bad = _copy(demo_iso, tmp_path / "stale-bit.iso")
    off, _ = _extent(bad, "/boot/isolinux/isolinux.bin")
    with open(bad, "r+b") as f:  # a byte of isolinux.bin changes, its checksum does not
        f.seek(off + 1000)
        b = f.read(1)
        f.seek(off + 1000)
        f.write(bytes([b[0] ^ 0x01]))
    c = verify.verify(bad).get("eltorito-bios")
    assert c is not None and c.status == "fail" and "checksum" in c.evidence


# ---------------------------------------------------------------------------
# boot menus


def test_drifted_efiboot_grub_copy_is_caught(demo_iso: Path, tmp_path: Path) -> None:
    bad = _copy(demo_iso, tmp_path / "drift.iso")
    off, _ = _extent(bad, "/boot/efiboot.img")
    img = f"{bad}@@{off}"
    cfg = subprocess.run(["mtype", "-i", img, "::/EFI/xenserver/grub.cfg"], env=MT_ENV,
                         check=True, capture_output=True).stdout
    new = cfg.replace(b"console=hvc0 console=tty0\n",
                      b"console=hvc0 console=tty0 answerfile=file:///a.xml install\n", 1)
    assert new != cfg
    edited = tmp_path / "grub.cfg"
    edited.write_bytes(new)
    # rewrite the file inside the FAT image, in place inside the ISO copy
    subprocess.run(["mcopy", "-o", "-i", img, str(edited), "::/EFI/xenserver/grub.cfg"],
                   env=MT_ENV, check=True, capture_output=True)
    rep = verify.verify(bad)
    c = rep.get("boot-configs")
    assert c is not None and c.status == "fail"
    assert "efiboot has extra dom0 params 'answerfile=file:///a.xml install'" in c.evidence
    assert _status(rep)["eltorito-uefi"] == "pass"  # the FAT image itself is fine


def test_drifted_iso_side_grub_cfg_is_caught(demo_iso: Path, tmp_path: Path) -> None:
    bad = _copy(demo_iso, tmp_path / "drift2.iso")
    off, size = _extent(bad, "/EFI/xenserver/grub.cfg")
    with open(bad, "r+b") as f:
        f.seek(off)
        data = f.read(size)
        new = data.replace(b"console=hvc0 console=tty0\n    module2 /install.img",
                           b"console=hvc0 console=tty1\n    module2 /install.img", 1)
        assert len(new) == len(data) and new != data
        f.seek(off)
        f.write(new)
    c = verify.verify(bad).get("boot-configs")
    assert c is not None and c.status == "fail"
    assert any("grub lacks dom0 params 'console=tty0'" in d for d in c.details)


def test_missing_efiboot_search_line_is_caught(demo_iso: Path, tmp_path: Path) -> None:
    bad = _copy(demo_iso, tmp_path / "nosearch.iso")
    off, _ = _extent(bad, "/boot/efiboot.img")
    img = f"{bad}@@{off}"
    cfg = subprocess.run(["mtype", "-i", img, "::/EFI/xenserver/grub.cfg"], env=MT_ENV,
                         check=True, capture_output=True).stdout
    edited = tmp_path / "grub.cfg"
    edited.write_bytes(cfg.replace(b"search --file --set /install.img\n", b""))
    subprocess.run(["mcopy", "-o", "-i", img, str(edited), "::/EFI/xenserver/grub.cfg"],
                   env=MT_ENV, check=True, capture_output=True)
    c = verify.verify(bad).get("boot-configs")
    assert c is not None and c.status == "fail" and "search --file" in c.evidence


def test_missing_boot_file_is_caught(demo_iso: Path, tmp_path: Path) -> None:
    bad = _copy(demo_iso, tmp_path / "nofile.iso")
    for path in ("/boot/isolinux/isolinux.cfg", "/EFI/xenserver/grub.cfg"):
        off, size = _extent(bad, path)
        with open(bad, "r+b") as f:
            f.seek(off)
            data = f.read(size)
            new = data.replace(b"/boot/alt/vmlinuz", b"/boot/alt/vmlinux")
            assert len(new) == len(data)
            f.seek(off)
            f.write(new)
    c = verify.verify(bad).get("boot-files")
    assert c is not None and c.status == "fail"
    assert "/boot/alt/vmlinux" in c.evidence and "is not on the ISO" in c.evidence


# ---------------------------------------------------------------------------
# install.img


@pytest.mark.slow
def test_truncated_install_img_is_caught(demo_iso: Path, tmp_path: Path) -> None:
    with IsoSource.open(demo_iso) as src:
        img = src.read("/install.img")
    cut = tmp_path / "install.img"
    cut.write_bytes(img[: len(img) * 2 // 3])
    bad = _replace_via_build(demo_iso, tmp_path / "cut.iso", {"/install.img": cut}, tmp_path)
    rep = verify.verify(bad)
    c = rep.get("install-img")
    assert c is not None and c.status == "fail"
    assert "install.img" in c.evidence and "\n" not in c.evidence
    assert _status(rep)["boot-files"] == "pass" and _status(rep)["hybrid-mbr"] == "pass"


@pytest.mark.slow
def test_install_img_without_shadow_is_caught(demo_iso: Path, tmp_path: Path) -> None:
    # rebuild install.img the way a careless non-root repack does: shadow files lost
    tree = tmp_path / "root"
    tree.mkdir()
    with IsoSource.open(demo_iso) as src:
        img = src.read("/install.img")
    subprocess.run(["bsdtar", "-xf", "-", "-C", str(tree), "--exclude", "etc/shadow*",
                    "--exclude", "etc/gshadow*", "--exclude", "dev/*"],
                   input=img, check=True, capture_output=True)
    listing = subprocess.run(["find", "."], cwd=tree, check=True, capture_output=True).stdout
    newc = subprocess.run(["bsdtar", "--format", "newc", "-cf", "-", "-n", "-T", "-"],
                          cwd=tree, input=listing, check=True, capture_output=True).stdout
    repacked = tmp_path / "install.img"
    repacked.write_bytes(gzip.compress(newc))
    bad = _replace_via_build(demo_iso, tmp_path / "noshadow.iso", {"/install.img": repacked},
                             tmp_path)
    c = verify.verify(bad).get("install-img")
    assert c is not None and c.status == "fail" and "/etc/shadow" in c.evidence


# ---------------------------------------------------------------------------
# repository


def _rpm_names(iso: Path) -> list[str]:
    with IsoSource.open(iso) as src:
        return sorted(e.name for e in src.listdir("/Packages") if e.name.endswith(".rpm"))


@pytest.mark.slow
def test_replaced_rpm_same_name_is_caught(demo_iso: Path, tmp_path: Path) -> None:
    names = _rpm_names(demo_iso)
    htop = next(n for n in names if n.startswith("htop-"))
    other = next(n for n in names if n.startswith("xapi-core-"))
    with IsoSource.open(demo_iso) as src:
        data = src.read(f"/Packages/{other}")
    fake = tmp_path / htop
    fake.write_bytes(data)  # a different RPM under htop's file name
    bad = _replace_via_build(demo_iso, tmp_path / "stale-rpm.iso",
                             {f"/Packages/{htop}": fake}, tmp_path)
    rep = verify.verify(bad)
    c = rep.get("repodata")
    assert c is not None and c.status == "fail"
    assert htop in c.evidence and ("differs from primary.xml" in c.evidence
                                   or "primary.xml says" in c.evidence)
    assert _status(rep)["signature"] == "pass"  # repomd.xml itself did not change


@pytest.mark.slow
def test_stray_rpm_and_stale_repomd_record_are_caught(demo_iso: Path, tmp_path: Path) -> None:
    names = _rpm_names(demo_iso)
    with IsoSource.open(demo_iso) as src:
        data = src.read(f"/Packages/{names[0]}")
        repomd = src.read("/repodata/repomd.xml")
    stray = tmp_path / "stray-1.0-1.x86_64.rpm"
    stray.write_bytes(data)
    href = re.search(rb'href="(repodata/[^"]*other\.xml\.gz)"', repomd)
    assert href
    junk = tmp_path / "other.xml.gz"
    junk.write_bytes(gzip.compress(b"<otherdata/>"))
    bad = _replace_via_build(demo_iso, tmp_path / "stray.iso",
                             {"/Packages/stray-1.0-1.x86_64.rpm": stray,
                              "/" + href.group(1).decode(): junk}, tmp_path)
    c = verify.verify(bad).get("repodata")
    assert c is not None and c.status == "fail"
    assert any("stray-1.0-1.x86_64.rpm" in d and "not in primary.xml" in d for d in c.details)
    assert any("other.xml.gz" in d and "stale repomd.xml" in d for d in c.details)


def _regenerated_repomd(iso: Path, tmp_path: Path) -> Path:
    """repodata regenerated on an extracted copy: only repomd.xml differs (newer revision)."""
    tree = _extract_tree(iso, tmp_path / "tree")
    old = {p.name: p.read_bytes() for p in (tree / "repodata").iterdir()}
    with IsoSource.open(iso) as src:
        rev = int(re.search(rb"<revision>(\d+)</revision>", src.read("/repodata/repomd.xml")
                            ).group(1))  # type: ignore[union-attr]
    subprocess.run(["createrepo_c", "--update", "--general-compress-type=gz", "--database",
                    "--checksum", "sha256", "--revision", str(rev + 3600), "-q", str(tree)],
                   check=True, capture_output=True)
    new = {p.name: p.read_bytes() for p in (tree / "repodata").iterdir()}
    assert new["repomd.xml"] != old["repomd.xml"]
    assert new["repomd.xml.asc"] == old["repomd.xml.asc"]
    return tree / "repodata" / "repomd.xml"


@pytest.mark.slow
def test_stale_repomd_signature_is_caught(demo_iso: Path, tmp_path: Path) -> None:
    repomd = _regenerated_repomd(demo_iso, tmp_path)
    tree = repomd.parent
    files = {"/repodata/repomd.xml": repomd}
    with IsoSource.open(demo_iso) as src:
        on_iso = {e.name for e in src.listdir("/repodata")}
    for p in tree.iterdir():  # any metadata file whose name changed goes in as well
        if p.name not in on_iso:
            files[f"/repodata/{p.name}"] = p
    bad = _replace_via_build(demo_iso, tmp_path / "stale-asc.iso", files, tmp_path)
    rep = verify.verify(bad)
    c = rep.get("signature")
    assert c is not None and c.status == "fail"
    assert "stale signature" in c.evidence
    assert _status(rep)["treeinfo"] == "pass"  # the key and the .asc are both there


@pytest.mark.slow
def test_stale_signature_without_gpg_uses_timestamps(demo_iso: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    repomd = _regenerated_repomd(demo_iso, tmp_path)
    bad = _replace_via_build(demo_iso, tmp_path / "stale-asc2.iso",
                             {"/repodata/repomd.xml": repomd}, tmp_path)
    monkeypatch.setattr(verify_signing, "which", lambda tool: None)
    c = verify.verify(bad).get("signature")
    assert c is not None and c.status == "fail" and "stale signature" in c.evidence
    good = verify.verify(demo_iso).get("signature")
    assert good is not None and good.status == "pass" and "weak check" in good.evidence


def test_listed_key_missing_is_caught(demo_iso: Path, tmp_path: Path) -> None:
    bad = _copy(demo_iso, tmp_path / "nokey.iso")
    off, size = _extent(bad, "/.treeinfo")
    with open(bad, "r+b") as f:
        f.seek(off)
        data = f.read(size)
        new = data.replace(b"key1 = RPM-GPG-KEY-xcpng", b"key1 = RPM-GPG-KEY-other")
        assert len(new) == len(data) and new != data
        f.seek(off)
        f.write(new)
    rep = verify.verify(bad)
    assert _status(rep)["treeinfo"] == "fail"
    assert "RPM-GPG-KEY-other" in (rep.get("treeinfo") or verify.Check("", "", "", "")).evidence
    assert _status(rep)["signature"] == "fail"


def test_report_lines_show_failure_details(demo_iso: Path, tmp_path: Path) -> None:
    bad = _copy(demo_iso, tmp_path / "x.iso")
    with open(bad, "r+b") as f:
        f.write(b"\0" * 512)
    rep = verify.verify(bad)
    text = "\n".join(rep.lines())
    assert "FAIL  Hybrid MBR" in text and "verify: FAILED:" in text
    j = rep.to_json()
    assert j["ok"] is False and j["counts"]["fail"] >= 1
