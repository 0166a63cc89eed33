"""Browse marks the folders holding a pending change (issue 12): a collapsed Packages/,
boot/ or EFI/ shows "~" when the recipe adds packages or rewrites boot configs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.style import Style
from textual.widgets.tree import TreeNode

from tests.tui.conftest import Assets
from tests.tui.pilot_helpers import goto, settle, wait_session
from xcptui.engine.recipe import edits as ops
from xcptui.tui.app import XcptuiApp
from xcptui.tui.widgets.iso_tree import IsoTree


def child(node: TreeNode[Any], name: str) -> TreeNode[Any]:
    for c in node.children:
        if c.data is not None and c.data.name == name:
            return c
    raise AssertionError(f"{name!r} not in {[c.data.name for c in node.children if c.data]}")


def drawn(tree: IsoTree, node: TreeNode[Any]) -> str:
    return tree.render_label(node, Style(), Style()).plain


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_folders_of_pending_changes_are_marked(iso_dir: Path, assets: Assets,
                                                     size: tuple[int, int]) -> None:
    app = XcptuiApp(iso_dir / "xcp-ng-8.3.iso")
    async with app.run_test(size=size) as pilot:
        await wait_session(pilot)
        await goto(pilot, "browse")
        tree = app.screen.query_one("#browse-tree", IsoTree)
        root = tree.root
        for name in ("Packages", "boot", "EFI", "repodata"):
            assert not drawn(tree, child(root, name)).lstrip("▶ ").startswith("~"), name

        s = app.session
        assert s is not None
        ops.add_package(s.recipe, assets.rpm)  # Packages/ and repodata/ change
        ops.set_param(s.recipe, "console=ttyS0", True)  # every boot config is rewritten
        app.recipe_changed()
        await settle(pilot)
        # the engine's marks are on files inside the folders...
        marks = s.iso_marks()
        assert marks["/boot/isolinux/isolinux.cfg"] == "replaced"
        assert marks["/EFI/xenserver/grub.cfg"] == "replaced"
        assert marks["/Packages/mytool-1.0-1.x86_64.rpm"] == "added"
        # ...and the collapsed folders above them show it
        for name in ("Packages", "boot", "EFI"):
            node = child(root, name)
            assert not node.is_expanded
            assert tree.mark_of(node.data) == "changed", name
            assert drawn(tree, node).startswith("▶ ~ "), (name, drawn(tree, node))
        assert tree.mark_of(child(root, "repodata").data) == "replaced"
        assert tree.mark_of(child(root, "EULA").data) is None
        boot = child(root, "boot")
        boot.expand()
        await settle(pilot)
        assert tree.mark_of(child(boot, "isolinux").data) == "changed"
        assert tree.mark_of(child(boot, "efiboot.img").data) == "replaced"
        assert tree.mark_of(child(boot, "alt").data) is None
        pk = child(root, "Packages")
        pk.expand()
        await settle(pilot)
        assert drawn(tree, child(pk, "mytool-1.0-1.x86_64.rpm")).lstrip().startswith("+ ")

        # undone: the folder marks go too
        s.recipe.packages.add.clear()
        s.recipe.boot.append.clear()
        app.recipe_changed()
        await settle(pilot)
        for name in ("Packages", "boot", "EFI"):
            assert tree.mark_of(child(root, name).data) is None, name
