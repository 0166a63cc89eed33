"""Building: faithful re-master, ISO-level file edits, output safety, bad outputs, cancel."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.helpers import bsdtar_files, eltorito, iso_member, sfdisk_json
from xcptui import cli
from xcptui.engine import recipe
from xcptui.engine.build import runner as build
from xcptui.engine.errors import BuildError, Cancelled, InputError
from xcptui.engine.events import Progress, ProgressEvent
from xcptui.engine.iso import hybrid


def _leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.startswith("."))


def test_empty_recipe_keeps_every_file_and_boot_structure(demo_iso: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.iso"
    before = demo_iso.read_bytes()
    res = build.build(demo_iso, recipe.Recipe(), out, verify=False)
    assert demo_iso.read_bytes() == before  # source untouched
    assert res.output == out and out.stat().st_size == res.size
    src_files, out_files = bsdtar_files(demo_iso), bsdtar_files(out)
    assert set(src_files) == set(out_files)
    differing = [p for p in src_files if src_files[p] != out_files[p]]
    assert differing in ([], ["boot/isolinux/isolinux.bin"])  # boot-info-table only
    assert iso_member(out, "install.img") == iso_member(demo_iso, "install.img")
    rep = eltorito(out)
    assert "/boot/isolinux/isolinux.bin" in rep and "/boot/efiboot.img" in rep
    assert "boot-info-table" in rep and "UEFI" in rep
    parts = sfdisk_json(out)["partitiontable"]["partitions"]
    assert parts[0]["start"] == 0 and parts[1]["type"] == "ef"
    assert hybrid.inspect(out).gpt.problems == []
    assert _leftovers(tmp_path) == []
    assert oct(out.stat().st_mode & 0o777) != "0o600"


def test_iso_file_add_replace_remove(demo_iso: Path, tmp_path: Path) -> None:
    eula = tmp_path / "eula.txt"
    eula.write_text("my EULA\n")
    long_name = "a-very-long-file-name-" + "x" * 60 + ".txt"
    extra = tmp_path / long_name
    extra.write_text("extra\n")
    r = recipe.loads(
        f'[[iso.files]]\nsource = "eula.txt"\ndest = "/EULA"\n'
        f'[[iso.files]]\nsource = "{long_name}"\ndest = "/extras/docs/{long_name}"\n'
        '[[iso.remove]]\npath = "/LICENSES"\n',
        tmp_path,
    )
    out = tmp_path / "out.iso"
    build.build(demo_iso, r, out, verify=False)
    files = bsdtar_files(out)
    assert "LICENSES" not in files
    assert f"extras/docs/{long_name}" in files  # Rock Ridge keeps the full name
    assert iso_member(out, "EULA") == b"my EULA\n"
    # Joliet view (what Windows tools show) has the file too, under a shortened name.
    jol = subprocess.run(["isoinfo", "-J", "-f", "-i", str(out)], capture_output=True,
                         text=True).stdout
    assert any(line.startswith("/extras/docs/a-very-long") for line in jol.splitlines())


def test_output_over_source_is_refused(demo_iso: Path, tmp_path: Path) -> None:
    copy = tmp_path / "src.iso"
    shutil.copy(demo_iso, copy)
    with pytest.raises(InputError, match="is the source ISO"):
        build.build(copy, recipe.Recipe(), copy)
    link = tmp_path / "link.iso"
    link.symlink_to(copy)
    with pytest.raises(InputError, match="is the source ISO"):
        build.build(copy, recipe.Recipe(), link)


def test_missing_output_directory(demo_iso: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        build.build(demo_iso, recipe.Recipe(), tmp_path / "nope" / "out.iso")


def test_unwritable_output_directory(demo_iso: Path, tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    tmp_path.chmod(0o755)
    cmd = [sys.executable, "-m", "xcptui", "build", str(demo_iso), "-o", str(ro / "o.iso")]
    if os.geteuid() == 0:  # root writes anywhere: test as nobody
        if not shutil.which("setpriv"):
            pytest.skip("setpriv missing")
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    p = subprocess.run(cmd, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert p.returncode != 0
    assert "not writable" in p.stderr or "not readable" in p.stderr or "error" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert list(ro.iterdir()) == []


def test_disk_full_leaves_nothing(demo_iso: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.iso"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    p = subprocess.run([sys.executable, "-m", "xcptui", "build", str(demo_iso), "-o", str(out),
                        "--no-verify"], capture_output=True, text=True, preexec_fn=limit)
    assert p.returncode != 0
    assert "nothing was written" in p.stderr
    assert "Traceback" not in p.stderr
    assert not out.exists() and _leftovers(tmp_path) == []


def test_cancel_leaves_nothing(demo_iso: Path, tmp_path: Path) -> None:
    cancel = threading.Event()

    def cb(ev: ProgressEvent) -> None:
        if ev.step == "write ISO" and ev.kind == "step":
            cancel.set()

    with pytest.raises(Cancelled):
        build.build(demo_iso, recipe.Recipe(), tmp_path / "o.iso", Progress(cb), cancel)
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_in_cli_cancels_cleanly(demo_iso: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    orig = cli.StderrProgress.__call__

    def interrupting(self: cli.StderrProgress, ev: ProgressEvent) -> None:
        orig(self, ev)
        if ev.kind == "step" and ev.step == "write ISO":
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(cli.StderrProgress, "__call__", interrupting)
    old = signal.getsignal(signal.SIGINT)
    try:
        code = cli.main(["build", str(demo_iso), "-o", str(tmp_path / "o.iso")])
    finally:
        signal.signal(signal.SIGINT, old)
    assert code == 130
    assert "interrupted by SIGINT; nothing was written" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_build_error_messages_are_one_line(tmp_path: Path) -> None:
    e = BuildError("a\nb   c")
    assert str(e) == "a b c"


def test_file_added_to_existing_directory_is_in_joliet_too(demo_iso: Path,
                                                           tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("notes\n")
    r = recipe.loads('[[iso.files]]\nsource = "notes.txt"\ndest = "/boot/notes.txt"\n', tmp_path)
    out = tmp_path / "out.iso"
    build.build(demo_iso, r, out, verify=False)
    jol = subprocess.run(["isoinfo", "-J", "-f", "-i", str(out)], capture_output=True,
                         text=True).stdout.splitlines()
    assert "/boot/notes.txt" in jol
