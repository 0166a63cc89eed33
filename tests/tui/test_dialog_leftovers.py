"""No stray glyphs after dialogs: closing any dialog or overlay screen gives back exactly
the screen that was there before it opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui.pilot_helpers import goto, settle, wait_session
from tests.tui.screen_text import screen_lines
from xcptui.tui.app import XcptuiApp

ISO = "xcp-ng-8.3.iso"
OPENERS = [("browse", "x"), ("browse", "a"), ("browse", "ctrl+f"), ("installer", "d"),
           ("packages", "a"), ("identity", "f4"), ("review", "v"), ("pick", "question_mark"),
           ("browse", "f6")]


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_closing_a_dialog_leaves_the_screen_as_it_was(iso_dir: Path,
                                                            size: tuple[int, int]) -> None:
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=size) as pilot:
        await wait_session(pilot)
        for step, key in OPENERS:
            await goto(pilot, step)
            await settle(pilot, 0.3)
            before = screen_lines(app)
            wizard = app.screen
            await pilot.press(key)
            await settle(pilot, 0.3)
            assert app.screen is not wizard, (step, key)  # something opened
            await pilot.press("escape")
            await settle(pilot, 0.3)
            if app.screen is not wizard:  # a file dialog inside: Esc twice
                await pilot.press("escape")
                await settle(pilot, 0.3)
            assert app.screen is wizard, (step, key)
            after = screen_lines(app)
            changed = [(i, a, b) for i, (a, b) in enumerate(zip(before, after, strict=True))
                   if a != b]
            assert not changed, (step, key, changed[:3])
