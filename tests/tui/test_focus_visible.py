"""Focus is visible: every focusable widget on each step looks different when focused."""

from __future__ import annotations

from pathlib import Path

from textual.widget import Widget

from tests.tui.pilot_helpers import goto, settle, wait_session
from xcptui.tui.app import XcptuiApp

ISO = "xcp-ng-8.3.iso"


def _look(w: Widget) -> tuple[object, ...]:
    """How the widget and its direct children are styled (a Select shows focus on its
    SelectCurrent)."""
    return tuple((st.background, st.background_tint, st.text_style, st.border)
                 for st in (x.styles for x in (w, *w.children)))


async def test_every_focusable_widget_shows_focus(iso_dir: Path) -> None:
    app = XcptuiApp(iso_dir / ISO)
    checked: list[str] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_session(pilot)
        for step in ("pick", "browse", "installer", "packages", "identity", "review", "build"):
            await goto(pilot, step)
            body = app.screen.query_one(f"#{step}")
            for w in body.query("*"):
                if not (w.focusable and w.display and w.region.area):
                    continue
                app.screen.set_focus(None)
                await pilot.pause()
                blurred = _look(w)
                w.focus()
                await pilot.pause()
                if app.focused is not w:
                    continue
                assert _look(w) != blurred, f"{step}: focus invisible on {w!r}"
                checked.append(type(w).__name__)
            await settle(pilot)
    assert {"Input", "IsoTree", "ChangeTable", "Select"} <= set(checked), checked
