"""Malformed ISOs: every failure is one line naming the ISO, never a traceback or exit 70.

Each input is a small genisoimage ISO with bytes corrupted in Python.
"""

from __future__ import annotations

import os
import random
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pycdlib
import pytest

from xcptui.engine import limits
from xcptui.engine.errors import InputError
from xcptui.engine.iso.read import IsoSource

S = 2048


@pytest.fixture(scope="module")
def base_iso(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    top = tmp_path_factory.mktemp("hostile-iso")
    tree = top / "tree"
    (tree / "docs").mkdir(parents=True)
    (tree / "docs" / "readme.txt").write_text("hello\n")
    (tree / "boot").mkdir()
    (tree / "boot" / "boot.bin").write_bytes(b"\x90" * S)
    os.symlink("/", tree / "rootlink")
    os.symlink("..", tree / "docs" / "up")
    out = top / "base.iso"
    subprocess.run(["genisoimage", "-o", str(out), "-quiet", "-r", "-J", "-V", "TEST",
                    "-b", "boot/boot.bin", "-c", "boot/boot.cat", "-no-emul-boot",
                    "-boot-load-size", "4", str(tree)], check=True, capture_output=True)
    return out.read_bytes()


def _both32(v: int) -> bytes:
    return struct.pack("<I", v) + struct.pack(">I", v)


def _patch(data: bytes, off: int, new: bytes) -> bytes:
    d = bytearray(data)
    d[off:off + len(new)] = new
    return bytes(d)


def _readme_record(data: bytes) -> int:
    return data.find(b"README.TXT;1") - 33  # the name starts 33 bytes into its record


def _catalog(data: bytes) -> int:
    return int(struct.unpack("<I", data[17 * S + 0x47:17 * S + 0x4B])[0]) * S


def _rr_name(data: bytes, new: bytes) -> bytes:
    i = data.find(b"NM\x0f\x01\x00readme.txt")
    assert i > 0
    return _patch(data, i + 5, new)


# name -> (corruption, message every refusing command gives, commands that must refuse)
OPEN = ("inspect", "ls", "extract", "build")
CASES: dict[str, tuple[Callable[[bytes], bytes], str, tuple[str, ...]]] = {
    "extent past EOF": (lambda d: _patch(d, _readme_record(d) + 2, _both32(10 ** 6)),
                        "readme.txt lies past the end of the image", OPEN),
    "length past EOF": (lambda d: _patch(d, _readme_record(d) + 10, _both32(0xFFFFFFF0)),
                        "readme.txt lies past the end of the image", OPEN),
    "truncated file": (lambda d: d[:len(d) // 2], "truncated: the volume is", OPEN),
    "El Torito sector count": (lambda d: _patch(d, _catalog(d) + 38, b"\xff\xff"),
                               "El Torito entry 1 (BIOS) loads 65535 sectors", OPEN),
    "El Torito load RBA": (lambda d: _patch(d, _catalog(d) + 40, b"\xf0\xff\xff\xff"),
                           "unreadable ISO 9660 structure", OPEN),
    "boot catalog past EOF": (lambda d: _patch(d, 17 * S + 0x47, b"\xff\xff\xff\x00"),
                              "unreadable ISO 9660 structure", OPEN),
    "volume size": (lambda d: _patch(d, 16 * S + 80, _both32(0x7FFFFFFF)),
                    "truncated: the volume is", OPEN),
    "root extent": (lambda d: _patch(d, 16 * S + 158, _both32(0xFFFFFF)),
                    "unreadable ISO 9660 structure", OPEN),
    "root length": (lambda d: _patch(d, 16 * S + 166, _both32(0xFFFFFFF0)),
                    "unreadable ISO 9660 structure", OPEN),
    "path table size": (lambda d: _patch(d, 16 * S + 132, _both32(0x7FFFFFF0)),
                        "unreadable ISO 9660 structure", OPEN),
    "block size": (lambda d: _patch(d, 16 * S + 128, b"\0\0\0\0"),
                   "unreadable ISO 9660 structure", OPEN),
    "Rock Ridge version": (lambda d: _patch(d, d.find(b"NM\x0f\x01\x00readme") + 3,
                                            b"\x07"), "unreadable ISO 9660 structure", OPEN),
}


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "xcptui", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def _command(cmd: str, iso: Path, tmp: Path) -> tuple[list[str], Path | None]:
    if cmd == "inspect":
        return ["inspect", str(iso)], None
    if cmd == "ls":
        return ["ls", str(iso), "/docs"], None
    if cmd == "extract":
        return ["extract", str(iso), "/docs", str(tmp / "x")], None
    out = tmp / "out" / "o.iso"
    out.parent.mkdir(exist_ok=True)
    return ["build", "-q", "--no-verify", str(iso), "-o", str(out)], out


@pytest.mark.parametrize("case", list(CASES))
def test_cli_on_a_malformed_iso(case: str, base_iso: bytes, tmp_path: Path) -> None:
    corrupt, message, refusing = CASES[case]
    iso = tmp_path / "bad.iso"
    iso.write_bytes(corrupt(base_iso))
    for cmd in OPEN:
        args, out = _command(cmd, iso, tmp_path)
        p = _cli(*args)
        lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
        assert p.returncode in (0, 1), (cmd, p.stderr)
        if cmd in refusing:
            assert p.returncode == 1, (cmd, p.stdout, p.stderr)
        if p.returncode == 1:
            assert len(lines) == 1 and lines[0].startswith("xcptui: error: "), (cmd, p.stderr)
            assert "bad.iso" in lines[0], lines[0]
            if cmd in refusing:
                assert message in lines[0], lines[0]
            if out is not None:
                assert list(out.parent.iterdir()) == [], "a failed build left files behind"


def test_fuzzed_isos_fail_in_one_line(base_iso: bytes, tmp_path: Path) -> None:
    """Random bytes in the descriptors and directories: open, list, read, boot facts."""
    rnd = random.Random(20261203)
    iso = tmp_path / "fuzz.iso"
    refused = 0
    for _ in range(60):
        d = bytearray(base_iso)
        for _ in range(rnd.choice((1, 4, 30))):
            d[rnd.randrange(16 * S, 40 * S)] = rnd.randrange(256)
        iso.write_bytes(bytes(d))
        try:
            with IsoSource.open(iso) as src:
                for e in list(src.walk("/")):
                    if not e.is_dir and not e.is_symlink:
                        src.read(e.path)
                src.eltorito()
                src.boot_catalog_path()
        except InputError as err:
            assert "\n" not in str(err) and "fuzz.iso" in str(err)
            refused += 1
    assert refused  # the corruption did reach something


@pytest.mark.parametrize("exc", [IndexError("list index out of range"), struct.error("short"),
                                 UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"),
                                 KeyError(7), ValueError("x"), AttributeError("y")])
def test_any_pycdlib_exception_while_opening(exc: Exception, base_iso: bytes, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    iso = tmp_path / "b.iso"
    iso.write_bytes(base_iso)

    def boom(self: object, fp: object) -> None:
        raise exc

    monkeypatch.setattr(pycdlib.PyCdlib, "open_fp", boom)
    with pytest.raises(InputError, match=r"^.*b\.iso: unreadable ISO 9660 structure \(.+\)$"):
        IsoSource.open(iso)


def test_source_truncated_after_open(base_iso: bytes, tmp_path: Path) -> None:
    iso = tmp_path / "t.iso"
    iso.write_bytes(base_iso)
    with IsoSource.open(iso) as src:
        off, _size = src.extent("/docs/readme.txt")
        with open(iso, "r+b") as f:
            f.truncate(off)
        with pytest.raises(InputError, match=r"^t\.iso: /docs/readme.txt is truncated"):
            src.read("/docs/readme.txt")
        with src.open_file("/docs/readme.txt") as fp, \
                pytest.raises(InputError, match=r"^t\.iso: /docs/readme.txt: truncated"):
            fp.read()


def test_read_of_a_huge_file_is_refused(base_iso: bytes, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    iso = tmp_path / "r.iso"
    iso.write_bytes(base_iso)
    monkeypatch.setattr(limits, "MAX_ISO_READ", 4)
    with IsoSource.open(iso) as src:
        assert src.read("/docs/readme.txt", 4) == b"hell"
        with pytest.raises(InputError, match="is 6 bytes, too big to read into memory"):
            src.read("/docs/readme.txt")


def test_rock_ridge_names_with_nul_or_slash_are_never_listed(base_iso: bytes,
                                                             tmp_path: Path) -> None:
    for bad in (b"re/dme.txt", b"re\0dme.txt"):
        iso = tmp_path / "n.iso"
        iso.write_bytes(_rr_name(base_iso, bad))
        with IsoSource.open(iso) as src:
            names = [e.name for e in src.listdir("/docs")]
            assert names == ["up"]
            dest = tmp_path / "x"
            src.extract("/docs", dest)
            assert sorted(p.name for p in (dest / "docs").iterdir()) == ["up"]


def test_symlinks_to_root_and_parent_stay_links(base_iso: bytes, tmp_path: Path) -> None:
    iso = tmp_path / "s.iso"
    iso.write_bytes(base_iso)
    dest = tmp_path / "dest"
    with IsoSource.open(iso) as src:
        assert src.entry("/rootlink").link_target == "/"
        assert src.entry("/docs/up").link_target == ".."
        src.extract("/", dest)
    assert os.readlink(dest / "rootlink") == "/"
    assert os.readlink(dest / "docs" / "up") == ".."
    # Extracting again into the same place must not write through the links.
    with IsoSource.open(iso) as src:
        src.extract("/", dest)
    assert sorted(p.name for p in dest.iterdir()) == ["boot", "docs", "rootlink"]
