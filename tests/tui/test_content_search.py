"""ctrl+f on Browse: grep across the ISO and install.img, jump list, cancel, escaping."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from tests.tui.pilot_helpers import goto, settle, text_of, wait_for, wait_session
from xcptui.tui.app import XcptuiApp
from xcptui.tui.dialogs import search
from xcptui.tui.dialogs.pager import PagerScreen, PagerView
from xcptui.tui.dialogs.search import Hit, SearchScreen, Tally
from xcptui.tui.widgets.iso_tree import IsoTree

ISO = "xcp-ng-8.3.iso"
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


@pytest.mark.parametrize("size", SIZES)
async def test_search_iso_and_image_then_jump(iso_dir: Path, size: tuple[int, int]) -> None:
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=size) as pilot:
        await wait_session(pilot)
        await goto(pilot, "browse")
        await pilot.press("ctrl+f")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SearchScreen)
        for ch in "ROOT:":
            await pilot.press(ch)
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.done, timeout=60)
        paths = {(h.area, h.path) for h in screen.hits}
        assert ("img", "/etc/passwd") in paths  # ignore case is on by default
        status = text_of(screen.query_one("#search-status"))
        assert "files searched" in status and "skipped" in status
        assert screen.tally.searched > 10
        idx = next(i for i, h in enumerate(screen.hits) if h.path == "/etc/passwd")
        hit = screen.hits[idx]
        screen.query_one("#search-hits").highlighted = idx  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PagerScreen) and app.screen.loaded)
        view = app.screen.query_one(PagerView)
        assert view.matches and view.matches[view.current][0] == hit.line - 1
        await pilot.press("q")
        await settle(pilot)
        tree = app.screen.query_one("#browse-tree", IsoTree)
        info = tree.selected_info()
        assert info is not None and info.path == "/etc/passwd" and tree.filtered


async def test_search_escape_closes_and_regex_error(iso_dir: Path) -> None:
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_session(pilot)
        await goto(pilot, "browse")
        await pilot.press("ctrl+f")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SearchScreen)
        await pilot.click("#search-regex")
        screen.query_one("#search-input").focus()
        for ch in "([":
            await pilot.press(ch)
        await pilot.press("enter")
        await settle(pilot)
        assert "bad regex" in text_of(screen.query_one("#search-status"))
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, SearchScreen)
        # a cancelled search stops before reading anything
        cancel = threading.Event()
        cancel.set()
        got: list[Hit] = []
        assert app.session is not None
        search.search_session(app.session, re.compile("a"), got.extend, Tally(), cancel)
        assert got == []


def test_lines_are_escaped() -> None:
    lines = list(search.grep(b"ok\n\x1b]0;pwn\x07 root\n", re.compile("root")))
    assert lines[0][0] == 2 and "\x1b" not in lines[0][1] and "\\x1b" in lines[0][1]
    label = search.hit_label(Hit("iso", "/a\x1bb", 2, lines[0][1], tuple(lines[0][2])))
    assert "\x1b" not in label.plain


def test_a_match_far_into_a_long_line_is_in_view() -> None:
    line = "APPEND " + "x=1 " * 60 + "console=hvc0 tail"
    (n, text, spans), = search.grep(line.encode(), re.compile("console=hvc0"))
    label = search.hit_label(Hit("iso", "/isolinux.cfg", n, text, tuple(spans)), width=60)
    body = label.plain.split(": ", 1)[1]
    assert body.startswith("…") and "console=hvc0" in body[:60]
    start = label.plain.index("console=hvc0")
    assert any(s.style == "reverse" and s.start == start and s.end == start + 12
               for s in label.spans)
