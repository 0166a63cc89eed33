"""F6 / palette "Compare with another ISO…": the engine's diff report as a tree."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Tree

from tests.tui.pilot_helpers import settle, text_of, wait_for, wait_session
from tests.tui.screen_text import screen_lines
from xcptui.engine import build_iso, recipe
from xcptui.tui.app import XcptuiApp
from xcptui.tui.dialogs.compare import CompareScreen

ISO = "xcp-ng-8.3.iso"


@pytest.fixture
def changed(iso_dir: Path, tmp_path: Path) -> Path:
    out = tmp_path / "changed.iso"
    r = recipe.loads('[boot]\nappend = ["xyz=1"]\n[packages]\nremove = ["htop"]\n', tmp_path)
    build_iso(iso_dir / ISO, r, out, verify=False)
    return out


def _labels(tree: Tree[None]) -> list[str]:
    out: list[str] = []

    def walk(node: object) -> None:
        for c in node.children:  # type: ignore[attr-defined]
            out.append(str(c.label))
            walk(c)

    walk(tree.root)
    return out


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_compare_shows_the_engines_report(iso_dir: Path, changed: Path,
                                                size: tuple[int, int]) -> None:
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=size) as pilot:
        await wait_session(pilot)
        app.wizard.compare_with(changed)
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        await wait_for(pilot, lambda: screen.report is not None)
        assert screen.report is not None and not screen.report.identical
        labels = _labels(screen.query_one(Tree))
        assert any(lb.startswith("Packages: ") for lb in labels), labels
        assert any(lb.startswith("- htop-") for lb in labels), labels
        assert any("xyz=1" in lb for lb in labels), labels
        # the same lines as `xcptui diff`, minus the ---/+++ header and the verdict
        assert labels == [ln.strip() for ln in screen.report.lines()[2:-1]]
        assert any("the ISOs differ" in ln for ln in screen_lines(app))
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, CompareScreen)


async def test_compare_with_a_non_iso_says_why(iso_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.iso"
    bad.write_bytes(b"\x1b[2J not an iso" * 100)
    app = XcptuiApp(iso_dir / ISO)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_session(pilot)
        app.wizard.compare_with(bad)
        await settle(pilot, 0.3)
        status = text_of(app.screen.query_one("#compare-status"))
        assert "bad.iso: not an ISO 9660 image" in status, status
        assert "\x1b" not in "".join(screen_lines(app))
        assert not app.screen.query_one(Tree).root.children
