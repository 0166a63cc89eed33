"""Temp names of a build: owned (pid + flock), swept when their owner is gone, never when alive."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from xcptui.engine.build import atomic


def test_slot_names_carry_pid_and_are_removed_on_close(tmp_path: Path) -> None:
    out = tmp_path / "new.iso"
    with atomic.OutputSlot(out) as slot:
        assert slot.work.is_dir() and slot.lock_path.exists()
        assert f".new.iso.xcptui-{os.getpid()}-" in slot.part.name
        os.close(slot.open_part())
        assert slot.part.exists()
    assert list(tmp_path.iterdir()) == []


def test_commit_renames_part_into_place(tmp_path: Path) -> None:
    out = tmp_path / "new.iso"
    with atomic.OutputSlot(out) as slot:
        fd = slot.open_part()
        os.write(fd, b"iso")
        os.close(fd)
        slot.commit()
    assert [p.name for p in tmp_path.iterdir()] == ["new.iso"]
    assert out.read_bytes() == b"iso"


def _holder(tmp_path: Path) -> subprocess.Popen[str]:
    code = textwrap.dedent(f"""
        import os, sys, time
        from pathlib import Path
        from xcptui.engine.build import atomic
        slot = atomic.OutputSlot(Path({str(tmp_path / 'x.iso')!r})).open()
        fd = slot.open_part(); os.write(fd, b"x" * 4096); os.close(fd)
        print("ready", flush=True)
        time.sleep(60)
    """)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                         cwd=Path(__file__).resolve().parents[3])
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    return p


def test_sweep_never_touches_a_live_build(tmp_path: Path) -> None:
    p = _holder(tmp_path)
    try:
        before = sorted(x.name for x in tmp_path.iterdir())
        assert atomic.sweep(tmp_path) == []
        assert sorted(x.name for x in tmp_path.iterdir()) == before
        assert len(before) == 3  # lock, part, work
    finally:
        p.kill()
        p.wait()


def test_sweep_removes_leftovers_after_kill_9(tmp_path: Path) -> None:
    p = _holder(tmp_path)
    p.kill()  # SIGKILL: no cleanup ran
    p.wait()
    (tmp_path / "keep.iso").write_bytes(b"user file")
    gone = atomic.sweep(tmp_path)
    assert sorted(g.path.suffix for g in gone) == [".part", ".work"]
    assert any(g.size == 4096 for g in gone)
    assert [x.name for x in tmp_path.iterdir()] == ["keep.iso"]


def test_sweep_without_lock_judges_by_pid(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f".a.iso.xcptui-{dead.pid}-0123abcd.part"
    stale.write_bytes(b"x")
    live = tmp_path / f".a.iso.xcptui-{os.getpid()}-0123abce.part"
    live.write_bytes(b"x")
    time.sleep(0.01)
    gone = atomic.sweep(tmp_path)
    assert [g.path for g in gone] == [stale]
    assert live.exists()


def test_sweep_ignores_other_names(tmp_path: Path) -> None:
    for n in (".a.iso.part", ".a.iso.xcptui-12-zz.part", "a.iso", ".b.iso.xcptui-1-0123abcd.tmp"):
        (tmp_path / n).write_bytes(b"x")
    assert atomic.sweep(tmp_path) == []
    assert len(list(tmp_path.iterdir())) == 4
