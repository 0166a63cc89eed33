"""Names, link targets and values from an ISO reach the terminal escaped, never raw."""

from __future__ import annotations

import bz2
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xcptui.engine.text import is_printable, printable

ROOT = Path(__file__).resolve().parents[1]
EVIL = "evil\x1b]0;pwned\x07\rname\u202etxt.exe"  # OSC retitle, BEL, CR, bidi override
RAW = ("\x1b", "\x07", "\r", "\u202e")


def test_printable_escapes_controls_bidi_and_bad_bytes() -> None:
    assert printable("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert printable("x\u202ey") == "x\\u202ey"
    assert printable("line1\nline2", keep="\n") == "line1\nline2"
    assert printable("bad\udcffbyte") == "bad\\xffbyte"
    assert printable("café ok") == "café ok"
    assert is_printable(printable(EVIL))


@pytest.fixture(scope="module")
def evil_iso(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("evil")
    tree = d / "tree"
    (tree / "boot").mkdir(parents=True)
    (tree / EVIL).write_text("x")
    os.symlink(f"/target{EVIL}", tree / "link")
    (tree / ".treeinfo").write_text(
        "[general]\nfamily = XCP-ng\x1b[31m\nversion = 8.3.0\x1b]0;x\x07\n"
        "[platform]\nname = XCP-ng\nversion = 8.3.0\n")
    img = d / "img"
    (img / "etc").mkdir(parents=True)
    (img / "etc" / EVIL).write_text("x")
    names = subprocess.run(["find", ".", "-mindepth", "1"], cwd=img, capture_output=True,
                           check=True).stdout.replace(b"./", b"")
    cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=img, input=names,
                          capture_output=True, check=True).stdout
    (tree / "install.img").write_bytes(bz2.compress(cpio))
    iso = d / "evil.iso"
    subprocess.run(["genisoimage", "-quiet", "-R", "-J", "-joliet-long", "-o", str(iso),
                    str(tree)], check=True, capture_output=True)
    return iso


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "xcptui", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          errors="surrogateescape")


@pytest.mark.parametrize("args", [("ls", "/"), ("ls", "install.img:/etc"), ("inspect",),
                                  ("ls", f"/{EVIL}")])
def test_cli_output_has_no_raw_control_characters(evil_iso: Path, args: tuple[str, ...]) -> None:
    r = _run(args[0], evil_iso, *args[1:])
    out = r.stdout + r.stderr
    for c in RAW:
        assert c not in out, (args, out)
    if args[0] == "ls" and "etc" in args[-1]:
        assert printable(EVIL) in r.stdout


def test_ls_shows_escaped_name_and_link_target(evil_iso: Path) -> None:
    r = _run("ls", evil_iso, "/")
    assert r.returncode == 0, r.stderr
    assert printable(EVIL) in r.stdout
    assert f"-> /target{printable(EVIL)}" in r.stdout


def test_json_stays_exact(evil_iso: Path) -> None:
    r = _run("ls", evil_iso, "/", "--json")
    assert r.returncode == 0, r.stderr
    names = {e["path"] for e in json.loads(r.stdout)}
    assert f"/{EVIL}" in names
