"""Snapshot tests: every step and the main dialogs at 80x24 and 120x40.

Nothing that varies between runs is on screen: paths are relative to a fixed working
dir (or ~-based with HOME pointing at the test dir), RPM sizes and durations are
replaced, cursor blink and animations are off (see conftest.py).
Update after a deliberate change: pytest tests/tui/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from tests.tui.conftest import Assets
from tests.tui.pilot_helpers import choose_file, goto, settle, wait_for, wait_session
from xcptui.engine import recipe as recipe_mod
from xcptui.tui.app import XcptuiApp
from xcptui.tui.dialogs.common import ErrorDialog
from xcptui.tui.dialogs.driver import DriverDialog
from xcptui.tui.dialogs.help import HelpScreen
from xcptui.tui.widgets import fmt
from xcptui.tui.widgets.iso_tree import IsoTree

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
ISO = "xcp-ng-8.3.iso"
Before = Callable[[Pilot[Any]], Awaitable[None]]


@pytest.fixture
def work(iso_dir: Path, assets: Assets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
         ) -> Path:
    """The working dir: the ISO, a driver and an RPM under fixed relative names."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (iso_dir / "drivers").mkdir()
    shutil.copy(assets.ko, iso_dir / "drivers" / "igb.ko")
    (iso_dir / "rpms").mkdir()
    shutil.copy(assets.rpm, iso_dir / "rpms" / assets.rpm.name)
    monkeypatch.setattr(fmt, "duration", lambda s: "1.0s")
    monkeypatch.setattr(fmt, "rate", lambda n, s: "")
    return iso_dir


def sample_recipe(work: Path) -> recipe_mod.Recipe:
    rec = recipe_mod.Recipe()
    rec.installer.drivers.append(recipe_mod.Driver(work / "drivers" / "igb.ko"))
    rec.packages.add.append(work / "rpms" / "mytool-1.0-1.x86_64.rpm")
    rec.deps.require.append("mytool")
    rec.iso.volume_id = "CUSTOM 8.3"
    rec.boot.append += ["atexit=shell", "blacklist=igc"]
    return rec


def opened(step: str | None = None, rec: recipe_mod.Recipe | None = None,
           then: Before | None = None) -> Before:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, XcptuiApp)
        await wait_session(pilot)
        if rec is not None:
            app.replace_recipe(rec, None)
            await settle(pilot)
        if step is not None:
            await goto(pilot, step)
        if then is not None:
            await then(pilot)
        await pilot.pause(0.6)  # debounced previews and checks
        await settle(pilot, 0.2)

    return run_before


def test_pick_chooser(snap_compare: Any, work: Path, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await pilot.pause(0.5)  # the host folder is listed by DirectoryTree's loader
        await settle(pilot)

    assert snap_compare(XcptuiApp(), terminal_size=size, run_before=before)


def test_pick_facts(snap_compare: Any, work: Path, size: tuple[int, int]) -> None:
    assert snap_compare(XcptuiApp(work / ISO), terminal_size=size, run_before=opened())


def test_browse(snap_compare: Any, work: Path, size: tuple[int, int]) -> None:
    async def expand(pilot: Pilot[Any]) -> None:
        tree = pilot.app.screen.query_one("#browse-tree", IsoTree)
        node = tree.root
        for name in ("boot", "isolinux", "isolinux.cfg"):
            node = next(c for c in node.children if c.data is not None and c.data.name == name)
            node.expand()
            await settle(pilot)
        tree.move_cursor(node)

    rec = recipe_mod.Recipe()
    rec.iso.remove.append(recipe_mod.IsoRemove("/EULA"))
    assert snap_compare(XcptuiApp(work / ISO), terminal_size=size,
                        run_before=opened("browse", rec, expand))


def test_installer(snap_compare: Any, work: Path, size: tuple[int, int]) -> None:
    async def expand(pilot: Pilot[Any]) -> None:
        tree = pilot.app.screen.query_one("#installer-tree", IsoTree)
        await wait_for(pilot, lambda: bool(tree.root.children)
                       and tree.root.children[0].data is not None)
        node = tree.root
        for name in ("lib", "modules", "4.19.0+1", "updates"):
            node = next(c for c in node.children if c.data is not None and c.data.name == name)
            node.expand()
            await settle(pilot)
        tree.move_cursor(node)

    assert snap_compare(XcptuiApp(work / ISO), terminal_size=size,
                        run_before=opened("installer", sample_recipe(work), expand))


def test_packages(snap_compare: Any, work: Path, size: tuple[int, int],
                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fmt, "size", lambda n: "6 KiB")  # RPM sizes vary by a few bytes

    async def checked(pilot: Pilot[Any]) -> None:
        await pilot.pause(0.6)
        await settle(pilot)
        await wait_for(pilot, lambda: "checking" not in str(
            pilot.app.screen.query_one("#pk-check", Static).content))

    assert snap_compare(XcptuiApp(work / ISO), terminal_size=size,
                        run_before=opened("packages", sample_recipe(work), checked))


def test_identity(snap_compare: Any, work: Path, size: tuple[int, int]) -> None:
    assert snap_compare(XcptuiApp(work / ISO), terminal_size=size,
                        run_before=opened("identity", sample_recipe(work)))


def test_review(snap_compare: Any, work: Path, size: tuple[int, int]) -> None:
    async def planned(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: "planning" not in str(
            pilot.app.screen.query_one("#review-plan", Static).content))

    assert snap_compare(XcptuiApp(work / ISO), terminal_size=size,
                        run_before=opened("review", sample_recipe(work), planned))


def test_build_ready(snap_compare: Any, work: Path, size: tuple[int, int]) -> None:
    assert snap_compare(XcptuiApp(work / ISO), terminal_size=size,
                        run_before=opened("build", sample_recipe(work)))


def test_help(snap_compare: Any, work: Path, size: tuple[int, int]) -> None:
    async def helped(pilot: Pilot[Any]) -> None:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))

    assert snap_compare(XcptuiApp(work / ISO), terminal_size=size,
                        run_before=opened(None, None, helped))


def test_driver_dialog(snap_compare: Any, work: Path, size: tuple[int, int]) -> None:
    async def dialog(pilot: Pilot[Any]) -> None:
        await pilot.press("d")
        await choose_file(pilot, work / "drivers" / "igb.ko")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, DriverDialog))

    assert snap_compare(XcptuiApp(work / ISO), terminal_size=size,
                        run_before=opened("installer", None, dialog))


def test_error_dialog(snap_compare: Any, work: Path, size: tuple[int, int]) -> None:
    bad = work / "broken.iso"
    bad.write_bytes(b"not an iso" * 100)

    async def before(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ErrorDialog))

    # relative: the message names the file as given, with no temporary path in it
    assert snap_compare(XcptuiApp(Path(bad.name)), terminal_size=size, run_before=before)


@pytest.fixture(params=SIZES)
def size(request: pytest.FixtureRequest) -> tuple[int, int]:
    size: tuple[int, int] = request.param
    return size
