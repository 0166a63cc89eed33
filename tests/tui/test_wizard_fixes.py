"""Wizard fixes: wrong actions refused, keys that work, no keyboard traps, true text."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable

from tests.tui.conftest import Assets
from tests.tui.pilot_helpers import choose_file, goto, settle, text_of, wait_session
from xcptui.tui.app import XcptuiApp
from xcptui.tui.dialogs.common import ErrorDialog

ISO = "xcp-ng-8.3.iso"


async def test_not_an_rpm_is_refused_naming_the_file(iso_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "notrpm.rpm"
    bad.write_bytes(b"abc")
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_session(pilot)
        await goto(pilot, "packages")
        await pilot.press("a")
        await choose_file(pilot, bad)
        assert isinstance(app.screen, ErrorDialog)
        body = text_of(app.screen.query_one("#dialog-body"))
        assert "notrpm.rpm" in body and "RPM" in body
        assert app.session is not None and app.session.recipe.packages.add == []


async def test_packages_end_then_delete_removes_the_last_row(iso_dir: Path) -> None:
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_session(pilot)
        await goto(pilot, "packages")
        table = app.screen.query_one("#pk-table", DataTable)
        table.focus()
        await pilot.press("end")
        assert table.cursor_row == table.row_count - 1
        last = str(table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value)
        await pilot.press("home")
        assert table.cursor_row == 0
        await pilot.press("end", "delete")
        await settle(pilot)
        s = app.session
        assert s is not None and len(s.recipe.packages.remove) == 1
        assert s.recipe.packages.remove[0].split("-")[0] in last


async def test_extract_takes_a_typed_folder_and_says_what(iso_dir: Path, tmp_path: Path) -> None:
    from textual.widgets import Input

    from tests.tui.test_browse import child, select
    from xcptui.tui.dialogs.common import InputDialog
    from xcptui.tui.widgets.iso_tree import IsoTree

    dest = tmp_path / "x"
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_session(pilot)
        await goto(pilot, "browse")
        tree = app.screen.query_one("#browse-tree", IsoTree)
        boot = child(tree.root, "boot")
        await select(pilot, tree, boot)
        tree.focus()
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, InputDialog)
        inp = app.screen.query_one(Input)
        assert inp.has_focus and inp.value  # prefilled
        inp.value = str(dest)
        await pilot.press("enter")
        await settle(pilot, 0.3)
        assert (dest / "boot" / "isolinux" / "isolinux.cfg").is_file() or \
            (dest / "isolinux" / "isolinux.cfg").is_file()
        said = [n.message for n in app._notifications]
        assert any(m.startswith("extracted ") and "files (" in m and "iB) to " in m
                   and str(dest) in m for m in said), said


async def test_overlong_label_says_why_next_to_the_field(iso_dir: Path) -> None:
    from textual.widgets import Input

    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_session(pilot)
        await goto(pilot, "identity")
        inp = app.screen.query_one("#f-volid", Input)
        inp.focus()
        inp.value = "A" * 33
        await settle(pilot)
        assert "33/32" in text_of(app.screen.query_one("#f-volid-count"))
        why = app.screen.query_one("#f-volid-why")
        assert "at most 32" in text_of(why)
        assert why.region.height > 0 and why.region.y < 24  # visible without scrolling


async def test_non_xml_answerfile_is_refused_when_chosen(iso_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "af.xml"
    bad.write_text("not xml at all\n")
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_session(pilot)
        await goto(pilot, "identity")
        app.screen.query_one("#af-embed").value = True
        await settle(pilot)
        app.screen.query_one("#af-browse").press()
        await choose_file(pilot, bad)
        assert isinstance(app.screen, ErrorDialog)
        body = text_of(app.screen.query_one("#dialog-body"))
        assert "af.xml line 1" in body and "not well-formed XML" in body
        await pilot.press("escape")
        assert app.screen.query_one("#f-af-file").value == ""


async def test_opening_shows_progress_on_screen(iso_dir: Path, monkeypatch: object) -> None:
    import threading
    import time

    import pytest

    from xcptui.tui.steps import pick
    from xcptui.tui.widgets.job_status import JobStatus

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    release = threading.Event()
    real = pick.gather_facts

    def slow(*a: object, **k: object) -> object:
        release.wait(10)
        return real(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(pick, "gather_facts", slow)
    app = XcptuiApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen.query_one(pick.PickStep).open_iso(iso_dir / ISO)
        end = time.monotonic() + 5
        job = app.screen.query_one("#pick-job", JobStatus)
        while not job.has_class("-running") and time.monotonic() < end:
            await pilot.pause(0.05)
        await pilot.pause(0.1)
        r = job.region
        assert job.display and r.height == 1 and 0 <= r.y < 24, r
        assert "gather facts" in text_of(job.query_one("#what"))
        shot = app.export_screenshot().replace("&#160;", " ")
        assert "gather facts" in shot  # really on screen, not clipped below the fold
        release.set()
        await wait_session(pilot)


async def test_driver_dialog_says_why_accept_is_grey_and_scrolls(iso_dir: Path,
                                                                 assets: Assets) -> None:
    from textual.widgets import Button, Checkbox

    from xcptui.tui.dialogs.driver import DriverDialog

    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_session(pilot)
        await goto(pilot, "installer")
        await pilot.press("d")
        await choose_file(pilot, assets.bad_ko)
        dialog = app.screen
        assert isinstance(dialog, DriverDialog)
        assert dialog.query_one("#ok", Button).disabled
        why = dialog.query_one("#driver-why")
        assert "vermagic mismatch" in text_of(why) and "Force" in text_of(why)
        assert 0 <= why.region.y < 24 and why.region.width > 20
        body = dialog.query_one("#driver-body")
        assert body.max_scroll_y > 0  # at 80x24 the plan is below the fold...
        await pilot.press("pagedown")
        await settle(pilot)
        assert body.scroll_y > 0  # ...and the keyboard reaches it
        dialog.query_one("#driver-force", Checkbox).value = True
        await settle(pilot)
        assert text_of(why).strip() == ""


async def test_file_dialogs_focus_the_path_input(iso_dir: Path) -> None:
    from textual.widgets import Input

    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_session(pilot)
        await goto(pilot, "packages")
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.focused, Input)
        await pilot.press("x")
        assert app.focused.value.endswith("x")


async def test_pick_letters_search_the_tree_not_fire_bindings(iso_dir: Path) -> None:
    from textual.widgets import Label

    from xcptui.tui.steps.wizard import WizardScreen
    from xcptui.tui.widgets.iso_file_tree import IsoFileTree

    (iso_dir / "rdir").mkdir()
    (iso_dir / "rdir" / "sub").mkdir()
    app = XcptuiApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, 0.3)
        tree = app.screen.query_one(IsoFileTree)
        tree.focus()
        await pilot.press("r")  # jumps to rdir, does not open "Load recipe"
        await settle(pilot, 0.3)
        assert isinstance(app.screen, WizardScreen)
        node = tree.cursor_node
        assert node is not None and str(node.label) == "rdir"
        await pilot.press("enter")  # a folder: expands, focus stays in the list
        await settle(pilot, 0.3)
        assert app.focused is tree
        await pilot.press("r", "d")
        await settle(pilot, 0.3)
        assert isinstance(app.screen, WizardScreen) and app.session is None
        # in a text field the nav line says Alt+1-7 (digits type there)
        app.screen.query_one("#pick-path").focus()
        await settle(pilot)
        assert "alt+1-7" in str(app.screen.query_one("#nav-hint", Label).render())
