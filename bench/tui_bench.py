#!/usr/bin/env python3
"""Time the wizard's first look at an ISO: Pick (open) -> Browse -> expand install.img.

    .venv/bin/python bench/tui_bench.py ISO [--runs 2]

Each run is a fresh app (headless, 120x40) in this process; the first run may be
cold (no install.img index for this ISO yet), later runs are warm. Printed per run:
seconds until the ISO's facts are shown, until Browse shows the ISO root, and until
install.img's top level is listed in the tree. Issue 10's target: warm, the whole
sequence under 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
# a private state dir: no autosave or recent-list prompt from earlier sessions (the
# install.img index stays in the user's cache dir: that is what "warm" means)
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="xcptui-tuibench-")


async def one_run(iso: Path) -> tuple[float, float, float]:
    from xcptui.tui.app import XcptuiApp
    from xcptui.tui.widgets.iso_tree import IsoTree

    t0 = time.monotonic()
    app = XcptuiApp(iso)
    async with app.run_test(size=(120, 40)) as pilot:
        while app.session is None:
            await pilot.pause(0.01)
        opened = time.monotonic() - t0
        app.wizard.go("browse")
        tree = app.screen.query_one("#browse-tree", IsoTree)
        while not [c for c in tree.root.children if c.data is not None]:
            await pilot.pause(0.01)
        browsed = time.monotonic() - t0
        node = next(c for c in tree.root.children
                    if c.data is not None and c.data.name == "install.img")
        node.expand()
        while not [c for c in node.children if c.data is not None]:
            await pilot.pause(0.01)
        expanded = time.monotonic() - t0
    return opened, browsed, expanded


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("iso", type=Path)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    for i in range(args.runs):
        o, b, e = asyncio.run(one_run(args.iso))
        kind = "first" if i == 0 else "again"
        print(f"run {i + 1} ({kind}): facts {o:.2f} s, Browse {b:.2f} s, "
              f"install.img expanded {e:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
