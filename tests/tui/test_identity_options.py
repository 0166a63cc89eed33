"""Identity & boot: which boot entries get the answerfile, [signing] installer_gpgcheck and
[boot] unique_search, each shown with the engine's plan."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, RadioButton, Select, SelectionList, Static

from tests.tui.pilot_helpers import goto, settle, text_of, wait_for, wait_session
from xcptui.tui.app import XcptuiApp

ISO = "xcp-ng-8.3.iso"
SIZES = [(80, 24), (120, 40)]
URL = "http://srv/a.xml"


def _effect(app: XcptuiApp) -> str:
    return text_of(app.screen.query_one("#id-effect-body", Static))


async def _shown_on_screen(pilot: Pilot[int], wid: str, size: tuple[int, int]) -> None:
    """Scrolled to, the widget is on screen and not squeezed to nothing."""
    w = pilot.app.screen.query_one(wid)
    w.scroll_visible(animate=False)
    await settle(pilot)
    assert w.display and w.region.width > 0 and w.region.height > 0, wid
    assert w.region.right <= size[0] and w.region.bottom <= size[1], (wid, w.region)


async def _apply(pilot: Pilot[int]) -> None:
    await pilot.press("ctrl+y")
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_answerfile_entries_list(iso_dir: Path, size: tuple[int, int]) -> None:
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=size) as pilot:
        await wait_session(pilot)
        await goto(pilot, "identity")
        entries = app.screen.query_one("#f-af-entries", SelectionList)
        assert not entries.display  # no answerfile: nothing to choose
        app.screen.query_one("#af-url", RadioButton).value = True
        app.screen.query_one("#f-af-url", Input).value = URL
        await settle(pilot)
        assert entries.display
        prompts = [str(entries.get_option_at_index(i).prompt)
                   for i in range(entries.option_count)]
        assert [p.split()[0] for p in prompts] == ["install", "no-serial", "safe",
                                                   "multipath", "install-alt", "shell"]
        assert "interactive by default" in prompts[2] and "interactive by default" in prompts[5]
        # the engine's default: every installer entry but shell and safe
        assert sorted(entries.selected) == ["install", "install-alt", "multipath", "no-serial"]
        await _shown_on_screen(pilot, "#f-af-entries", size)
        await _apply(pilot)
        assert app.session is not None
        af = app.session.recipe.answerfile
        assert af is not None and af.url == URL and af.entries == []
        await wait_for(pilot, lambda: "left interactive: safe, shell" in _effect(app))

        entries.select("shell")
        await settle(pilot)
        await _apply(pilot)
        af = app.session.recipe.answerfile
        assert af is not None
        assert af.entries == ["install", "no-serial", "multipath", "install-alt", "shell"]
        await wait_for(pilot, lambda: "left interactive: safe" in _effect(app)
                       and "shell;" in _effect(app))

        entries.select("safe")
        await settle(pilot)
        await _apply(pilot)
        af = app.session.recipe.answerfile
        assert af is not None and af.entries == ["all"]
        await wait_for(pilot, lambda: "answerfile on every installer entry" in _effect(app))

        entries.deselect_all()
        await settle(pilot)
        await _apply(pilot)
        assert "at least one boot entry" in text_of(app.screen.query_one("#id-errors"))
        af = app.session.recipe.answerfile
        assert af is not None and af.entries == ["all"]  # refused, unchanged
        await pilot.press("ctrl+r")  # revert: the form follows the recipe again
        await settle(pilot)
        assert len(entries.selected) == 6


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_installer_gpgcheck_and_unique_search(iso_dir: Path,
                                                    size: tuple[int, int]) -> None:
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=size) as pilot:
        await wait_session(pilot)
        await goto(pilot, "identity")
        gpg = app.screen.query_one("#f-gpgcheck", Select)
        assert gpg.value == "auto"
        why = app.screen.query_one("#f-gpgcheck-why", Static)
        assert "re-signed by you" in text_of(why)
        for wid in ("#f-gpgcheck", "#f-gpgcheck-why", "#f-unique", "#f-unique-why"):
            await _shown_on_screen(pilot, wid, size)
        gpg.value = "off"
        await settle(pilot)
        assert "no-gpgcheck: unsigned RPMs install" in text_of(why)
        await _apply(pilot)
        assert app.session is not None
        sig = app.session.recipe.signing
        assert sig is not None and sig.installer_gpgcheck == "off" and sig.mode == "unsigned"
        await wait_for(pilot, lambda: "installer gpgcheck off" in _effect(app))

        gpg.value = "keep"
        app.screen.query_one("#f-unique", Checkbox).value = True
        await settle(pilot)
        await _apply(pilot)
        sig = app.session.recipe.signing
        assert sig is not None and sig.installer_gpgcheck == "keep"
        assert app.session.recipe.boot.unique_search is True
        await wait_for(pilot, lambda: "another XCP-ng USB stick cannot take over"
                       in _effect(app).replace("\n", " "))
        assert "installer gpgcheck off" not in _effect(app)

        gpg.value = "auto"
        await settle(pilot)
        await _apply(pilot)
        assert app.session.recipe.signing is None  # the section only held the setting


async def test_recipe_entries_the_list_cannot_show_are_kept(iso_dir: Path,
                                                            tmp_path: Path) -> None:
    from xcptui.engine import recipe as recipe_mod

    rec = recipe_mod.loads(f'[answerfile]\nurl = "{URL}"\nentries = ["shell", "nosuch"]\n',
                           tmp_path)
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_session(pilot)
        app.replace_recipe(rec, None)
        await settle(pilot)
        await goto(pilot, "identity")
        entries = app.screen.query_one("#f-af-entries", SelectionList)
        assert entries.selected == ["shell"]
        app.screen.query_one("#f-timeout", Input).value = "7"  # an unrelated edit
        await settle(pilot)
        await _apply(pilot)
        assert app.session is not None
        af = app.session.recipe.answerfile
        assert af is not None and af.entries == ["shell", "nosuch"]
        assert app.session.recipe.boot.timeout == 7
        await wait_for(pilot, lambda: "no boot entry 'nosuch'" in _effect(app))
