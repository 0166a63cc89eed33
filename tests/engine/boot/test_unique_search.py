"""[boot] unique_search: efiboot.img's grub.cfg searches for /.xcptui-<build id>, a file
only this ISO has, so a second XCP-ng USB stick cannot take over the boot.

Read back with bsdtar and xorriso (ISO files) and mtools (efiboot.img).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers import iso_member
from xcptui.engine import recipe
from xcptui.engine.build import runner as build
from xcptui.engine.iso import efiboot
from xcptui.engine.verify import checks as verify

MT_ENV = dict(os.environ, MTOOLS_SKIP_CHECK="1", MTOOLSRC=os.devnull)


def _efi_grub(iso: Path, tmp: Path) -> str:
    img = tmp / "efiboot.img"
    img.write_bytes(iso_member(iso, "boot/efiboot.img"))
    return subprocess.run(["mtype", "-i", str(img), "::/EFI/xenserver/grub.cfg"], env=MT_ENV,
                          capture_output=True, check=True).stdout.decode()


def _listing(iso: Path) -> list[str]:
    return subprocess.run(["bsdtar", "-tf", str(iso)], capture_output=True, text=True,
                          check=True).stdout.split()


@pytest.fixture(scope="module")
def marked(demo_iso: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("marked")
    out = tmp / "marked.iso"
    res = build.build(demo_iso, recipe.loads("[boot]\nunique_search = true\n", tmp), out)
    line = next(c for c in res.changes if c.startswith("add /.xcptui-"))
    m = re.match(r"add (/\.xcptui-([0-9a-f]{8})) \(build id \2\)", line)
    assert m, line
    return out, m.group(1)


def test_marker_on_iso_and_in_efiboot(marked: tuple[Path, str], demo_iso: Path,
                                      tmp_path: Path) -> None:
    out, marker = marked
    assert marker.lstrip("/") in _listing(out)
    x = subprocess.run(["xorriso", "-indev", str(out), "-find", marker], capture_output=True,
                       text=True)
    assert marker in x.stdout, x.stdout + x.stderr
    assert iso_member(out, marker.lstrip("/")).startswith(b"xcptui build ")
    text = _efi_grub(out, tmp_path)
    assert f"search --file --set {marker}\n" in text
    assert "/install.img\n" not in [ln.split()[-1] + "\n" for ln in text.splitlines()
                                    if ln.startswith("search")]
    # only the search line changed; the ISO-side menus are untouched
    src = _efi_grub(demo_iso, tmp_path)
    assert text == src.replace("search --file --set /install.img", f"search --file --set "
                               f"{marker}")
    for member in ("EFI/xenserver/grub.cfg", "boot/isolinux/isolinux.cfg"):
        assert iso_member(out, member) == iso_member(demo_iso, member)
    rep = verify.verify(out)
    assert {c.id: c.status for c in rep.checks}["boot-configs"] == "pass", rep.lines()


def test_off_by_default(demo_iso: Path, tmp_path: Path) -> None:
    out = tmp_path / "plain.iso"
    res = build.build(demo_iso, recipe.loads('[boot]\nappend = ["a=1"]\n', tmp_path), out,
                      verify=False)
    assert not any(".xcptui-" in c for c in res.changes)
    assert not any(n.startswith(".xcptui-") for n in _listing(out))
    assert "search --file --set /install.img" in _efi_grub(out, tmp_path)


def test_rebuild_keeps_marker_search(marked: tuple[Path, str], tmp_path: Path) -> None:
    out, marker = marked
    again = tmp_path / "again.iso"
    build.build(out, recipe.loads('[boot]\nappend = ["b=2"]\n', tmp_path), again)
    text = _efi_grub(again, tmp_path)
    assert efiboot.search_files(text) == [marker]  # no second /install.img search


def test_missing_marker_fails_verify(marked: tuple[Path, str], tmp_path: Path) -> None:
    out, marker = marked
    gone = tmp_path / "gone.iso"
    r = recipe.loads(f'[[iso.remove]]\npath = "{marker}"\n', tmp_path)
    build.build(out, r, gone, verify=False)
    rep = verify.verify(gone)
    boot = next(c for c in rep.checks if c.id == "boot-configs")
    assert boot.status == "fail"
    assert any(marker in d and "not on the ISO" in d for d in [boot.evidence, *boot.details])


def test_set_search_file_and_recipe_key(tmp_path: Path) -> None:
    text = "set timeout=5\n  search --file --set /install.img\r\nmenuentry x {\n}\n"
    assert efiboot.set_search_file(text, "/.xcptui-ab") == \
        "set timeout=5\n  search --file --set /.xcptui-ab\r\nmenuentry x {\n}\n"
    assert efiboot.set_search_file("set timeout=1\n", "/.xcptui-cd") == \
        "set timeout=1\nsearch --file --set /.xcptui-cd\n"
    r = recipe.loads("[boot]\nunique_search = true\n", tmp_path)
    assert r.boot.unique_search and "unique_search = true" in recipe.dumps(r)
    assert not recipe.loads("", tmp_path).boot.unique_search
