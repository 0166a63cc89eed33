"""The driver dialog: modinfo, which kernel trees it goes into, the engine's verdict per
tree (vermagic, then symbol CRCs) and its plan, accept."""

from __future__ import annotations

import threading
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

from xcptui.engine import AddDriver, XcptuiError, plan_image
from xcptui.engine import recipe as recipe_mod
from xcptui.tui.widgets import fmt, preview

ALL = "all"
Effect = tuple[list[str], list[str]] | str  # (changes, warnings) or a one-line error


def tree_key(i: int, kver: str) -> str:
    """The recipe's name for the i-th kernel tree: "main", "alt", else its uname."""
    return "main" if i == 0 else "alt" if i == 1 else kver


@dataclass
class DriverAnalysis:
    source: Path
    modinfo: Any
    kernels: list[str]  # unames, main first
    #: choice ("main", "alt", "all" or a uname) -> the engine's plan with force
    effects: dict[str, Effect] = field(default_factory=dict)
    #: uname -> None when the engine's checks pass for that tree, else its refusal
    verdicts: dict[str, str | None] = field(default_factory=dict)

    def choices(self) -> list[str]:
        keys = [tree_key(i, k) for i, k in enumerate(self.kernels)]
        return [*keys, ALL] if len(keys) > 1 else keys

    def trees(self, choice: str) -> list[str]:
        """The unames a choice puts the driver into."""
        if choice == ALL:
            return list(self.kernels)
        return [k for i, k in enumerate(self.kernels) if tree_key(i, k) == choice]


def analyse(img: Any, source: Path, mi: Any, progress: Any,
            cancel: threading.Event | None) -> DriverAnalysis:
    """The engine's verdict for each tree (a plan without force) and its plan for each
    choice (with force, so a refused tree still shows what would happen)."""
    a = DriverAnalysis(source, mi, list(img.kernels()))

    def run(ed: AddDriver) -> Effect:
        try:
            plan = plan_image(img, [ed], progress=progress, cancel=cancel)
        except XcptuiError as e:
            return str(e)
        return list(plan.changes), list(plan.warnings)

    for i, k in enumerate(a.kernels):
        eff = run(AddDriver(source, kernels=(tree_key(i, k),)))
        a.verdicts[k] = eff if isinstance(eff, str) else None
        if not isinstance(eff, str):  # passing unforced: the same plan as forced
            a.effects[tree_key(i, k)] = eff
    for choice in a.choices():
        if choice not in a.effects:
            ok = all(a.verdicts[k] is None for k in a.trees(choice))
            a.effects[choice] = run(AddDriver(source, kernels=(choice,), force=not ok))
    return a


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
        self.choice = self._recommended()

    def _recommended(self) -> str:
        """The first tree the engine accepts, else the one the vermagic names, else main."""
        a = self.a
        for i, k in enumerate(a.kernels):
            if a.verdicts.get(k, "") is None:
                return tree_key(i, k)
        for i, k in enumerate(a.kernels):
            if a.modinfo.kernel == k:
                return tree_key(i, k)
        return a.choices()[0] if a.kernels else "main"

    def _choice_label(self, choice: str) -> Text:
        a = self.a
        trees = a.trees(choice)
        if choice == ALL:
            t = Text("all trees: ")
            t.append_text(fmt.plain(" + ".join(trees)))
        else:
            t = Text(f"{choice}: " if choice in ("main", "alt") else "")
            t.append_text(fmt.plain(trees[0] if trees else choice))
        bad = [k for k in trees if a.verdicts.get(k) is not None]
        t.append("  refused by the checks" if bad else "  checks pass",
                 style="bold red" if bad else "green")
        return t

    def compose(self) -> ComposeResult:
        a = self.a
        with Vertical(id="dialog", classes="wide"):
            yield Label(fmt.plain(f"Driver {a.source.name}"), id="dialog-title")
            with VerticalScroll(id="driver-body"):
                yield Static(preview.modinfo_preview(a.modinfo, a.kernels), id="driver-info")
                yield Label("Install it into the kernel trees:", classes="pane-title")
                with RadioSet(id="driver-kernel"):
                    for i, c in enumerate(a.choices()):
                        yield RadioButton(self._choice_label(c), value=c == self.choice,
                                          id=f"k{i}")
                yield Static("", id="driver-verdict")
                yield Checkbox("force: install even though a check refuses it",
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
        self.choice = self.a.choices()[idx]
        self._update()

    @on(Checkbox.Changed)
    def _force_changed(self) -> None:
        self._update()

    def _refused(self) -> list[str]:
        """The chosen trees the engine refuses without force."""
        return [k for k in self.a.trees(self.choice) if self.a.verdicts.get(k) is not None]

    def _vermagic_ok(self) -> bool:
        return all(self.a.modinfo.kernel == k for k in self.a.trees(self.choice))

    def _verdict_text(self) -> Text:
        """Per chosen tree: vermagic, then the engine's symbol-CRC verdict (its words)."""
        t = Text()
        for i, k in enumerate(self.a.kernels):
            if k not in self.a.trees(self.choice):
                continue
            why = self.a.verdicts.get(k)
            t.append("✓ " if why is None else "✗ ", style="green" if why is None else "red")
            t.append_text(fmt.plain(f"{k} ({tree_key(i, k)}): ", style="bold"))
            vm = self.a.modinfo.kernel == k
            t.append("vermagic matches" if vm else "vermagic does NOT match",
                     style="green" if vm else "red")
            if why is None:
                t.append(", symbol CRCs match\n", style="green")
            else:
                t.append("; ")
                t.append_text(fmt.plain(why, style="red"))
                t.append("\n")
        t.rstrip()
        return t

    def _update(self) -> None:
        force = self.query_one("#driver-force", Checkbox)
        refused = self._refused()
        force.display = bool(refused)
        self.query_one("#driver-verdict", Static).update(self._verdict_text())
        eff = self.a.effects.get(self.choice)
        t = Text()
        if isinstance(eff, str):
            t.append_text(fmt.plain(eff, style="red"))
        elif eff is not None:
            changes, warnings = eff
            for c in changes:
                t.append_text(fmt.plain(f"• {c}"))
                t.append("\n")
            for w in warnings:
                if not refused or force.value:
                    t.append_text(fmt.plain(f"! {w}", style="yellow"))
                    t.append("\n")
        if refused and not force.value:
            t.append("The kernel would refuse to load this module there. Pick a tree the "
                     "checks pass for, or tick force.", style="bold red")
        self.query_one("#driver-effect", Static).update(t)
        what = "vermagic mismatch" if not self._vermagic_ok() else "symbol-CRC mismatch"
        why = "" if not refused or force.value else f"Accept needs: {what} — tick Force"
        if isinstance(eff, str):
            why = "Accept needs: a plan the build can do (see the error above)"
        self.query_one("#ok", Button).disabled = bool(why)
        self.query_one("#driver-why", Label).update(why)

    def action_scroll_body(self, direction: int) -> None:
        body = self.query_one("#driver-body", VerticalScroll)
        (body.scroll_page_down if direction > 0 else body.scroll_page_up)(animate=False)

    def driver(self) -> recipe_mod.Driver:
        """The recipe entry for the choice: the main tree is the default; one other tree
        by its uname (so it never replaces the main tree's copy); all trees as "all"."""
        force = bool(self._refused()) and self.query_one("#driver-force", Checkbox).value
        trees = self.a.trees(self.choice)
        if self.choice == ALL:
            return recipe_mod.Driver(self.a.source, force=force, kernels=[ALL])
        main = self.a.kernels[0] if self.a.kernels else None
        kernel = None if not trees or trees[0] == main else trees[0]
        return recipe_mod.Driver(self.a.source, kernel=kernel, force=force)

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.dismiss(self.driver())

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
