"""The Browse step: lazy tree, install.img and RPMs as folders, preview, filter, marks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import Input
from textual.widgets.tree import TreeNode

from tests.tui.pilot_helpers import goto, settle, text_of, wait_for, wait_session
from xcptui.tui.app import XcptuiApp
from xcptui.tui.widgets.iso_tree import IsoTree

ISO = "xcp-ng-8.3.iso"


def child(node: TreeNode[Any], name: str) -> TreeNode[Any]:
    for c in node.children:
        if c.data is not None and c.data.name == name:
            return c
    raise AssertionError(f"{name} not under {node.label}: "
                         f"{[c.data.name for c in node.children if c.data]}")


async def select(pilot: Any, tree: IsoTree, node: TreeNode[Any]) -> None:
    tree.move_cursor(node)
    await settle(pilot, 0.3)  # the preview is debounced


async def test_tree_preview_filter_marks_extract(iso_dir: Path, tmp_path: Path) -> None:
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_session(pilot)
        await goto(pilot, "browse")
        tree = app.screen.query_one("#browse-tree", IsoTree)
        preview = app.screen.query_one("#browse-preview-body")
        root = tree.root
        # lazy: only the top level is listed
        boot = child(root, "boot")
        assert boot.data is not None and not boot.data.loaded
        boot.expand()
        await settle(pilot)
        isodir = child(boot, "isolinux")
        isodir.expand()
        await settle(pilot)
        cfg = child(isodir, "isolinux.cfg")
        await select(pilot, tree, cfg)
        assert "menu" in text_of(preview).lower() or "label" in text_of(preview).lower()

        # install.img opens like a folder, in a worker, then is cached
        img = child(root, "install.img")
        img.expand()
        await settle(pilot)
        assert app.session is not None and app.session.image_loaded
        etc = child(img, "etc")
        etc.expand()
        await settle(pilot)
        shadow = child(etc, "shadow")
        await select(pilot, tree, shadow)
        assert "----------" in text_of(preview)  # mode 000 shown as is

        # a kernel module shows its modinfo and the vermagic verdict
        node = img
        for name in ("lib", "modules", "4.19.0+1", "updates"):
            node = child(node, name)
            node.expand()
            await settle(pilot)
        await select(pilot, tree, child(node, "ixgbe.ko"))
        assert "vermagic matches the main kernel" in text_of(preview)
        # an RPM expands to its payload
        pk = child(root, "Packages")
        pk.expand()
        await settle(pilot)
        htop = child(pk, "htop-2.2.0-3.el7.x86_64.rpm")
        await select(pilot, tree, htop)
        assert "htop-2.2.0-3.el7.x86_64" in text_of(preview)
        htop.expand()
        await settle(pilot)
        usr = child(htop, "usr")
        usr.expand()
        await settle(pilot)
        bindir = child(usr, "bin")
        bindir.expand()
        await settle(pilot)
        leaf = child(bindir, "htop").data
        assert leaf is not None and leaf.area == "rpm"

        # removing marks the node; pressing again undoes it
        eula = child(root, "EULA")
        await select(pilot, tree, eula)
        tree.focus()
        await pilot.press("delete")
        await settle(pilot)
        assert [r.path for r in app.session.recipe.iso.remove] == ["/EULA"]
        assert tree.mark_of(eula.data) == "removed"
        await pilot.press("delete")
        await settle(pilot)
        assert app.session.recipe.iso.remove == []

        # extract a file to a host folder
        dest = tmp_path / "extracted"
        dest.mkdir()
        await select(pilot, tree, eula)
        await pilot.press("x")
        await settle(pilot)
        app.screen.query_one(Input).value = str(dest)
        await pilot.press("enter")
        await wait_for(pilot, lambda: (dest / "EULA").exists())

        # filter by name across the ISO and install.img
        filt = app.screen.query_one("#browse-filter", Input)
        filt.focus()
        filt.value = "*.ko"
        await pilot.press("enter")
        await settle(pilot)
        assert tree.filtered
        assert "matches" in str(tree.root.label)
        filt.focus()
        await pilot.press("escape")
        await settle(pilot)
        assert not tree.filtered
