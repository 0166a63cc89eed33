"""ISOs that are not what xcptui expects: inspect still works, build says what is missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import iso_member
from xcptui.engine import recipe
from xcptui.engine.build import runner as build
from xcptui.engine.errors import InputError


def _mkiso(tree: Path, out: Path, *extra: str) -> Path:
    subprocess.run(["genisoimage", "-o", str(out), "-quiet", "-r", "-J", "-V", "TEST", *extra,
                    str(tree)], check=True, capture_output=True)
    return out


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "xcptui", *map(str, args)],
                          capture_output=True, text=True)


@pytest.fixture
def plain_iso(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    (tree / "docs").mkdir(parents=True)
    (tree / "docs" / "readme.txt").write_text("hello\n")
    return _mkiso(tree, tmp_path / "plain.iso")


def test_iso_without_eltorito_or_install_img(plain_iso: Path, tmp_path: Path) -> None:
    p = _cli("inspect", plain_iso)
    assert p.returncode == 0, p.stderr
    assert "no El Torito boot catalog" in p.stdout
    assert "no /install.img" in p.stdout
    out = tmp_path / "o.iso"
    q = _cli("build", plain_iso, "-o", out)
    assert q.returncode != 0 and "has no El Torito boot catalog" in q.stderr
    assert len([ln for ln in q.stderr.splitlines() if ln.startswith("xcptui:")]) == 1
    assert not out.exists()


def test_bootable_iso_without_install_img(demo_iso: Path, tmp_path: Path) -> None:
    r = recipe.loads('[[installer.remove]]\npath = "/usr/share/doc"\n', tmp_path)
    tree = tmp_path / "tree"
    (tree / "boot" / "isolinux").mkdir(parents=True)
    (tree / "boot" / "isolinux" / "isolinux.bin").write_bytes(
        iso_member(demo_iso, "boot/isolinux/isolinux.bin"))
    iso = _mkiso(tree, tmp_path / "noimg.iso", "-b", "boot/isolinux/isolinux.bin",
                 "-c", "boot/isolinux/boot.cat", "-no-emul-boot", "-boot-load-size", "4",
                 "-boot-info-table")
    with pytest.raises(InputError, match="has no /install.img"):
        build.build(iso, r, tmp_path / "o.iso", verify=False)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "unknown"])
def test_damaged_install_img(demo_iso: Path, tmp_path: Path, damage: str) -> None:
    tree = tmp_path / "tree"
    subprocess.run(["xorriso", "-osirrox", "on", "-indev", str(demo_iso), "-extract", "/",
                    str(tree)], check=True, capture_output=True)
    subprocess.run(["chmod", "-R", "u+w", str(tree)], check=True)
    img = tree / "install.img"
    data = img.read_bytes()
    if damage == "truncate":
        img.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        img.write_bytes(data[:4000] + b"\x55" * 4000 + data[8000:])
    else:
        img.write_bytes(b"\x04\x22\x4d\x18" + data[4:])  # lz4 magic: not supported
    iso = _mkiso(tree, tmp_path / "bad.iso", "-b", "boot/isolinux/isolinux.bin",
                 "-c", "boot/isolinux/boot.cat", "-no-emul-boot", "-boot-load-size", "4",
                 "-boot-info-table")
    p = _cli("inspect", iso)
    assert p.returncode == 0 and "install.img" in p.stdout and "problem:" in p.stdout
    (tmp_path / "r.toml").write_text('[[installer.remove]]\npath = "/usr/share/doc"\n')
    out = tmp_path / "o.iso"
    q = _cli("build", iso, "-r", tmp_path / "r.toml", "-o", out)
    assert q.returncode != 0
    errs = [ln for ln in q.stderr.splitlines() if ln.startswith("xcptui:")]
    assert len(errs) == 1 and "install.img" in errs[0], q.stderr
    assert "Traceback" not in q.stderr
    assert not out.exists()
    assert sorted(x.name for x in tmp_path.iterdir()) == ["bad.iso", "r.toml", "tree"]
