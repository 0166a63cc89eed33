"""The driver dialog: which kernel trees a driver goes into (main, alt, all), each with
the engine's verdict (vermagic, then symbol CRCs), and the recipe entry it makes."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, RadioButton

from tests.tui.conftest import Assets
from tests.tui.pilot_helpers import choose_file, goto, settle, text_of, wait_for, wait_session
from xcptui.demoiso.builder import ALT_KVER, MAIN_KVER, KoSpec, build_ko
from xcptui.tui.app import XcptuiApp
from xcptui.tui.dialogs.driver import DriverDialog

ISO = "xcp-ng-8.3.iso"
SIZES = [(80, 24), (120, 40)]


async def _open(pilot: Pilot[int], ko: Path) -> DriverDialog:
    await wait_session(pilot)
    await goto(pilot, "installer")
    await pilot.press("d")
    await choose_file(pilot, ko)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, DriverDialog))
    dialog = pilot.app.screen
    assert isinstance(dialog, DriverDialog)
    return dialog


async def _visible(pilot: Pilot[int], dialog: DriverDialog, wid: str,
                   size: tuple[int, int]) -> None:
    w = dialog.query_one(wid)
    w.scroll_visible(animate=False)
    await settle(pilot)
    assert w.display and w.region.height > 0 and w.region.width > 20, wid
    assert w.region.right <= size[0] and w.region.bottom <= size[1], (wid, w.region)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_all_trees_with_force(iso_dir: Path, assets: Assets,
                                    size: tuple[int, int]) -> None:
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=size) as pilot:
        dialog = await _open(pilot, assets.ko)  # built for the main kernel
        labels = [text_of(b.label) for b in dialog.query(RadioButton)]
        assert labels[0].startswith(f"main: {MAIN_KVER}") and "checks pass" in labels[0]
        assert labels[1].startswith(f"alt: {ALT_KVER}") and "refused" in labels[1]
        assert labels[2].startswith("all trees:") and "refused" in labels[2]
        assert dialog.query_one("#k0", RadioButton).value  # recommended: the main tree
        assert not dialog.query_one("#ok", Button).disabled
        verdict = text_of(dialog.query_one("#driver-verdict"))
        assert f"{MAIN_KVER} (main): vermagic matches, symbol CRCs match" in verdict
        await _visible(pilot, dialog, "#driver-kernel", size)

        dialog.query_one("#k2", RadioButton).value = True  # all trees
        await settle(pilot)
        verdict = text_of(dialog.query_one("#driver-verdict"))
        assert f"{ALT_KVER} (alt): vermagic does NOT match" in verdict
        assert "vermagic" in verdict.split(f"{ALT_KVER} (alt):")[1]  # the engine's words
        await _visible(pilot, dialog, "#driver-verdict", size)
        assert dialog.query_one("#ok", Button).disabled
        assert "vermagic mismatch" in text_of(dialog.query_one("#driver-why"))
        effect = text_of(dialog.query_one("#driver-effect"))
        assert f"-> kernel {MAIN_KVER}" in effect and f"-> kernel {ALT_KVER}" in effect
        dialog.query_one("#driver-force", Checkbox).value = True
        await settle(pilot)
        assert not dialog.query_one("#ok", Button).disabled
        await pilot.click("#ok")
        await settle(pilot)
        assert app.session is not None
        (drv,) = app.session.recipe.installer.drivers
        assert drv.kernels == ["all"] and drv.kernel is None and drv.force is True


async def test_symbol_crc_refusal_per_tree(iso_dir: Path, tmp_path: Path) -> None:
    # right vermagic for the main kernel, symbol CRCs of the other kernel build
    wrong = build_ko(KoSpec("igb", "updates/igb.ko", "5.99.0-abi"), MAIN_KVER,
                     tmp_path / "abi" / "igb.ko", abi=ALT_KVER)
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(120, 40)) as pilot:
        dialog = await _open(pilot, wrong)
        verdict = text_of(dialog.query_one("#driver-verdict"))
        assert f"{MAIN_KVER} (main): vermagic matches" in verdict
        assert "disagrees about version of symbol" in verdict  # the engine's refusal
        assert dialog.query_one("#ok", Button).disabled
        assert "symbol-CRC mismatch" in text_of(dialog.query_one("#driver-why"))
        assert dialog.query_one("#driver-force", Checkbox).display


async def test_alt_tree_only(iso_dir: Path, tmp_path: Path) -> None:
    alt = build_ko(KoSpec("igb", "updates/igb.ko", "5.99.0-alt"), ALT_KVER,
                   tmp_path / "alt" / "igb.ko")
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await _open(pilot, alt)
        assert dialog.query_one("#k1", RadioButton).value  # the tree the checks pass for
        assert "checks pass" in text_of(dialog.query_one("#k1", RadioButton).label)
        assert not dialog.query_one("#ok", Button).disabled
        await pilot.click("#ok")
        await settle(pilot)
        assert app.session is not None
        (drv,) = app.session.recipe.installer.drivers
        assert drv.kernel == ALT_KVER and drv.kernels == [] and drv.force is False
