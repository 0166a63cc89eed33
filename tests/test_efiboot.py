"""efiboot: grub.cfg inside boot/efiboot.img, rewritten with mtools on a copy.

Results are checked with independent tools: mtype / mdir / mcopy run directly,
and fsck.vfat -n.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest

from xcptui.engine import tools
from xcptui.engine.boot import config as bootcfg
from xcptui.engine.errors import InputError, ToolMissing
from xcptui.engine.iso import efiboot

ENV = dict(os.environ, MTOOLS_SKIP_CHECK="1")
AF = "answerfile=file:///answerfile.xml"


def _extract(iso: Path, member: str, dest: Path) -> Path:
    data = subprocess.run(["bsdtar", "-xOf", str(iso), member], check=True,
                          capture_output=True).stdout
    dest.write_bytes(data)
    return dest


@pytest.fixture(scope="session")
def efiboot_src(demo_iso: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """boot/efiboot.img of the 8.3 demo ISO (read-only: tests copy it)."""
    return _extract(demo_iso, "boot/efiboot.img", tmp_path_factory.mktemp("efi") / "src.img")


@pytest.fixture
def img(efiboot_src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "efiboot.img"
    shutil.copyfile(efiboot_src, dst)
    return dst


def mtype(image: Path, path: str) -> bytes:
    return subprocess.run(["mtype", "-i", str(image), "::" + path], env=ENV, check=True,
                          capture_output=True).stdout


def mdir(image: Path) -> list[str]:
    out = subprocess.run(["mdir", "-/", "-b", "-i", str(image), "::/"], env=ENV, check=True,
                         capture_output=True).stdout.decode()
    return sorted(out.split())


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def fsck_ok(image: Path) -> None:
    fsck = tools.which("fsck.vfat")
    if fsck is None:
        pytest.skip("fsck.vfat not installed")
    proc = subprocess.run([fsck, "-n", str(image)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_list_and_read(img: Path) -> None:
    assert efiboot.list_files(img) == ["/EFI/BOOT/BOOTX64.EFI", "/EFI/xenserver/grub.cfg"]
    cfg = efiboot.read_file(img, "/EFI/xenserver/grub.cfg")
    assert cfg == mtype(img, "/EFI/xenserver/grub.cfg")
    assert b"search --file --set /install.img\n" in cfg
    assert efiboot.read_file(img, "efi/XENSERVER/Grub.CFG") == cfg  # FAT ignores case
    loader = efiboot.read_file(img, efiboot.LOADER)
    assert loader == mtype(img, efiboot.LOADER) and len(loader) > 0
    assert efiboot.read_file_from_bytes(img.read_bytes(), efiboot.GRUB_CFG) == cfg
    assert efiboot.free_bytes(img) > 100_000


def test_round_trip_grub_cfg(img: Path, tmp_path: Path) -> None:
    before_sha = sha(img)
    loader = mtype(img, efiboot.LOADER)
    old = efiboot.read_file(img, efiboot.GRUB_CFG).decode()
    new = bootcfg.parse(old, "grub").append_params([AF, "install"]).text
    out = tmp_path / "new.img"
    written = efiboot.update_grub_cfg(img, new, out)
    assert written == new  # the search line was already there
    assert sha(img) == before_sha  # source untouched
    assert out.stat().st_size == img.stat().st_size
    assert mtype(out, efiboot.GRUB_CFG).decode() == new
    assert mtype(out, efiboot.LOADER) == loader
    assert mdir(out) == mdir(img) == ["::/EFI/", "::/EFI/BOOT/", "::/EFI/BOOT/BOOTX64.EFI",
                                      "::/EFI/xenserver/", "::/EFI/xenserver/grub.cfg"]
    fsck_ok(out)
    parsed = bootcfg.parse(new, "grub")
    assert all(AF in e.dom0_args for e in parsed.installer_entries())
    # no temporary files left next to the output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["efiboot.img", "new.img"]


def test_search_line_put_back(img: Path, tmp_path: Path) -> None:
    iso_side = (resources.files("xcptui.demoiso") / "data" / "8.3" / "grub.cfg").read_text()
    out = tmp_path / "new.img"
    written = efiboot.update_grub_cfg(img, iso_side, out)
    derived = (resources.files("xcptui.demoiso") / "data" / "8.3" / "efiboot-grub.cfg").read_text()
    assert written == derived  # same as create-install-image's grub-efiboot-cfg.patch
    assert mtype(out, efiboot.GRUB_CFG).decode() == derived
    fsck_ok(out)


def test_ensure_search_line() -> None:
    derived = (resources.files("xcptui.demoiso") / "data" / "8.3" / "efiboot-grub.cfg").read_text()
    assert efiboot.ensure_search_line(derived) == derived
    crlf = "set default=0\r\nset timeout=5\r\nmenuentry x {\r\n}\r\n"
    assert efiboot.ensure_search_line(crlf) == (
        "set default=0\r\nset timeout=5\r\nsearch --file --set /install.img\r\nmenuentry x {\r\n}\r\n")
    assert efiboot.ensure_search_line("menuentry x {\n}\n").startswith(
        "search --file --set /install.img\nmenuentry")
    assert efiboot.ensure_search_line("set timeout=5") == (
        "set timeout=5\nsearch --file --set /install.img\n")


def test_new_file_and_bytes_api(img: Path) -> None:
    new = efiboot.replace_file_bytes(img.read_bytes(), "/EFI/xenserver/extra.cfg", b"x\n")
    tmp = img.with_name("b.img")
    tmp.write_bytes(new)
    assert mtype(tmp, "/EFI/xenserver/extra.cfg") == b"x\n"
    assert "::/EFI/xenserver/extra.cfg" in mdir(tmp)
    fsck_ok(tmp)


def test_keeps_the_file_name_spelling(img: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.img"
    efiboot.replace_file(img, "/efi/XENSERVER/GRUB.CFG", b"set timeout=1\n", out)
    assert "::/EFI/xenserver/grub.cfg" in mdir(out)


def test_not_a_fat_image(tmp_path: Path) -> None:
    bad = tmp_path / "bad.img"
    bad.write_bytes(os.urandom(4096))
    for call in (lambda: efiboot.list_files(bad),
                 lambda: efiboot.read_file(bad, efiboot.GRUB_CFG),
                 lambda: efiboot.replace_file(bad, efiboot.GRUB_CFG, b"x", tmp_path / "o.img")):
        with pytest.raises(InputError, match=r"^boot/efiboot\.img: not a FAT image"):
            call()
    with pytest.raises(InputError, match=r"^boot/efiboot\.img: no such file"):
        efiboot.read_file(tmp_path / "absent.img", efiboot.GRUB_CFG)
    assert not (tmp_path / "o.img").exists()


def test_missing_file_or_directory(img: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^boot/efiboot\.img: has no /EFI/xenserver/nope$"):
        efiboot.read_file(img, "/EFI/xenserver/nope")
    with pytest.raises(InputError, match="is a directory"):
        efiboot.read_file(img, "/EFI/BOOT")
    with pytest.raises(InputError, match="has no directory /EFI/other"):
        efiboot.replace_file(img, "/EFI/other/grub.cfg", b"x", tmp_path / "o.img")


def test_image_full(img: Path, tmp_path: Path) -> None:
    free = efiboot.free_bytes(img)
    out = tmp_path / "o.img"
    with pytest.raises(InputError, match=r"^boot/efiboot\.img: no room for the new "
                                         r"/EFI/xenserver/grub\.cfg"):
        efiboot.replace_file(img, efiboot.GRUB_CFG, b"#" * (free + 10_000), out)
    assert not out.exists()
    # just fits: the old file's clusters are reused
    efiboot.replace_file(img, efiboot.GRUB_CFG, b"#" * free, out)
    assert len(mtype(out, efiboot.GRUB_CFG)) == free
    fsck_ok(out)


def test_refuses_in_place(img: Path) -> None:
    with pytest.raises(InputError, match="refusing to edit in place"):
        efiboot.replace_file(img, efiboot.GRUB_CFG, b"x", img)


def test_missing_output_directory(img: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="output directory .* does not exist"):
        efiboot.replace_file(img, efiboot.GRUB_CFG, b"x", tmp_path / "no" / "o.img")


def test_missing_tool(img: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools, "which", lambda tool: None)
    with pytest.raises(ToolMissing, match=r"^m(dir|type) not found: .*apt-get install mtools\)$"):
        efiboot.read_file(img, efiboot.GRUB_CFG)


def test_82_demo_iso_copies_agree(iso_factory: Callable[..., Path], tmp_path: Path) -> None:
    iso = iso_factory(version="8.2")
    i = _extract(iso, "boot/isolinux/isolinux.cfg", tmp_path / "isolinux.cfg").read_text()
    g = _extract(iso, "EFI/xenserver/grub.cfg", tmp_path / "grub.cfg").read_text()
    e = efiboot.read_file(_extract(iso, "boot/efiboot.img", tmp_path / "e.img"),
                          efiboot.GRUB_CFG).decode()
    configs = {"isolinux": bootcfg.parse(i, "isolinux"), "grub": bootcfg.parse(g, "grub"),
               "efiboot": bootcfg.parse(e, "grub")}
    assert bootcfg.compare(configs) == []
    assert efiboot.ensure_search_line(g) == e
