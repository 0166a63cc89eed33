"""Recipes, answerfiles and -o that are not regular files: refused in one line, never blocking."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from xcptui.engine import limits
from xcptui.engine.boot import answerfile
from xcptui.engine.build import runner
from xcptui.engine.errors import InputError, RecipeError
from xcptui.engine.recipe import toml_io


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    p = tmp_path / "pipe"
    os.mkfifo(p)
    return p


@pytest.fixture
def sock(tmp_path: Path) -> Iterator[Path]:
    p = tmp_path / "sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(p))
    yield p
    s.close()


def test_read_small_file(tmp_path: Path, fifo: Path, sock: Path) -> None:
    ok = tmp_path / "ok"
    ok.write_bytes(b"x" * 10)
    assert limits.read_small_file(ok, "recipe", 10) == b"x" * 10
    cases = {
        fifo: "is a FIFO, not a recipe",  # no writer: O_NONBLOCK means we never wait
        Path("/dev/null"): "is a character device, not a recipe",
        tmp_path: "is a directory, not a recipe",
        tmp_path / "nope": "no such file",
    }
    for path, msg in cases.items():
        with pytest.raises(InputError, match=msg):
            limits.read_small_file(path, "recipe", 10)
    with pytest.raises(InputError, match="not a recipe"):  # ENXIO or "is a socket"
        limits.read_small_file(sock, "recipe", 10)
    with pytest.raises(InputError, match=r"^ok: 10 bytes is too big for an answerfile "
                       r"\(limit 9\)"):
        limits.read_small_file(ok, "answerfile", 9, "ok")


def test_a_fifo_with_a_writer_is_still_refused(fifo: Path) -> None:
    # A writer that never writes: reading would block forever; fstat says FIFO first.
    w = subprocess.Popen(["sh", "-c", f"exec 3>'{fifo}'; sleep 5"])
    try:
        with pytest.raises(InputError, match="is a FIFO"):
            limits.read_small_file(fifo, "answerfile", 1 << 20)
    finally:
        w.kill()
        w.wait()


def test_recipe_and_answerfile_loaders(tmp_path: Path, fifo: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RecipeError, match=rf"^recipe {fifo}: is a FIFO, not a recipe$"):
        toml_io.load(fifo)
    with pytest.raises(RecipeError, match=r"^recipe /dev/zero: is a character device"):
        toml_io.load(Path("/dev/zero"))
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * 100 + "\n")
    monkeypatch.setattr(limits, "MAX_RECIPE", 50)
    with pytest.raises(RecipeError, match="too big for a recipe"):
        toml_io.load(big)
    with pytest.raises(InputError, match=r"^pipe: is a FIFO, not an answerfile$"):
        answerfile.load(fifo)


def test_output_that_is_a_device_or_fifo_is_refused(tmp_path: Path, fifo: Path,
                                                    sock: Path) -> None:
    src = tmp_path / "src.iso"
    src.write_bytes(b"")
    for out, kind in ((Path("/dev/null"), "a character device"), (fifo, "a FIFO"),
                      (sock, "a socket")):
        with pytest.raises(InputError, match=rf"^{out}: is {kind}; give a regular file name$"):
            runner.check_output_path(src, out)


def test_cli_build_to_a_fifo(demo_iso: Path, fifo: Path, tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "xcptui", "build", "-q", str(demo_iso),
                        "-o", str(fifo)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert p.stderr.strip() == f"xcptui: error: {fifo}: is a FIFO; give a regular file name"
    assert fifo.is_fifo()  # refused, not replaced
    recipe = tmp_path / "r.toml"
    os.mkfifo(recipe)
    q = subprocess.run([sys.executable, "-m", "xcptui", "build", "-q", str(demo_iso),
                        "--recipe", str(recipe), "-o", str(tmp_path / "o.iso")],
                       capture_output=True, text=True, timeout=60)
    assert q.returncode == 1 and "is a FIFO, not a recipe" in q.stderr
    assert len(q.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.iso").exists()


def test_deeply_nested_answerfile_is_one_line_not_a_recursion() -> None:
    from xcptui.engine.boot import answerfile_xml

    n = 140_000  # about 1 MiB, under the size limit
    data = (b'<installation mode="fresh">' + b"<a>" * n + b"</a>" * n
            + b'<source type="local"/></installation>')
    with pytest.raises(InputError, match=r"^deep.xml line 1: elements nested more than 64"):
        answerfile_xml.parse(data, "deep.xml")


def test_deeply_nested_recipe_is_one_line_not_a_recursion(tmp_path: Path) -> None:
    from xcptui.engine import recipe

    p = tmp_path / "deep.toml"
    p.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(InputError) as ei:
        recipe.load(p)
    assert "\n" not in str(ei.value) and "deep.toml" in str(ei.value)
