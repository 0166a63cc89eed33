"""Browse filter: no result cap (pages of 500, Enter on "N more…" adds the next), and
pending additions are found too."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import Input

from tests.tui.pilot_helpers import goto, settle, wait_session
from xcptui.engine import recipe as recipe_mod
from xcptui.tui.app import XcptuiApp
from xcptui.tui.widgets.iso_tree import IsoTree


def _leaves(tree: IsoTree) -> list[str]:
    out: list[str] = []

    def walk(node: object) -> None:
        for c in node.children:  # type: ignore[attr-defined]
            if c.children:
                walk(c)
            elif c.data is not None:
                out.append(c.data.path)

    walk(tree.root)
    return out


async def _filter(pilot: object, app: XcptuiApp, pattern: str) -> IsoTree:
    inp = app.screen.query_one("#browse-filter", Input)
    inp.focus()
    inp.value = pattern
    await pilot.press("enter")  # type: ignore[attr-defined]
    await settle(pilot)  # type: ignore[arg-type]
    return app.screen.query_one("#browse-tree", IsoTree)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_filter_pages_through_every_match(iso_factory: Callable[..., Path],
                                                size: tuple[int, int]) -> None:
    iso = iso_factory(filler_files=1500, fast_compress=True)
    app = XcptuiApp(iso)
    async with app.run_test(size=size) as pilot:
        await wait_session(pilot)
        await goto(pilot, "browse")
        tree = await _filter(pilot, app, "f00*.bin")
        assert "1000 matches" in str(tree.root.label), tree.root.label
        assert len(_leaves(tree)) == 500
        more = tree.root.children[-1]
        assert more.data is None and "500 more matches" in str(more.label)
        tree.focus()
        tree.move_cursor(more)
        await pilot.press("enter")
        await settle(pilot)
        got = _leaves(tree)
        assert len(got) == 1000 and len(set(got)) == 1000
        assert all(p.endswith(".bin") and "/f00" in p for p in got)
        assert tree.root.children[-1].data is not None  # no "more" node left


async def test_filter_finds_pending_additions(iso_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "tool").write_text("x\n")
    app = XcptuiApp(iso_dir / "xcp-ng-8.3.iso")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_session(pilot)
        rec = recipe_mod.Recipe()
        rec.installer.files.append(recipe_mod.InstallerFile(tmp_path / "tool", "/opt/newtool"))
        app.replace_recipe(rec, None)
        await settle(pilot)
        await goto(pilot, "browse")
        tree = await _filter(pilot, app, "newtool")
        assert _leaves(tree) == ["/opt/newtool"], _leaves(tree)
