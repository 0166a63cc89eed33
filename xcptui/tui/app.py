"""The xcptui Textual app: holds the session (ISO + recipe) and the wizard screen."""

from __future__ import annotations

import contextlib
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from textual.app import App
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from xcptui.engine import Cancelled, XcptuiError, printable
from xcptui.engine import recipe as recipe_mod
from xcptui.tui.commands import WizardCommands
from xcptui.tui.dialogs.common import ChoiceDialog, ErrorDialog
from xcptui.tui.dialogs.help import HelpScreen
from xcptui.tui.messages import (
    JobFailed,
    RecipeChanged,
    RecipeReplaced,
    RecipeSaved,
    SessionOpened,
    ShowError,
    WizardReady,
)
from xcptui.tui.state import statedir
from xcptui.tui.state.session import Session
from xcptui.tui.steps.wizard import WizardScreen


def _default_demo_iso() -> Path:
    from xcptui.demoiso.builder import ensure_demo_iso

    return ensure_demo_iso()


class XcptuiApp(App[int]):
    """The wizard. ``iso_path``/``recipe_path`` open straight away when given."""

    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {WizardCommands}
    TITLE = "xcptui"
    SUB_TITLE = "XCP-ng installation ISO customiser"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True, id="quit"),
        Binding("f1", "help", "Help", show=False, id="help"),
    ]

    def __init__(self, iso_path: Path | None = None, recipe_path: Path | None = None, *,
                 demo_iso: Callable[[], Path] | None = None) -> None:
        super().__init__()
        self.initial_iso = Path(iso_path) if iso_path else None
        self.initial_recipe = Path(recipe_path) if recipe_path else None
        self.session: Session | None = None
        self.demo_iso = demo_iso or _default_demo_iso
        self.clock: Callable[[], float] = time.monotonic  # tests freeze it

    # -- screens --------------------------------------------------------------------
    def get_default_screen(self) -> Screen[None]:
        return WizardScreen()

    @property
    def wizard(self) -> WizardScreen:
        screen = self.screen_stack[0]
        assert isinstance(screen, WizardScreen)
        return screen

    def on_wizard_ready(self, event: WizardReady) -> None:
        """The wizard screen is composed: open what the command line named."""
        if self.initial_iso is not None:
            self.wizard.pick.open_iso(self.initial_iso, self.initial_recipe)
        elif self.initial_recipe is not None:
            self.wizard.pick.pending_recipe = self.initial_recipe
            self.notify(f"Pick the ISO to apply {self.initial_recipe.name} to.")

    # -- session and recipe (steps post messages; these handle them) -----------------
    def on_session_opened(self, event: SessionOpened) -> None:
        self.set_session(event.session)

    def on_recipe_changed(self, event: RecipeChanged) -> None:
        self.recipe_changed()

    def on_recipe_saved(self, event: RecipeSaved) -> None:
        self.wizard.recipe_changed()

    def on_recipe_replaced(self, event: RecipeReplaced) -> None:
        self.replace_recipe(event.recipe, event.saved_path)

    def on_show_error(self, event: ShowError) -> None:
        self.show_error(event.message, event.title)

    def on_job_failed(self, event: JobFailed) -> None:
        self.report_exception(event.error, event.what)

    def set_session(self, session: Session) -> None:
        if self.session is not None:
            self.session.close()
        self.session = session
        with contextlib.suppress(OSError):
            statedir.add_recent(session.source)
        self.wizard.session_changed()

    def recipe_changed(self) -> None:
        """Called after every recipe edit: autosave, then refresh every step."""
        s = self.session
        if s is None:
            return
        try:
            statedir.autosave(s.source, s.recipe)
        except (OSError, XcptuiError) as e:
            self.notify(f"autosave failed: {e}", severity="warning")
        self.wizard.recipe_changed()

    def replace_recipe(self, rec: recipe_mod.Recipe, saved_path: Path | None) -> None:
        s = self.session
        if s is None:
            return
        s.recipe = rec
        if saved_path is not None:
            s.mark_saved(saved_path)
        self.recipe_changed()

    # -- errors ------------------------------------------------------------------------
    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Every toast (widgets' notify lands here): its text names files of the ISO, so it
        is never parsed as markup ("[/]" would crash the toast) and controls are escaped."""
        super().notify(printable(message, keep="\n"), title=printable(title),
                       severity=severity, timeout=timeout, markup=False)

    def show_error(self, message: str, title: str = "Error") -> None:
        self.push_screen(ErrorDialog(message, title))

    def report_exception(self, error: BaseException, what: str) -> None:
        """Turn any exception into a dialog; internal ones are logged with their traceback."""
        if isinstance(error, Cancelled):
            self.notify(str(error), title=what, severity="warning")
            return
        if isinstance(error, XcptuiError):
            self.show_error(str(error), what)
            return
        if isinstance(error, OSError) and error.strerror:
            where = f"{error.filename}: " if error.filename else ""
            self.show_error(f"{where}{error.strerror}", what)
            return
        msg = " ".join(str(error).split()) or type(error).__name__
        log = statedir.log_file()
        try:
            statedir.private_dir(log.parent)
            fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                fh.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {what}\n")
                fh.write("".join(traceback.format_exception(error)))
        except OSError:
            pass
        self.show_error(f"internal error: {type(error).__name__}: {msg} "
                        f"(details in {log})", what)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state == WorkerState.ERROR and worker.error is not None:
            self.report_exception(worker.error, worker.description or worker.name)

    # -- actions -----------------------------------------------------------------------
    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.wizard.current))

    async def action_quit(self) -> None:
        build = self.wizard.build_step
        if build.running:
            def stop(choice: str | None) -> None:
                if choice == "yes":
                    build.action_cancel_build()
                    self.exit(0)

            self.push_screen(ChoiceDialog(
                "A build is running", "Cancel the build (nothing is left behind) and quit?",
                [("yes", "Cancel build and quit", "warning"), ("cancel", "Keep building",
                                                                 "default")]), stop)
            return
        s = self.session
        if s is None or not s.dirty or s.recipe.is_empty():
            self.exit(0)
            return
        where = statedir.autosave_path(s.source)

        def answer(choice: str | None) -> None:
            if choice == "quit":
                self.exit(0)
            elif choice == "save":
                self.wizard.save_recipe(then_quit=True)

        self.push_screen(ChoiceDialog(
            "Unsaved changes",
            f"The recipe has changes you have not saved. They are autosaved in {where} "
            "and offered back next time you open this ISO.",
            [("save", "Save recipe…", "primary"), ("quit", "Quit anyway", "warning"),
             ("cancel", "Stay", "default")]), answer)


def run(iso_path: Path | None, recipe_path: Path | None) -> int:
    """Entry point used by ``xcptui`` and ``xcptui demo``."""
    app = XcptuiApp(iso_path, recipe_path)
    result = app.run()
    return int(result or 0)
