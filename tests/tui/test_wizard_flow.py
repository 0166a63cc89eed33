"""The whole wizard on the demo ISO, checked with independent tools and against the CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

from textual.widgets import Input

from tests.helpers import bsdtar_files, cpio_listing, eltorito, iso_member
from tests.tui.conftest import Assets
from tests.tui.pilot_helpers import choose_file, goto, settle, text_of, wait_session
from xcptui.cli import main as cli_main
from xcptui.demoiso.builder import MAIN_KVER
from xcptui.engine import recipe as recipe_mod
from xcptui.tui.app import XcptuiApp
from xcptui.tui.dialogs.driver import DriverDialog
from xcptui.tui.steps.build import BuildStep
from xcptui.tui.widgets.change_table import ChangeTable


def efi_grub(iso: Path, work: Path) -> bytes:
    work.mkdir()
    img = work / "efiboot.img"
    img.write_bytes(iso_member(iso, "boot/efiboot.img"))
    return subprocess.run(["mtype", "-i", str(img), "::/EFI/xenserver/grub.cfg"],
                          capture_output=True, check=True).stdout


IGB_OLD = f"lib/modules/{MAIN_KVER}/kernel/drivers/net/ethernet/intel/igb/igb.ko"
IGB_NEW = f"lib/modules/{MAIN_KVER}/updates/igb.ko"


async def test_whole_wizard_then_cli_replay(iso_dir: Path, assets: Assets, tmp_path: Path
                                            ) -> None:
    out = tmp_path / "out" / "custom.iso"
    out.parent.mkdir()
    saved = tmp_path / "out" / "my-recipe.toml"
    app = XcptuiApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        # 1 pick: type the ISO path in the chooser
        path_input = app.screen.query_one("#pick-path", Input)
        path_input.value = str(iso_dir / "xcp-ng-8.3.iso")
        path_input.focus()
        await pilot.press("enter")
        await wait_session(pilot)
        assert app.session is not None
        assert "XCP-ng 8.3.0" in text_of(app.screen.query_one("#facts-body"))

        # 3 swap a driver
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("d")
        await choose_file(pilot, assets.ko)
        assert isinstance(app.screen, DriverDialog)
        effect = text_of(app.screen.query_one("#driver-effect"))
        assert "igb" in effect and "remove" in effect
        await pilot.click("#ok")
        await settle(pilot)
        assert [d.source for d in app.session.recipe.installer.drivers] == [assets.ko]

        # 4 add an RPM and require it from xcp-ng-deps with the one-key fix
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("a")
        await choose_file(pilot, assets.rpm)
        await settle(pilot, 0.6)  # the dependency check is debounced
        check = text_of(app.screen.query_one("#pk-check"))
        assert "mytool would NOT be installed" in check
        await pilot.press("f")
        await settle(pilot, 0.6)
        assert app.session.recipe.deps.require == ["mytool"]

        # 5 label and a boot parameter, applied with ^y
        await pilot.press("5")
        await settle(pilot)
        app.screen.query_one("#f-volid", Input).value = "CUSTOM 8.3"
        app.screen.query_one("#f-extra", Input).value = "blacklist=igc"
        await settle(pilot, 0.5)
        effect = text_of(app.screen.query_one("#id-effect-body"))
        assert "+blacklist=igc" in effect
        await pilot.press("ctrl+y")
        await settle(pilot)
        assert app.session.recipe.iso.volume_id == "CUSTOM 8.3"
        assert app.session.recipe.boot.append == ["blacklist=igc"]

        # 6 review, then save the recipe
        await pilot.press("6")
        await settle(pilot, 0.3)
        table = app.screen.query_one("#review-changes", ChangeTable)
        texts = [c.text for c in table.changes]
        assert any("igb.ko" in t for t in texts)
        assert "Requires: mytool" in texts
        assert "boot parameter blacklist=igc" in texts
        await pilot.press("ctrl+s")
        await choose_file(pilot, saved)
        assert saved.is_file()
        assert not app.session.dirty

        # 7 build
        await goto(pilot, "build")
        app.screen.query_one("#build-output", Input).value = str(out)
        await pilot.press("ctrl+r")
        await settle(pilot, 0.3)
        build = app.screen.query_one(BuildStep)
        assert build.result is not None, text_of(build.query_one("#build-summary"))
        summary = text_of(build.query_one("#build-summary"))
        assert "Build complete" in summary
        assert f"--recipe {saved}" in summary

    assert out.is_file()
    # independent tools: install.img as bsdtar lists it
    listing = "\n".join(cpio_listing(iso_member(out, "install.img")))
    assert IGB_NEW in listing
    assert IGB_OLD not in listing
    # El Torito still has BIOS and UEFI entries
    et = eltorito(out)
    assert "BIOS" in et and "UEFI" in et
    # the volume label, as isoinfo reads it
    info = subprocess.run(["isoinfo", "-d", "-i", str(out)], capture_output=True, text=True,
                          check=True).stdout
    assert "Volume id: CUSTOM 8.3" in info
    files = bsdtar_files(out)
    assert "Packages/mytool-1.0-1.x86_64.rpm" in files
    assert b"blacklist=igc" in iso_member(out, "boot/isolinux/isolinux.cfg")

    # the saved recipe replays with the CLI to the same result
    rec = recipe_mod.load(saved)
    assert rec.deps.require == ["mytool"]
    cli_out = tmp_path / "cli.iso"
    assert cli_main(["build", str(iso_dir / "xcp-ng-8.3.iso"), "--recipe", str(saved),
                     "-o", str(cli_out), "--quiet"]) == 0
    assert iso_member(cli_out, "install.img") == iso_member(out, "install.img")
    for cfg in ("boot/isolinux/isolinux.cfg", "EFI/xenserver/grub.cfg"):
        assert iso_member(cli_out, cfg) == iso_member(out, cfg), cfg
    # efiboot.img carries FAT timestamps; compare the grub.cfg inside it (read with mtools)
    assert efi_grub(cli_out, tmp_path / "a") == efi_grub(out, tmp_path / "b")
    assert b"blacklist=igc" in efi_grub(out, tmp_path / "c")
    # same file list; repodata names carry content hashes (the rebuilt xcp-ng-deps has
    # its own build time), so compare those by kind
    def names(paths: dict[str, str]) -> list[str]:
        return sorted(p.rsplit("-", 1)[-1] if p.startswith("repodata/") else p for p in paths)

    cli_files = bsdtar_files(cli_out)
    assert names(cli_files) == names(files)
    same = [p for p in files if not p.startswith(("repodata/", "Packages/xcp-ng-deps"))
            and p != "boot/efiboot.img"]
    assert {p: cli_files[p] for p in same} == {p: files[p] for p in same}
