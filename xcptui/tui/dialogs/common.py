"""Small modal dialogs: errors, questions, text input.

Titles and messages often carry names from the ISO (an engine error names the file):
controls are made visible (``printable``; a message keeps the newlines its caller put
between lines) and nothing is parsed as markup.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.validation import Validator
from textual.widgets import Button, Input, Label, Static

from xcptui.engine import printable
from xcptui.tui.widgets import fmt
from xcptui.tui.widgets.safe_input import SafeInput


def _body(message: str) -> Static:
    return Static(printable(message, keep="\n"), id="dialog-body", markup=False)


class ErrorDialog(ModalScreen[None]):
    """An engine error: the one-line reason, never a traceback."""

    BINDINGS = [Binding("escape,enter", "dismiss", "Close", id="error-dialog.dismiss")]

    def __init__(self, message: str, title: str = "Error") -> None:
        super().__init__(classes="dialog")
        self._message, self._title = message, title

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="-error"):
            yield Label(fmt.plain(self._title), id="dialog-title")
            yield _body(self._message)
            with Horizontal(id="dialog-buttons"):
                yield Button("OK", variant="error", id="ok", compact=True)

    def on_mount(self) -> None:
        self.query_one("#ok").focus()

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.dismiss(None)


class ChoiceDialog(ModalScreen[str]):
    """A question with buttons; dismisses with the chosen button id ('cancel' on Escape)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="choice-dialog.cancel")]

    def __init__(self, title: str, message: str, choices: list[tuple[str, str, str]]) -> None:
        """``choices``: (id, label, variant) per button; the first is focused."""
        super().__init__(classes="dialog")
        self._title, self._message, self._choices = title, message, choices

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(fmt.plain(self._title), id="dialog-title")
            yield _body(self._message)
            with Horizontal(id="dialog-buttons"):
                for cid, label, variant in self._choices:
                    yield Button(fmt.plain(label), id=cid, variant=variant,  # type: ignore[arg-type]
                                 compact=True)

    def on_mount(self) -> None:
        self.query(Button).first().focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id or "cancel")

    def action_cancel(self) -> None:
        self.dismiss("cancel")


def confirm(title: str, message: str, yes: str = "Yes", no: str = "No") -> ChoiceDialog:
    return ChoiceDialog(title, message, [("yes", yes, "primary"), ("cancel", no, "default")])


class InputDialog(ModalScreen[str | None]):
    """Ask for one line of text; None on Escape."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="input-dialog.cancel")]

    def __init__(self, title: str, prompt: str, value: str = "", placeholder: str = "",
                 validators: list[Validator] | None = None) -> None:
        super().__init__(classes="dialog")
        self._title, self._prompt = title, prompt
        self._value, self._placeholder = value, placeholder
        self._validators = validators or []

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(fmt.plain(self._title), id="dialog-title")
            yield _body(self._prompt)
            yield SafeInput(self._value, placeholder=self._placeholder, id="dialog-input",
                            validators=self._validators, validate_on=["changed", "submitted"])
            yield Label("", id="dialog-error", classes="error-text")
            with Horizontal(id="dialog-buttons"):
                yield Button("OK", id="ok", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        res = event.validation_result
        msg = "" if res is None or res.is_valid else "; ".join(res.failure_descriptions)
        self.query_one("#dialog-error", Label).update(fmt.plain(msg))

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        inp = self.query_one(Input)
        res = inp.validate(inp.value)
        if res is not None and not res.is_valid:
            self.query_one("#dialog-error", Label).update(
                fmt.plain("; ".join(res.failure_descriptions)))
            return
        self.dismiss(inp.value)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
