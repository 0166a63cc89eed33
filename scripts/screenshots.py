#!/usr/bin/env python3
"""Make the README screenshots: drive the real wizard over the demo ISO at 120x40.

Usage:  .venv/bin/python scripts/screenshots.py [--out screenshots] [--size 120x40]

Writes NN-step.svg (Textual's export) and NN-step.png (rendered with cairosvg; install
fonts-firacode first or text falls back to a proportional font). Runs headless: no
terminal, no CI needed. It builds a demo driver and RPM with gcc and rpmbuild, works in
a temporary directory and uses its own state dir, so nothing of yours is touched.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["TEXTUAL_ANIMATIONS"] = "none"  # read when textual is imported

from textual.pilot import Pilot  # noqa: E402
from textual.widgets import Input  # noqa: E402
from textual.worker import WorkerState  # noqa: E402

from xcptui.demoiso.builder import MAIN_KVER, KoSpec, build_ko, ensure_demo_iso  # noqa: E402
from xcptui.demoiso.rpms import RpmSpec, build_rpms  # noqa: E402
from xcptui.tui.app import XcptuiApp  # noqa: E402
from xcptui.tui.widgets.iso_tree import IsoTree  # noqa: E402


async def settle(pilot: Pilot[int], pause: float = 0.1) -> None:
    """Wait for every worker (but DirectoryTree's endless loader), then for messages."""
    for _ in range(2400):
        busy = [w for w in pilot.app.workers if w.name != "_loader"
                and w.state in (WorkerState.PENDING, WorkerState.RUNNING)]
        if not busy:
            break
        await pilot.pause(0.05)
    await pilot.pause(pause)


async def until(pilot: Pilot[int], ok: Callable[[], bool], timeout: float = 30) -> None:
    waited = 0.0
    while not ok():
        if waited > timeout:
            raise SystemExit("screenshots: timed out waiting for the app")
        await pilot.pause(0.05)
        waited += 0.05
    await settle(pilot)


async def answer_file_dialog(pilot: Pilot[int], path: Path) -> None:
    await settle(pilot)
    inp = pilot.app.screen.query_one(Input)
    inp.value = str(path)
    inp.focus()
    await pilot.pause()
    await pilot.press("enter")
    await settle(pilot)


async def expand(pilot: Pilot[int], tree: IsoTree, *names: str) -> Any:
    """Open the folders ``names`` one level after the other; return the last node."""
    node = tree.root
    for name in names:
        node = next(c for c in node.children if c.data is not None and c.data.name == name)
        node.expand()
        await settle(pilot)
    return node


class Shooter:
    def __init__(self, app: XcptuiApp, out: Path) -> None:
        self.app, self.out, self.n = app, out, 0

    async def shot(self, pilot: Pilot[int], name: str) -> None:
        await settle(pilot, 0.6)  # debounced previews and checks
        await settle(pilot, 0.2)
        self.n += 1
        svg = self.out / f"{self.n:02d}-{name}.svg"
        svg.write_text(self.app.export_screenshot(title="xcptui"), encoding="utf-8")
        import cairosvg

        cairosvg.svg2png(url=str(svg), write_to=str(svg.with_suffix(".png")))
        print(f"wrote {svg.with_suffix('.png')}")


async def run(out: Path, size: tuple[int, int], work: Path) -> None:
    iso = work / "xcp-ng-8.3-demo.iso"
    ko = build_ko(KoSpec("igb", "updates/igb.ko", "5.99.0-custom",
                         aliases=["pci:v00008086d00001533sv*sd*bc*sc*i*"]),
                  MAIN_KVER, work / "drivers" / "igb.ko")
    (rpm,) = build_rpms([RpmSpec("mytool", "1.0", "1", "x86_64", summary="An extra tool",
                                 files={"/usr/bin/mytool": (0o755, b"#!/bin/sh\necho hi\n")})],
                        work / "rpms")
    app = XcptuiApp(iso)
    shots = Shooter(app, out)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.session is not None)
        await shots.shot(pilot, "pick")

        await pilot.press("2")
        await settle(pilot)
        tree = app.screen.query_one("#browse-tree", IsoTree)
        await expand(pilot, tree, "install.img")
        tree.move_cursor(await expand(pilot, tree, "boot", "isolinux", "isolinux.cfg"))
        await shots.shot(pilot, "browse")
        tree.focus()
        await pilot.press("z")
        await settle(pilot)
        await pilot.press("slash")
        await settle(pilot)
        for key in "install":
            await pilot.press(key)
        await pilot.press("enter")
        await shots.shot(pilot, "pager")
        await pilot.press("escape", "q")
        await settle(pilot)
        await pilot.press("ctrl+f")
        await settle(pilot)
        app.screen.query_one("#search-input", Input).value = "console=hvc0"
        await pilot.press("enter")
        await shots.shot(pilot, "search")
        await pilot.press("escape")
        await settle(pilot)

        await pilot.press("3")
        await settle(pilot)
        await pilot.press("d")
        await answer_file_dialog(pilot, ko)
        await shots.shot(pilot, "driver")
        await pilot.click("#ok")
        await settle(pilot)
        itree = app.screen.query_one("#installer-tree", IsoTree)
        itree.move_cursor(await expand(pilot, itree, "lib", "modules", MAIN_KVER, "updates"))
        await shots.shot(pilot, "installer")

        await pilot.press("4")
        await settle(pilot)
        await pilot.press("a")
        await answer_file_dialog(pilot, rpm)
        await settle(pilot, 0.8)
        await pilot.press("f")
        await shots.shot(pilot, "packages")

        await pilot.press("5")
        await settle(pilot)
        app.screen.query_one("#f-volid", Input).value = "XCP-ng 8.3 CUSTOM"
        app.screen.query_one("#f-build", Input).value = "custom-1"
        app.screen.query_one("#f-extra", Input).value = "blacklist=igc"
        await settle(pilot, 0.6)
        await pilot.press("ctrl+y")
        await shots.shot(pilot, "identity")

        await pilot.press("6")
        await shots.shot(pilot, "review")
        await pilot.press("v")
        await shots.shot(pilot, "boot-side-by-side")
        await pilot.press("escape")
        await settle(pilot)

        await pilot.press("7")
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot, 0.5)
        await shots.shot(pilot, "build")
        built = next(p for p in work.glob("*.iso") if p != iso)
        app.wizard.compare_with(built)
        await until(pilot, lambda: getattr(app.screen, "report", None) is not None)
        await shots.shot(pilot, "compare")
        await pilot.press("escape")
        await settle(pilot)

        await pilot.press("question_mark")
        await shots.shot(pilot, "help")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "screenshots")
    ap.add_argument("--size", default="120x40", help="terminal size, WIDTHxHEIGHT")
    args = ap.parse_args()
    w, h = (int(x) for x in args.size.lower().split("x"))
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    demo = ensure_demo_iso()
    with tempfile.TemporaryDirectory(prefix="xcptui-shots-") as td:
        work = Path(td) / "work"
        work.mkdir()
        shutil.copy(demo, work / "xcp-ng-8.3-demo.iso")
        os.environ["XDG_STATE_HOME"] = str(Path(td) / "state")
        Input._toggle_cursor = lambda self: None  # type: ignore[method-assign]  # no blink
        os.chdir(work)
        asyncio.run(run(out, (w, h), work))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
