"""Snapshots of the full-screen views: pager, boot configs side by side, ISO diff.

Update after a deliberate change:
pytest tests/tui/test_snapshots_views.py --snapshot-update
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.tui.pilot_helpers import settle, wait_for
from tests.tui.test_snapshots import ISO, SIZES, opened, work  # noqa: F401 (fixture)
from xcptui.engine import recipe as recipe_mod
from xcptui.tui.app import XcptuiApp
from xcptui.tui.dialogs.boot_diff import BootDiffScreen
from xcptui.tui.dialogs.pager import PagerScreen
from xcptui.tui.widgets.iso_tree import IsoTree


@pytest.fixture(params=SIZES)
def size(request: pytest.FixtureRequest) -> tuple[int, int]:
    return tuple(request.param)  # type: ignore[return-value]


def test_pager(snap_compare: Any, work: Path, size: tuple[int, int]) -> None:  # noqa: F811
    async def view(pilot: Pilot[Any]) -> None:
        tree = pilot.app.screen.query_one("#browse-tree", IsoTree)
        node = tree.root
        for name in ("boot", "isolinux", "isolinux.cfg"):
            node = next(c for c in node.children if c.data is not None and c.data.name == name)
            node.expand()
            await settle(pilot)
        tree.move_cursor(node)
        await settle(pilot, 0.3)
        await pilot.press("z")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PagerScreen)
                       and pilot.app.screen.loaded)
        await pilot.press("slash", *"append", "enter")
        await settle(pilot)

    assert snap_compare(XcptuiApp(work / ISO), terminal_size=size,
                        run_before=opened("browse", None, view))


def test_boot_side_by_side(snap_compare: Any, work: Path,  # noqa: F811
                           size: tuple[int, int]) -> None:
    rec = recipe_mod.Recipe()
    rec.boot.append += ["atexit=shell"]
    rec.boot.remove += ["quiet"]

    async def view(pilot: Pilot[Any]) -> None:
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, BootDiffScreen)
                       and pilot.app.screen.pairs is not None)

    assert snap_compare(XcptuiApp(work / ISO), terminal_size=size,
                        run_before=opened("review", rec, view))
