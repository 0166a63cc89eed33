"""Repository options: signing, downgrades, auto-require, force."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet, Static

from xcptui.engine import recipe as recipe_mod
from xcptui.tui.widgets import fmt


@dataclass
class RepoOptions:
    signing: str | None  # None (default), "unsigned", "gpg"
    key: str | None
    downgrade: bool
    auto_require: bool
    force: bool


MODES = [(None, "Default: leave signing as the build decides (unsigned when the "
                "repository changes)"),
         ("unsigned", "Unsigned: comment out .treeinfo [keys], drop repomd.xml.asc"),
         ("gpg", "Sign repomd.xml with my GPG key (the public key is put on the ISO)")]


class RepoOptionsDialog(ModalScreen[RepoOptions | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="repo-options.cancel")]

    def __init__(self, rec: recipe_mod.Recipe, signed_now: str) -> None:
        super().__init__(classes="dialog")
        self.rec = rec
        self.signed_now = signed_now

    def compose(self) -> ComposeResult:
        sig = self.rec.signing
        current = sig.mode if sig is not None else None
        with Vertical(id="dialog", classes="wide"):
            yield Label("Repository options", id="dialog-title")
            yield Static(fmt.plain(f"The source: {self.signed_now}"), classes="hint")
            with RadioSet(id="sign-mode"):
                for i, (mode, label) in enumerate(MODES):
                    yield RadioButton(label, value=mode == current, id=f"m{i}")
            yield Input(sig.key or "" if sig is not None else "",
                        placeholder="GPG key id or fingerprint (in your keyring)", id="sign-key")
            p = self.rec.packages
            yield Checkbox("Allow downgrades (replace a package by an older version)",
                           p.downgrade, id="opt-downgrade")
            yield Checkbox("Require every added package from xcp-ng-deps automatically",
                           p.auto_require, id="opt-auto")
            yield Checkbox("Build even if the dependency check fails", p.force, id="opt-force")
            yield Label("", id="dialog-error", classes="error-text")
            with Horizontal(id="dialog-buttons"):
                yield Button("OK", id="ok", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self._mode_changed()
        self.query_one(RadioSet).focus()

    def _mode(self) -> str | None:
        rs = self.query_one(RadioSet)
        idx = rs.pressed_index
        return MODES[idx][0] if idx >= 0 else None

    @on(RadioSet.Changed)
    def _mode_changed(self) -> None:
        self.query_one("#sign-key", Input).display = self._mode() == "gpg"

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        mode = self._mode()
        key = self.query_one("#sign-key", Input).value.strip() or None
        if mode == "gpg" and not key:
            self.query_one("#dialog-error", Label).update("Signing with GPG needs a key id.")
            return
        self.dismiss(RepoOptions(mode, key, self.query_one("#opt-downgrade", Checkbox).value,
                                 self.query_one("#opt-auto", Checkbox).value,
                                 self.query_one("#opt-force", Checkbox).value))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
