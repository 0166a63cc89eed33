"""Boot configs side by side (F4 on Identity & boot, v on Review) and the diff rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui.pilot_helpers import goto, settle, text_of, wait_for, wait_session
from xcptui.engine import recipe as recipe_mod
from xcptui.tui.app import XcptuiApp
from xcptui.tui.dialogs.boot_diff import BootDiffScreen
from xcptui.tui.widgets import side_by_side as sbs

ISO = "xcp-ng-8.3.iso"
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(("step", "key"), [("identity", "f4"), ("review", "v")])
async def test_side_by_side_from_steps(iso_dir: Path, size: tuple[int, int], step: str,
                                       key: str) -> None:
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=size) as pilot:
        await wait_session(pilot)
        rec = recipe_mod.Recipe()
        rec.boot.append.append("atexit=shell")
        app.replace_recipe(rec, None)
        await settle(pilot)
        await goto(pilot, step)
        app.screen.focus_next()  # any widget of the step; F4/v are the step's bindings
        await pilot.press(key)
        await wait_for(pilot, lambda: isinstance(app.screen, BootDiffScreen)
                       and app.screen.pairs is not None)
        screen = app.screen
        assert isinstance(screen, BootDiffScreen)
        names = [p.name for p in screen.pairs or []]
        assert "boot/isolinux/isolinux.cfg" in names and any("efiboot" in n for n in names)
        body = text_of(screen.query_one("#boot-diff-body"))
        assert "atexit=shell" in body and "line(s) differ" in body
        await pilot.press("q")
        await settle(pilot)
        assert not isinstance(app.screen, BootDiffScreen)


def test_rows_fold_and_head_by_entry() -> None:
    old = ["default install", "", "label install", "  kernel mboot.c32",
           "  append xen.gz dom0_mem=1G --- vmlinuz quiet"] + [f"# {i}" for i in range(10)] \
        + ["label safe", "  append xen.gz --- vmlinuz"]
    new = list(old)
    new[4] = "  append xen.gz dom0_mem=4G --- vmlinuz quiet"
    new.append("  ipappend 2")
    rows = sbs.diff_rows(old, new)
    tags = [r.tag for r in rows]
    assert tags.count("fold") == 2 and sbs.changed(rows) == 2
    assert not [r for r in rows if r.tag == "entry"]  # the labels are in the context rows
    bare = sbs.diff_rows(old, new, context=0)
    assert [r.old for r in bare if r.tag == "entry"] == ["label install", "label safe"]
    rep = next(r for r in rows if r.tag == "replace")
    assert rep.old_no == 5 and rep.new_no == 5
    assert sbs.split_lines(b"a\x1b[2Jb\n") == ["a\\x1b[2Jb"]
