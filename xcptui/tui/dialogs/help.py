"""The `?` help screen."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Markdown

HELP_FILE = Path(__file__).resolve().parent.parent / "help.md"


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close help",
                        id="help-screen.dismiss")]

    def __init__(self, step: str = "") -> None:
        super().__init__(classes="dialog")
        self._step = step

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            yield Label("Help  (Escape closes)", id="dialog-title")
            with VerticalScroll(id="help-scroll"):
                yield Markdown(HELP_FILE.read_text(encoding="utf-8"))

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()
