"""The driver dialog: modinfo, vermagic verdict per kernel, the engine's plan, accept."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Label, RadioButton, RadioSet, Static

from xcptui.engine import recipe as recipe_mod
from xcptui.tui.jobs import readers
from xcptui.tui.widgets import preview


@dataclass
class DriverAnalysis:
    source: Path
    modinfo: Any
    kernels: list[str]
    # kernel -> (changes, warnings), or a one-line error
    effects: dict[str, tuple[list[str], list[str]] | str] = field(default_factory=dict)


class DriverDialog(ModalScreen[recipe_mod.Driver | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="driver-dialog.cancel"),
        # the verdict and the plan scroll from anywhere in the dialog
        Binding("pagedown", "scroll_body(1)", "Scroll down", show=False,
                id="driver-dialog.page-down"),
        Binding("pageup", "scroll_body(-1)", "Scroll up", show=False,
                id="driver-dialog.page-up"),
    ]

    def __init__(self, analysis: DriverAnalysis) -> None:
        super().__init__(classes="dialog")
        self.a = analysis
        match, _ = readers.vermagic_verdict(analysis.modinfo, analysis.kernels)
        self.kernel = match or (analysis.kernels[0] if analysis.kernels else "")

    def compose(self) -> ComposeResult:
        a = self.a
        with Vertical(id="dialog", classes="wide"):
            yield Label(f"Driver {a.source.name}", id="dialog-title")
            with VerticalScroll(id="driver-body"):
                yield Static(preview.modinfo_preview(a.modinfo, a.kernels), id="driver-info")
                yield Label("Install it for:", classes="pane-title")
                with RadioSet(id="driver-kernel"):
                    for i, k in enumerate(a.kernels):
                        role = "main kernel" if i == 0 else "kernel-alt"
                        ok = a.modinfo.kernel == k
                        verdict = "vermagic matches" if ok else "vermagic does NOT match"
                        yield RadioButton(f"{k} ({role}): {verdict}", value=k == self.kernel,
                                          id=f"k{i}")
                yield Checkbox("force: install even though the vermagic does not match",
                               id="driver-force")
                yield Label("What the build will do:", classes="pane-title")
                yield Static("", id="driver-effect")
            with Horizontal(id="dialog-buttons"):
                yield Label("", id="driver-why", classes="error-text")
                yield Button("Accept", id="ok", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self._update()
        ok = self.query_one("#ok", Button)
        # Enter accepts the recommended choice; Shift+Tab reaches the kernel list
        (self.query_one(RadioSet) if ok.disabled else ok).focus()

    @on(RadioSet.Changed)
    def _kernel_changed(self, event: RadioSet.Changed) -> None:
        idx = int((event.pressed.id or "k0")[1:])
        self.kernel = self.a.kernels[idx]
        self._update()

    @on(Checkbox.Changed)
    def _force_changed(self) -> None:
        self._update()

    def _matches(self) -> bool:
        return bool(self.a.modinfo.kernel == self.kernel)

    def _update(self) -> None:
        force = self.query_one("#driver-force", Checkbox)
        force.display = not self._matches()
        eff = self.a.effects.get(self.kernel)
        t = Text()
        if isinstance(eff, str):
            t.append(eff, style="red")
        elif eff is not None:
            changes, warnings = eff
            for c in changes:
                t.append(f"• {c}\n")
            for w in warnings:
                if self._matches() or force.value:
                    t.append(f"! {w}\n", style="yellow")
        if not self._matches() and not force.value:
            t.append("The kernel would refuse to load this module. Pick the kernel it was "
                     "built for, or tick force.", style="bold red")
        self.query_one("#driver-effect", Static).update(t)
        why = ("" if self._matches() or force.value else
               "Accept needs: vermagic mismatch — tick Force")
        if isinstance(eff, str):
            why = "Accept needs: a plan the build can do (see the error above)"
        self.query_one("#ok", Button).disabled = bool(why)
        self.query_one("#driver-why", Label).update(why)

    def action_scroll_body(self, direction: int) -> None:
        body = self.query_one("#driver-body", VerticalScroll)
        (body.scroll_page_down if direction > 0 else body.scroll_page_up)(animate=False)

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        main = self.a.kernels[0] if self.a.kernels else None
        force = not self._matches() and self.query_one("#driver-force", Checkbox).value
        self.dismiss(recipe_mod.Driver(self.a.source,
                                       kernel=None if self.kernel == main else self.kernel,
                                       force=force))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
