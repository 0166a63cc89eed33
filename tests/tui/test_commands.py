"""The wizard's commands in the command palette."""

from __future__ import annotations

from pathlib import Path

from textual.command import CommandPalette

from tests.tui.pilot_helpers import settle, wait_for, wait_session
from xcptui.tui.app import XcptuiApp
from xcptui.tui.commands import wizard_commands

ISO = "xcp-ng-8.3.iso"


async def test_step_commands_need_an_open_iso(iso_dir: Path) -> None:
    app = XcptuiApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        titles = [c.title for c in wizard_commands(app)]
        assert "Go to: Pick ISO" in titles and "Open demo ISO" in titles
        assert "Go to: Packages" not in titles and "Save recipe…" not in titles


async def test_palette_runs_a_wizard_command(iso_dir: Path) -> None:
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_session(pilot)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        for ch in "go to: identity":
            await pilot.press({" ": "space", ":": "colon"}.get(ch, ch))
        await pilot.pause(0.5)  # the palette searches asynchronously
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.wizard.current == "identity")
