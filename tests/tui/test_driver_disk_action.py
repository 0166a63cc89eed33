"""Installer step, k: add a driver disk ([[drivers.disk]] source = ...) after the engine's
plan for it; a disk the checks refuse is offered only with force."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Button

from tests.tui.pilot_helpers import choose_file, goto, settle, text_of, wait_for, wait_session
from xcptui.demoiso.builder import ALT_KVER, MAIN_KVER, KoSpec, build_ko
from xcptui.engine import make_driver_disk
from xcptui.engine import recipe as recipe_mod
from xcptui.tui.app import XcptuiApp
from xcptui.tui.dialogs.common import ChoiceDialog
from xcptui.tui.widgets.change_table import ChangeTable

ISO = "xcp-ng-8.3.iso"
SIZES = [(80, 24), (120, 40)]


def _disk(tmp: Path, abi: str | None = None) -> Path:
    ko = build_ko(KoSpec("igc", "unused", "5.4.0-k"), MAIN_KVER,
                  tmp / f"ko-{abi}" / "igc.ko", abi=abi)
    name = "igc-bad" if abi else "igc-ok"
    out = tmp / f"{name}.iso"
    make_driver_disk([ko], out, label=name)
    return out


async def _open(pilot: Pilot[int], disk: Path) -> ChoiceDialog:
    await wait_session(pilot)
    await goto(pilot, "installer")
    await pilot.press("k")
    await choose_file(pilot, disk)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ChoiceDialog), timeout=60)
    dialog = pilot.app.screen
    assert isinstance(dialog, ChoiceDialog)
    return dialog


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_add_driver_disk(iso_dir: Path, tmp_path: Path, size: tuple[int, int]) -> None:
    disk = _disk(tmp_path)
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=size) as pilot:
        dialog = await _open(pilot, disk)
        body = text_of(dialog.query_one("#dialog-body"))
        assert f"driver disk {disk.name}:" in body  # the engine's expansion line
        assert f"install.img: driver igc.ko -> kernel {MAIN_KVER}" in body  # its image plan
        ok = dialog.query_one("#add", Button)
        assert ok.region.bottom <= size[1] and ok.region.right <= size[0]
        await pilot.click("#add")
        await settle(pilot)
        assert app.session is not None
        assert app.session.recipe.drivers.disk == [recipe_mod.DriverDisk(disk)]
        table = app.screen.query_one(ChangeTable)
        assert any(c.text.startswith("driver disk ") for c in table.changes)
        assert "[[drivers.disk]]" in recipe_mod.dumps(app.session.recipe)


async def test_refused_disk_needs_force(iso_dir: Path, tmp_path: Path) -> None:
    disk = _disk(tmp_path, abi=ALT_KVER)  # vermagic of main, CRCs of the other kernel
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(120, 40)) as pilot:
        dialog = await _open(pilot, disk)
        body = text_of(dialog.query_one("#dialog-body"))
        assert "disagrees about version of symbol" in body
        assert not dialog.query("#add") and dialog.query("#force")
        await pilot.click("#force")
        await settle(pilot)
        assert app.session is not None
        (d,) = app.session.recipe.drivers.disk
        assert d.source == disk and d.force is True
