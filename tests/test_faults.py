"""Faults: signals mid-build, leftovers of killed builds, flaws inherited from the source."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xcptui import cli
from xcptui.engine.build import atomic
from xcptui.engine.events import ProgressEvent

ROOT = Path(__file__).resolve().parents[1]


def _xcptui(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "xcptui", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
@pytest.mark.parametrize("at", ["check recipe against the ISO", "write ISO"])
def test_signal_mid_build_leaves_nothing(demo_iso: Path, tmp_path: Path, sig: int, at: str,
                                         monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    orig = cli.StderrProgress.__call__

    def interrupting(self: cli.StderrProgress, ev: ProgressEvent) -> None:
        orig(self, ev)
        if ev.kind == "step" and ev.step == at:
            signal.raise_signal(sig)

    monkeypatch.setattr(cli.StderrProgress, "__call__", interrupting)
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    code = cli.main(["build", str(demo_iso), "-o", str(tmp_path / "o.iso")])
    assert code == 128 + sig
    name = signal.Signals(sig).name
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"xcptui: interrupted by {name}; nothing was written"
    assert list(tmp_path.iterdir()) == []
    assert {s: signal.getsignal(s) for s in before} == before  # handlers restored


def test_sigterm_to_a_real_build_process_leaves_no_leftovers(demo_iso: Path,
                                                              tmp_path: Path) -> None:
    """Whatever the moment the signal lands, the folder holds the output or nothing."""
    out = tmp_path / "o.iso"
    p = subprocess.Popen([sys.executable, "-m", "xcptui", "build", str(demo_iso), "-o",
                          str(out), "--quiet"], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and p.poll() is None:
        if any(atomic.MARK in x.name for x in tmp_path.iterdir()):
            break
        time.sleep(0.005)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    names = sorted(x.name for x in tmp_path.iterdir())
    if p.returncode == 0:
        assert names == ["o.iso"]
    else:
        assert p.returncode == 128 + signal.SIGTERM, err
        assert err.strip().splitlines()[-1] == \
            "xcptui: interrupted by SIGTERM; nothing was written"
        assert names == []


def test_next_build_removes_leftovers_of_a_killed_build(demo_iso: Path, tmp_path: Path) -> None:
    code = (f"import os, time\nfrom pathlib import Path\nfrom xcptui.engine.build import atomic\n"
            f"s = atomic.OutputSlot(Path({str(tmp_path / 'o.iso')!r})).open()\n"
            "fd = s.open_part(); os.write(fd, b'x' * 65536); os.close(fd)\n"
            "print('ready', flush=True); time.sleep(60)\n")
    p = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert len(list(tmp_path.iterdir())) == 3
    r = _xcptui("build", demo_iso, "-o", tmp_path / "o.iso", "--no-verify")
    assert r.returncode == 0, r.stderr
    assert "removed leftovers of an interrupted build" in r.stderr
    assert "64.0 KiB" in r.stderr
    assert sorted(x.name for x in tmp_path.iterdir()) == ["o.iso"]


@pytest.fixture(scope="module")
def flawed_iso(demo_iso: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ISO without /boot/memtest.bin: its 'memtest' entry names a missing file."""
    from xcptui.engine.events import Progress
    from xcptui.engine.iso import hybrid
    from xcptui.engine.iso.read import IsoSource
    from xcptui.engine.iso.write import IsoChanges, apply, master

    out = tmp_path_factory.mktemp("flawed") / "flawed.iso"
    with IsoSource.open(demo_iso) as src, open(out, "wb") as f:  # below the planner's refusal
        apply(src, IsoChanges(remove={"/boot/memtest.bin"}), [])
        master(src, f, Progress(), None)
    hybrid.repair_gpt(out)
    listing = subprocess.run(["bsdtar", "-tf", str(out)], capture_output=True, text=True,
                             check=True).stdout
    assert "boot/memtest.bin" not in listing and "boot/vmlinuz" in listing
    return out


def test_flaw_inherited_from_the_source_is_a_warning(flawed_iso: Path, tmp_path: Path) -> None:
    (tmp_path / "r.toml").write_text('[boot]\nappend = ["xcptui-test=1"]\n')
    r = _xcptui("build", flawed_iso, "--recipe", tmp_path / "r.toml", "-o", tmp_path / "o.iso")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "already in the source: /boot/memtest.bin" in r.stdout
    assert (tmp_path / "o.iso").exists()
    assert sorted(x.name for x in tmp_path.iterdir()) == ["o.iso", "r.toml"]


def test_flaw_introduced_by_the_build_fails_it_with_no_output(demo_iso: Path,
                                                              tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "r.toml").write_text(
        '[[iso.files]]\nsource = "empty"\ndest = "/boot/memtest.bin"\n')
    r = _xcptui("build", demo_iso, "--recipe", tmp_path / "r.toml", "-o", tmp_path / "o.iso")
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f"xcptui: error: {tmp_path / 'o.iso'}: the built ISO fails a check")
    assert "/boot/memtest.bin" in last and "nothing was written" in last
    assert sorted(x.name for x in tmp_path.iterdir()) == ["empty", "r.toml"]


def test_removing_a_file_every_entry_boots_is_refused_before_writing(demo_iso: Path,
                                                                     tmp_path: Path) -> None:
    (tmp_path / "r.toml").write_text('[[iso.remove]]\npath = "/boot/xen.gz"\n')
    r = _xcptui("build", demo_iso, "--recipe", tmp_path / "r.toml", "-o", tmp_path / "o.iso",
                "--quiet")
    assert r.returncode == 1
    err = r.stderr.strip().splitlines()
    assert len(err) == 1, err
    assert "removes /boot/xen.gz, which boot entry 'install'" in err[0]
    assert sorted(x.name for x in tmp_path.iterdir()) == ["r.toml"]
