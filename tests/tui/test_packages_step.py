"""Packages step (issue 12): the text says what the OUTPUT will be (signing, rebuilt
xcp-ng-deps, what yum skips), from the engine's check; columns and the side pane fit
80x24 and 120x40; the filter finds pending additions; pending sizes are shown."""

from __future__ import annotations

import html
import re
import shutil
from collections import defaultdict
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from tests.tui.conftest import Assets
from tests.tui.pilot_helpers import goto, settle, text_of, wait_for, wait_session
from xcptui.engine import recipe as recipe_mod
from xcptui.tui.app import XcptuiApp
from xcptui.tui.dialogs.requires_diff import RequiresScreen

ISO = "xcp-ng-8.3.iso"
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
LONG_EVR = "4.19.19-8.0.38.1.xcpng8.3"  # the demo ISO's kernel


@pytest.fixture
def rpm(iso_dir: Path, assets: Assets) -> Path:
    (iso_dir / "rpms").mkdir()
    return Path(shutil.copy(assets.rpm, iso_dir / "rpms" / assets.rpm.name))


def screen_lines(app: XcptuiApp) -> list[str]:
    """What the terminal shows, line by line (from Textual's SVG export)."""
    svg = app.export_screenshot()
    lines: dict[int, list[tuple[float, str]]] = defaultdict(list)
    for m in re.finditer(r'<text class="[^"]*" x="([0-9.]+)" y="[0-9.]+" textLength='
                         r'"[0-9.]+" clip-path="url\(#terminal-(?:\d+-)?line-(\d+)\)">([^<]*)</text>',
                         svg):
        lines[int(m.group(2))].append((float(m.group(1)),
                                       html.unescape(m.group(3)).replace("\xa0", " ")))
    out = []
    for n in range(max(lines) + 1):
        row = ""
        for x, t in sorted(lines.get(n, [])):
            row = row.ljust(round((x - 12.2) / 12.2)) + t
        out.append(row.rstrip())
    return out


async def open_packages(pilot: Pilot[int], rec: recipe_mod.Recipe) -> None:
    app = pilot.app
    assert isinstance(app, XcptuiApp)
    await wait_session(pilot)
    app.replace_recipe(rec, None)
    await settle(pilot)
    await goto(pilot, "packages")
    await pilot.pause(0.6)  # the debounced check
    await wait_for(pilot, lambda: "checking" not in check_text(app) and
                   "not run yet" not in check_text(app))
    await settle(pilot, 0.1)


def check_text(app: XcptuiApp) -> str:
    return text_of(app.screen.query_one("#pk-check", Static))


def row_cells(app: XcptuiApp, name: str) -> list[str]:
    t = app.screen.query_one("#pk-table", DataTable)
    for key in t.rows:
        cells = [str(getattr(c, "plain", c)) for c in t.get_row(key)]
        if cells[0] == name:
            return cells
    raise AssertionError(f"no row {name}")


def requiring(rpm: Path) -> recipe_mod.Recipe:
    rec = recipe_mod.Recipe()
    rec.packages.add.append(rpm)
    rec.deps.require.append("mytool")
    return rec


@pytest.mark.parametrize("size", SIZES)
async def test_signing_says_what_the_output_will_be(iso_dir: Path, rpm: Path,
                                                    size: tuple[int, int]) -> None:
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=size) as pilot:
        await open_packages(pilot, requiring(rpm))
        text = " ".join(check_text(app).split())
        assert "source signed; output will be UNSIGNED" in text and "add [signing]" in text
        assert "the installer checks repodata/repomd.xml.asc" not in text
        # the first lines of the pane are on screen: the verdict and the signing outcome
        screen = "\n".join(screen_lines(app))
        assert "dependency check: OK" in screen and "UNSIGNED" in screen


@pytest.mark.parametrize("size", SIZES)
async def test_rebuilt_meta_row_and_requires_view(iso_dir: Path, rpm: Path,
                                                  size: tuple[int, int]) -> None:
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=size) as pilot:
        await open_packages(pilot, requiring(rpm))
        cells = row_cells(app, "xcp-ng-deps")
        assert cells[4].startswith("rebuilt as 8.3-14.1: +mytool"), cells
        assert "rebuilt as xcp-ng-deps-8.3-14.1.noarch (+ mytool)" in " ".join(
            check_text(app).split())
        app.screen.query_one("#pk-table").focus()
        await pilot.press("v")
        await settle(pilot)
        assert isinstance(app.screen, RequiresScreen)
        body = text_of(app.screen.query_one("#req-body"))
        assert "1 added, 0 removed, 0 changed" in body
        assert "xcp-ng-deps-8.3-14.noarch (on the ISO)" in body
        added = next(ln for ln in body.splitlines() if "mytool" in ln)
        assert added.lstrip().startswith("+") and added.rstrip().endswith("added")
        kernel = next(ln for ln in body.splitlines() if "kernel" in ln)
        assert kernel.count("kernel") == 2  # unchanged: on both sides
        screen = "\n".join(screen_lines(app))
        assert "mytool" in screen and "(rebuilt)" in screen
        await pilot.press("q")
        await settle(pilot)
        assert not isinstance(app.screen, RequiresScreen)


async def test_requires_view_when_not_rebuilt(iso_dir: Path) -> None:
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_packages(pilot, recipe_mod.Recipe())
        app.screen.query_one("#pk-table").focus()
        await pilot.press("v")
        await settle(pilot)
        assert isinstance(app.screen, RequiresScreen)
        assert "is not rebuilt" in text_of(app.screen.query_one("#req-body"))


@pytest.mark.parametrize("size", SIZES)
async def test_not_installed_notes_stay_with_package_changes(
        iso_dir: Path, rpm: Path, size: tuple[int, int]) -> None:
    rec = recipe_mod.Recipe()
    rec.packages.add.append(rpm)  # added, required by nothing
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=size) as pilot:
        await open_packages(pilot, rec)
        text = " ".join(check_text(app).split())
        assert "htop would NOT be installed: nothing requires it" in text
        assert "mytool would NOT be installed: nothing requires it" in text
        assert "not installed" in row_cells(app, "htop")[4]
        assert "not installed" in row_cells(app, "mytool")[4]
        assert "not installed" not in row_cells(app, "kernel")[4]


@pytest.mark.parametrize("size", SIZES)
async def test_columns_fit_the_content_and_the_width(iso_dir: Path, rpm: Path,
                                                     size: tuple[int, int]) -> None:
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=size) as pilot:
        await open_packages(pilot, requiring(rpm))
        t = app.screen.query_one("#pk-table", DataTable)
        used = sum(c.get_render_width(t) for c in t.columns.values())
        assert used <= t.scrollable_content_region.width  # no horizontal scrolling
        assert used >= t.scrollable_content_region.width - 2  # and no empty columns
        evr = t.columns[next(k for k in t.columns if k.value == "evr")]
        lines = screen_lines(app)
        if size == (120, 40):  # room for every EVR in full
            assert evr.width >= len(LONG_EVR)
            assert any(LONG_EVR in ln for ln in lines)
        assert any("rebuilt" in ln for ln in lines)
        # the side pane reads in lines, not a word a line
        side = app.screen.query_one("#pk-check-scroll")
        assert side.size.width >= (60 if size == (120, 40) else 38)


@pytest.mark.parametrize("size", SIZES)
async def test_filter_finds_pending_additions(iso_dir: Path, rpm: Path,
                                              size: tuple[int, int]) -> None:
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=size) as pilot:
        await open_packages(pilot, requiring(rpm))
        t = app.screen.query_one("#pk-table", DataTable)
        for pattern, want in ((rpm.name, ["mytool"]), ("added", ["mytool"]),
                              ("rebuilt", ["xcp-ng-deps"]), ("mytool", ["mytool", "xcp-ng-deps"])):
            app.screen.query_one("#pk-filter", Input).value = pattern
            await settle(pilot)
            got = [str(getattr(t.get_row(k)[0], "plain", "")) for k in t.rows]
            assert got == want, pattern


@pytest.mark.parametrize("size", SIZES)
async def test_pending_sizes_shown(iso_dir: Path, rpm: Path, size: tuple[int, int]) -> None:
    from xcptui.engine import units

    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=size) as pilot:
        await open_packages(pilot, requiring(rpm))
        assert row_cells(app, "mytool")[3] == units.size(rpm.stat().st_size)
        line = " ".join(text_of(app.screen.query_one("#pk-options", Static)).split())
        assert "Packages/: 10 RPMs" in line and "→ 11 RPMs" in line
        assert f"+{units.size(rpm.stat().st_size)} added" in line
        assert any("Packages/: 10 RPMs" in ln for ln in screen_lines(app))


async def test_check_beside_the_table_only_when_wide(iso_dir: Path, rpm: Path) -> None:
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(200, 50)) as pilot:
        await open_packages(pilot, requiring(rpm))
        table = app.screen.query_one("#pk-table", DataTable)
        side = app.screen.query_one("#pk-side")
        assert side.region.x >= table.region.right  # beside, not below
        evr = table.columns[next(k for k in table.columns if k.value == "evr")]
        assert evr.width >= max(len(r.evr) for r in app.screen.query_one(
            "PackagesStep")._rows)  # type: ignore[attr-defined]
        await pilot.resize_terminal(120, 40)
        await settle(pilot, 0.2)
        assert side.region.y >= table.region.bottom  # below once narrower


async def test_fix_prefers_added_packages(iso_dir: Path, rpm: Path) -> None:
    rec = recipe_mod.Recipe()
    rec.packages.add.append(rpm)
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_packages(pilot, rec)
        app.screen.query_one("#pk-table", DataTable).move_cursor(row=0)  # htop: skipped too
        app.screen.query_one("#pk-table").focus()
        await pilot.press("f")
        await settle(pilot)
        assert app.session is not None and app.session.recipe.deps.require == ["mytool"]


async def test_notifications_do_not_parse_file_names(iso_dir: Path, rpm: Path) -> None:
    """Guard: toasts go through XcptuiApp.notify (markup off): names stay literal."""
    from textual.widgets._toast import Toast

    from tests.tui.pilot_helpers import choose_file

    odd = rpm.with_name("[b]tool[red].rpm")
    shutil.copy(rpm, odd)
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await open_packages(pilot, recipe_mod.Recipe())
        app.screen.query_one("#pk-table").focus()
        await pilot.press("a")
        await choose_file(pilot, odd)
        await wait_for(pilot, lambda: bool(app.screen.query(Toast)))
        lines = screen_lines(app)
        assert any("[b]tool[red].rpm will be added" in ln for ln in lines), "\n".join(lines)


async def test_a_stale_report_does_not_mark_the_rows(iso_dir: Path, rpm: Path) -> None:
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_packages(pilot, requiring(rpm))
        assert row_cells(app, "xcp-ng-deps")[4].startswith("rebuilt")
        s = app.session
        assert s is not None
        s.recipe.deps.require.clear()
        app.recipe_changed()
        await pilot.pause()
        await pilot.pause()
        # before the new check ends: not "rebuilt" from the old report
        assert not row_cells(app, "xcp-ng-deps")[4].startswith("rebuilt")
        await pilot.pause(0.6)
        await wait_for(pilot, lambda: "checking" not in check_text(app))
        assert row_cells(app, "xcp-ng-deps")[4].startswith("original")
