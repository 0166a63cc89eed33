"""Behaviour of the wizard: cancel, errors, autosave, quitting, validation, $EDITOR."""

from __future__ import annotations

import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Button, Checkbox, Input

from tests.tui.conftest import Assets
from tests.tui.pilot_helpers import choose_file, goto, settle, text_of, wait_for, wait_session
from xcptui.engine import recipe as recipe_mod
from xcptui.engine.build import runner as build_mod
from xcptui.engine.events import check
from xcptui.tui.app import XcptuiApp
from xcptui.tui.commands import wizard_commands
from xcptui.tui.dialogs.common import ChoiceDialog, ErrorDialog
from xcptui.tui.dialogs.driver import DriverDialog
from xcptui.tui.dialogs.help import HelpScreen
from xcptui.tui.state import statedir
from xcptui.tui.steps.build import BuildStep, leftovers
from xcptui.tui.widgets.change_table import ChangeTable
from xcptui.tui.widgets.iso_tree import IsoTree

ISO = "xcp-ng-8.3.iso"


async def test_cancel_really_stops_and_leaves_nothing(iso_dir: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    started = threading.Event()
    real_plan = build_mod.plan_build

    def slow_plan(src: Any, rec: Any, workdir: Path, progress: Any, cancel: Any) -> Any:
        started.set()
        for _ in range(400):  # a long step that honours the cancel event like the engine
            check(cancel)
            time.sleep(0.01)
        return real_plan(src, rec, workdir, progress, cancel)

    monkeypatch.setattr(build_mod, "plan_build", slow_plan)
    out = tmp_path / "out" / "x.iso"
    out.parent.mkdir()
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_session(pilot)
        await goto(pilot, "build")
        app.screen.query_one("#build-output", Input).value = str(out)
        await pilot.press("ctrl+r")
        build = app.screen.query_one(BuildStep)
        for _ in range(100):
            if started.is_set():
                break
            await pilot.pause(0.02)
        assert build.running
        assert app.wizard.go("review") is False  # navigation is locked while building
        await pilot.press("escape")
        await settle(pilot)
        assert not build.running
        summary = text_of(build.query_one("#build-summary"))
        assert "Cancelled" in summary
        assert not isinstance(app.screen, ErrorDialog)  # a cancel is not an error
    assert not out.exists()
    assert leftovers(out) == []
    assert list(out.parent.iterdir()) == []


async def test_engine_error_is_a_dialog_not_a_crash(tmp_path: Path) -> None:
    bad = tmp_path / "not-an.iso"
    bad.write_bytes(b"hello" * 1000)
    app = XcptuiApp(bad)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorDialog))
        body = text_of(app.screen.query_one("#dialog-body"))
        assert "not an ISO 9660 image" in body
        assert "\n" not in body.strip()
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, ErrorDialog)
        assert app.is_running


async def test_autosave_is_offered_back(iso_dir: Path) -> None:
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_session(pilot)
        assert app.session is not None
        app.session.recipe.boot.append.append("atexit=shell")
        app.recipe_changed()
        await settle(pilot)
        await pilot.press("ctrl+q")
        await settle(pilot)
        assert isinstance(app.screen, ChoiceDialog)  # unsaved changes: it asks
        await pilot.click("#quit")
        await settle(pilot)
    assert statedir.autosave_path(iso_dir / ISO).is_file()

    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_session(pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceDialog))
        await pilot.click("#yes")
        await settle(pilot)
        assert app.session is not None
        assert app.session.recipe.boot.append == ["atexit=shell"]
        assert statedir.load_recent()[0] == (iso_dir / ISO).resolve()


async def test_quit_without_changes_does_not_ask(iso_dir: Path) -> None:
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_session(pilot)
        await pilot.press("ctrl+q")
        await settle(pilot)
        assert not app.is_running


async def test_driver_with_wrong_vermagic_needs_force(iso_dir: Path, assets: Assets) -> None:
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_session(pilot)
        await goto(pilot, "installer")
        await pilot.press("d")
        await choose_file(pilot, assets.bad_ko)
        assert isinstance(app.screen, DriverDialog)
        dialog = app.screen
        assert "does NOT match" in text_of(dialog.query_one("#driver-info")) or \
            "matches none" in text_of(dialog.query_one("#driver-info"))
        assert dialog.query_one("#ok", Button).disabled
        dialog.query_one("#driver-force", Checkbox).value = True
        await settle(pilot)
        assert not dialog.query_one("#ok", Button).disabled
        await pilot.click("#ok")
        await settle(pilot)
        assert app.session is not None
        (drv,) = app.session.recipe.installer.drivers
        assert drv.force is True


async def test_invalid_label_is_refused_inline(iso_dir: Path) -> None:
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_session(pilot)
        await goto(pilot, "identity")
        volid = app.screen.query_one("#f-volid", Input)
        volid.value = 'bad "label"'
        await settle(pilot)
        assert volid.has_class("-invalid")
        assert "volume id" in text_of(app.screen.query_one("#id-errors"))
        await pilot.press("ctrl+y")
        await settle(pilot)
        assert app.session is not None
        assert app.session.recipe.iso.volume_id is None
        # leaving with an unapplied edit is refused until reverted
        assert app.wizard.go("review") is False
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert app.wizard.go("review") is True


async def test_edit_in_editor_becomes_a_recipe_entry(iso_dir: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    editor = tmp_path / "fake-editor"
    editor.write_text("#!/bin/sh\necho '# edited by the test' >> \"$1\"\n")
    editor.chmod(editor.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("EDITOR", str(editor))
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_session(pilot)
        await goto(pilot, "installer")
        tree = app.screen.query_one("#installer-tree", IsoTree)
        await settle(pilot)
        # select /EULA inside install.img (a top-level text file)
        node = next(n for n in tree.root.children if n.data and n.data.name == "EULA")
        tree.move_cursor(node)
        await pilot.press("e")
        await settle(pilot, 0.2)
        assert app.session is not None
        (f,) = app.session.recipe.installer.files
        assert f.dest == "/EULA"
        assert statedir.state_dir() in f.source.parents
        assert f.source.read_text().endswith("# edited by the test\n")
        # the entry survives a save/load round trip
        saved = tmp_path / "r.toml"
        recipe_mod.save(app.session.recipe, saved)
        assert recipe_mod.load(saved).installer.files[0].source == f.source


async def test_help_and_palette(iso_dir: Path) -> None:
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_session(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await settle(pilot)
        titles = [c.title for c in wizard_commands(app)]
        assert "Go to: Packages" in titles and "Save recipe…" in titles
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert app.wizard.current == "browse"
        await pilot.press("ctrl+b")
        await settle(pilot)
        assert app.wizard.current == "pick"


async def test_recipe_given_on_the_command_line(iso_dir: Path, assets: Assets,
                                                tmp_path: Path) -> None:
    rec = recipe_mod.Recipe()
    rec.packages.add.append(assets.rpm)
    rec.deps.require.append("mytool")
    path = tmp_path / "given.toml"
    recipe_mod.save(rec, path)
    app = XcptuiApp(iso_dir / ISO, path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_session(pilot)
        assert app.session is not None
        assert app.session.recipe.deps.require == ["mytool"]
        assert app.session.saved_path == path
        assert not app.session.dirty
        await goto(pilot, "review")
        texts = [c.text for c in app.screen.query_one("#review-changes", ChangeTable).changes]
        assert "Requires: mytool" in texts
