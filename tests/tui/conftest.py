"""Fixtures for the TUI tests: an isolated state dir, no blinking, test drivers and RPMs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import textual.constants
from textual.widgets import Input

from xcptui.demoiso.builder import MAIN_KVER, KoSpec, build_ko
from xcptui.demoiso.rpms import RpmSpec, build_rpms


@pytest.fixture(autouse=True)
def tui_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own state dir; no cursor blink, no animations."""
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.setenv("EDITOR", "false")
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setattr(textual.constants, "TEXTUAL_ANIMATIONS", "none")
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    yield state


class Assets:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.ko = build_ko(KoSpec("igb", "updates/igb.ko", "5.99.0-test",
                                  aliases=["pci:v00008086d00001533sv*sd*bc*sc*i*"]),
                           MAIN_KVER, root / "drivers" / "igb.ko")
        self.bad_ko = build_ko(KoSpec("igb", "updates/igb.ko", "5.99.0-bad"), "5.10.0",
                               root / "bad" / "igb.ko")
        self.rpm = build_rpms([RpmSpec("mytool", "1.0", "1", "x86_64", summary="A test tool",
                                       files={"/usr/bin/mytool": (0o755, b"#!/bin/sh\necho hi\n")})],
                              root / "rpms")[0]


@pytest.fixture(scope="session")
def assets(tmp_path_factory: pytest.TempPathFactory) -> Assets:
    """A driver built for the main kernel, one built for another kernel, an RPM."""
    return Assets(tmp_path_factory.mktemp("assets"))


@pytest.fixture
def iso_dir(demo_iso: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working dir holding the demo ISO under a fixed name (stable on screen)."""
    d = tmp_path / "work"
    d.mkdir()
    (d / "xcp-ng-8.3.iso").symlink_to(demo_iso)
    monkeypatch.chdir(d)
    return d
