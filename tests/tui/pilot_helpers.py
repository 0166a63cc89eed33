"""Helpers to drive the app with Pilot."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input
from textual.worker import WorkerState

from xcptui.tui.app import XcptuiApp


async def settle(pilot: Pilot[int], pause: float = 0.05) -> None:
    """Wait until no worker runs (DirectoryTree's loader never ends), then let messages drain."""
    app = pilot.app
    for _ in range(1200):
        busy = [w for w in app.workers if w.name != "_loader"
                and w.state in (WorkerState.PENDING, WorkerState.RUNNING)]
        if not busy:
            break
        await pilot.pause(0.05)
    await pilot.pause(pause)
    await pilot.pause()


async def wait_session(pilot: Pilot[int]) -> None:
    app = pilot.app
    assert isinstance(app, XcptuiApp)
    for _ in range(400):
        if app.session is not None:
            break
        await pilot.pause(0.05)
    assert app.session is not None, "the ISO did not open"
    await settle(pilot)


async def choose_file(pilot: Pilot[int], path: Path) -> None:
    """Answer a textual-fspicker dialog by typing the path and pressing Enter."""
    await settle(pilot)
    inp = pilot.app.screen.query_one(Input)
    inp.value = str(path)
    inp.focus()
    await pilot.pause()
    await pilot.press("enter")
    await settle(pilot)


async def goto(pilot: Pilot[int], step: str) -> None:
    app = pilot.app
    assert isinstance(app, XcptuiApp)
    assert app.wizard.go(step), f"could not go to {step}"
    await settle(pilot)


def text_of(widget: object) -> str:
    """The plain text a Static shows (its Rich renderable rendered at a wide width)."""
    import io

    from rich.console import Console

    content = getattr(widget, "content", widget)
    console = Console(width=400, file=io.StringIO(), record=True, color_system=None)
    console.print(content)
    return console.export_text()


async def wait_for(pilot: Pilot[int], predicate: object, timeout: float = 10.0) -> None:
    """Pause until ``predicate()`` is true (or fail after ``timeout`` seconds)."""
    import time

    assert callable(predicate)
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out waiting for the app"
        await pilot.pause(0.05)
    await settle(pilot)


async def choose_dir(pilot: Pilot[int], path: Path) -> None:
    """Answer a textual-fspicker SelectDirectory dialog."""
    from textual_fspicker.parts import DirectoryNavigation

    await settle(pilot)
    pilot.app.screen.query_one(DirectoryNavigation).location = path
    await settle(pilot)
    await pilot.click("#select")
    await settle(pilot)
