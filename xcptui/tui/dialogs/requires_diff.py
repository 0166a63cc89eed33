"""The rebuilt xcp-ng-deps Requires, source | rebuilt (``v`` on Packages).

The rows come from the engine's dependency check (``CheckReport.meta``): the TUI only
aligns the two lists it is given by requirement name.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from xcptui.tui.widgets import package_check as pc


class RequiresScreen(Screen[None]):
    """xcp-ng-deps Requires old | new; ``q``/Escape/``v`` closes."""

    BINDINGS = [Binding("q,escape,v", "close", "Close", id="requires-diff.close")]

    DEFAULT_CSS = """
    RequiresScreen #req-title { height: 1; background: $boost; padding: 0 1; }
    RequiresScreen #req-scroll { height: 1fr; padding: 0 1; }
    """

    def __init__(self, meta: Any, checking: bool = False) -> None:
        super().__init__()
        self.meta = meta
        self.checking = checking

    def compose(self) -> ComposeResult:
        yield Static(Text(f"{pc.META} Requires: on the ISO | after the build   (q closes)",
                          style="bold"), id="req-title")
        with VerticalScroll(id="req-scroll"):
            yield Static(self._body(), id="req-body")

    def _body(self) -> Any:
        if self.meta is None:
            why = ("the dependency check has not finished yet" if self.checking else
                   f"the recipe does not change its Requires, so {pc.META} is not rebuilt")
            return Text(f"{pc.META} stays as on the ISO: {why}.", style="dim")
        rows = pc.requires_rows(self.meta)
        n = {m: sum(1 for r in rows if r[0] == m) for m in "+-~"}
        summary = Text(f"{n['+']} added, {n['-']} removed, {n['~']} changed", style="bold")
        return Group(summary, Text(""), pc.requires_table(self.meta))

    def on_mount(self) -> None:
        self.query_one("#req-scroll").focus()

    def action_close(self) -> None:
        self.dismiss(None)
