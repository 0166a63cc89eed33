"""The full-screen pager (z / F3): streaming, search with n/N, cap notice, escaping."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.tui.pilot_helpers import goto, settle, text_of, wait_for, wait_session
from tests.tui.test_browse import child, select
from xcptui.tui.app import XcptuiApp
from xcptui.tui.dialogs import pager
from xcptui.tui.dialogs.pager import PagerScreen, PagerView
from xcptui.tui.widgets.iso_tree import IsoTree

ISO = "xcp-ng-8.3.iso"
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


async def open_isolinux(pilot: Any) -> IsoTree:
    await wait_session(pilot)
    await goto(pilot, "browse")
    tree = pilot.app.screen.query_one("#browse-tree", IsoTree)
    node = tree.root
    for name in ("boot", "isolinux", "isolinux.cfg"):
        node = child(node, name)
        node.expand()
        await settle(pilot)
    await select(pilot, tree, node)
    return tree


@pytest.mark.parametrize("size", SIZES)
async def test_pager_search_and_close(iso_dir: Path, size: tuple[int, int]) -> None:
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=size) as pilot:
        await open_isolinux(pilot)
        await pilot.press("z")
        await wait_for(pilot, lambda: isinstance(app.screen, PagerScreen) and app.screen.loaded)
        screen = app.screen
        assert isinstance(screen, PagerScreen)
        view = screen.query_one(PagerView)
        assert any("label" in ln.lower() for ln in view.lines)
        await pilot.press("G")
        await pilot.press("g")
        assert view.scroll_offset.y == 0
        await pilot.press("slash")
        for ch in "label":
            await pilot.press(ch)
        await pilot.press("enter")
        await settle(pilot)
        assert view.matches and view.current == 0
        status = text_of(screen.query_one("#pager-status"))
        assert f"1/{len(view.matches)}" in status
        await pilot.press("n")
        assert view.current == (1 if len(view.matches) > 1 else 0)
        await pilot.press("N")
        assert view.current == 0
        await pilot.press("q")
        await settle(pilot)
        assert not isinstance(app.screen, PagerScreen)
        # F3 also opens it; Escape closes
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, PagerScreen))
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, PagerScreen)


async def test_pager_install_img_file_and_cap(iso_dir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pager, "PAGER_MAX", 10)
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_session(pilot)
        await goto(pilot, "browse")
        tree = app.screen.query_one("#browse-tree", IsoTree)
        img = child(tree.root, "install.img")
        img.expand()
        await settle(pilot)
        etc = child(img, "etc")
        etc.expand()
        await settle(pilot)
        await select(pilot, tree, child(etc, "passwd"))
        await pilot.press("z")
        await wait_for(pilot, lambda: isinstance(app.screen, PagerScreen) and app.screen.loaded)
        screen = app.screen
        assert "install.img:/etc/passwd" in text_of(screen.query_one("#pager-title"))
        assert "first 10 B" in text_of(screen.query_one("#pager-status")) or \
            "first 10" in text_of(screen.query_one("#pager-status"))
        assert sum(len(ln) for ln in screen.query_one(PagerView).lines) <= 10


def test_feed_escapes_controls_and_splits_lines() -> None:
    view = PagerView()
    view.feed("a\x1b[31mred\tx\r\nsec")
    assert view.lines == ["a\\x1b[31mred" + " " * 7 + "x"]
    view.feed("ond\n", final=True)
    assert view.lines[-1] == "second"
    assert view.search(re.compile("e")) == 2
