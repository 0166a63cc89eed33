"""Layout survives resizes: the step sidebar keeps one line per step, all seven visible."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui.pilot_helpers import goto, settle, wait_session
from tests.tui.screen_text import screen_lines
from xcptui.engine import recipe as recipe_mod
from xcptui.tui.app import XcptuiApp

ISO = "xcp-ng-8.3.iso"
WIDE = ["1 Pick ISO", "2 Browse", "3 Installer image", "4 Packages ●",
        "5 Identity & boot ●", "6 Review", "7 Build"]


def _sidebar(lines: list[str]) -> list[str]:
    """The sidebar column: what comes before the content frame's left edge."""
    return [ln.split("▕", 1)[0].strip(" ▶▁▂▃▄▅▆▇█") for ln in lines[2:12] if "▕" in ln]


@pytest.mark.parametrize("sizes", [[(120, 40), (80, 24), (120, 40)],
                                   [(80, 24), (100, 30), (120, 40), (80, 24)]])
async def test_sidebar_one_line_per_step_after_resizes(
        iso_dir: Path, sizes: list[tuple[int, int]]) -> None:
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=sizes[0]) as pilot:
        await wait_session(pilot)
        rec = recipe_mod.Recipe()
        rec.iso.volume_id = "CUSTOM 8.3"
        rec.packages.remove.append("htop")
        app.replace_recipe(rec, None)
        await settle(pilot)
        await goto(pilot, "review")
        for size in sizes:
            await pilot.resize_terminal(*size)
            await settle(pilot, 0.2)
            side = _sidebar(screen_lines(app))
            if size[0] >= 100:
                assert side[:7] == WIDE, (size, side)
            else:
                assert side[:7] == ["1", "2", "3", "4 ●", "5 ●", "6", "7"], (size, side)


async def test_review_at_80x24_gives_the_plan_the_rows_the_table_does_not_need(
        iso_dir: Path) -> None:
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_session(pilot)
        rec = recipe_mod.Recipe()
        rec.iso.volume_id = "CUSTOM 8.3"
        rec.boot.append += ["atexit=shell"]
        app.replace_recipe(rec, None)
        await settle(pilot)
        await goto(pilot, "review")
        await settle(pilot, 0.3)
        table = app.screen.query_one("#review-changes")
        plan = app.screen.query_one("#review-plan-scroll")
        assert table.region.height <= 4  # header + 2 changes (+ scrollbar row)
        assert plan.region.height >= 10, plan.region


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_browse_m_gives_the_tree_the_whole_screen(iso_dir: Path,
                                                        size: tuple[int, int]) -> None:
    from xcptui.tui.widgets.iso_tree import IsoTree

    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=size) as pilot:
        await wait_session(pilot)
        await goto(pilot, "browse")
        tree = app.screen.query_one("#browse-tree", IsoTree)
        tree.focus()
        before = tree.region.height
        await pilot.press("m")
        await settle(pilot)
        assert app.screen.maximized is tree and tree.region.height >= size[1] - 3
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen.maximized is None and tree.region.height == before
