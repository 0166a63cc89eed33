"""A dropped terminal (SIGHUP) during a TUI build cancels it and leaves nothing behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", "xcptui-test", *args], capture_output=True,
                          text=True).stdout


def _wait(pred: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {_tmux('capture-pane', '-p')}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sighup_mid_build_removes_temp_files(iso_factory: Callable[..., Path],
                                             tmp_path: Path) -> None:
    src = tmp_path / "src.iso"
    shutil.copy(iso_factory(filler_files=1500, fast_compress=True), src)
    (tmp_path / "r.toml").write_text('[[installer.files]]\nsource = "r.toml"\n'
                                     'dest = "/etc/xcptui-test.toml"\n')
    cmd = f"cd {tmp_path} && exec {sys.executable} -m xcptui src.iso --recipe r.toml"
    _tmux("kill-server")
    time.sleep(0.5)  # a server still shutting down makes new-session fail
    _tmux("new-session", "-d", "-x", "100", "-y", "30", cmd)
    try:
        pid = int(_tmux("display", "-p", "#{pane_pid}").strip())
        _wait(lambda: "pending change" in _tmux("capture-pane", "-p"), "the ISO to open")
        _wait(lambda: (_tmux("send-keys", "7") or True)
              and "Build ISO" in _tmux("capture-pane", "-p"), "the build step", 30)
        _tmux("send-keys", "C-r")
        _wait(lambda: any(".xcptui-" in p.name for p in tmp_path.iterdir()),
              "the build to start", 30)
        _tmux("kill-session")  # the terminal goes away: the app gets SIGHUP
        _wait(lambda: not _alive(pid), "the app to exit", 60)
    finally:
        _tmux("kill-server")
    names = sorted(p.name for p in tmp_path.iterdir() if p.name != "state")
    assert names in (["r.toml", "src.iso"], ["r.toml", "src-custom.iso", "src.iso"]), names
