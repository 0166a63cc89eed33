"""Step 6: every pending change in one place, the engine's build plan and its warnings."""

from __future__ import annotations

import tempfile
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Label, Static
from textual.worker import Worker, WorkerState, get_current_worker

from xcptui.engine import BuildPlan, IsoSource, XcptuiError, plan_build, printable
from xcptui.engine import recipe as recipe_mod
from xcptui.engine.recipe import edits as ops
from xcptui.tui.jobs.guard import guarded
from xcptui.tui.jobs.progress import posting_progress
from xcptui.tui.messages import JobProgress
from xcptui.tui.steps.base import Step
from xcptui.tui.widgets import fmt
from xcptui.tui.widgets.change_table import ChangeTable
from xcptui.tui.widgets.job_status import JobStatus


def local_warnings(rec: recipe_mod.Recipe) -> list[str]:
    """Reminders of recipe options that need no engine run (what the build does to
    signing, packages and boot is the engine plan's to say, above these)."""
    out = []
    if rec.packages.add and not rec.deps.require and not rec.packages.auto_require:
        out.append("Added packages are installed only when something requires them; see the "
                   "dependency check (Packages step, f fixes it).")
    if rec.packages.force:
        out.append("packages.force is set: the build goes on even if the dependency check "
                   "fails, and the installation may then fail.")
    if any(d.force for d in rec.installer.drivers):
        out.append("A driver skips the vermagic check: the kernel may refuse to load it.")
    if rec.installer.rpms:
        out.append("RPM payloads are copied into install.img without running scriptlets.")
    for p in rec.boot.append:
        if p.startswith("sshpassword="):
            out.append("sshpassword= puts a password in clear text in the boot configs.")
    return out


class ReviewStep(Step):
    KEY = "review"
    TITLE = "Review"
    INTRO = "every pending change; Delete undoes one; ^s saves the recipe"

    BINDINGS = [
        Binding("delete", "undo", "Undo", key_display="del", id="review.undo"),
        Binding("p", "plan", "Re-plan", id="review.plan"),
        Binding("v", "boot_diff", "Boot side by side", id="review.boot-diff"),
    ]

    def action_boot_diff(self) -> None:
        """Boot configs old | new (dialogs/boot_diff.py)."""
        from xcptui.tui.dialogs.boot_diff import BootDiffScreen

        if self.session is not None:
            self.app.push_screen(BootDiffScreen())

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self._planned_text: str | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(classes="split"):
            with Vertical(classes="split-main"):
                yield ChangeTable(id="review-changes")
                yield Static("", id="review-recipe", classes="info-line")
            with Vertical(classes="split-side"):
                yield Label("Build plan and warnings (from the engine)", classes="pane-title")
                with VerticalScroll(id="review-plan-scroll", classes="preview"):
                    yield Static(Text("not planned yet", style="dim"), id="review-plan")
        yield JobStatus(id="review-job")

    def shown(self) -> None:
        self.query_one(ChangeTable).focus()
        self._refresh()
        s = self.session
        if s is not None and recipe_mod.dumps(s.recipe) != self._planned_text:
            self.action_plan()

    def session_changed(self) -> None:
        self._planned_text = None
        self._refresh()

    def recipe_changed(self) -> None:
        self._refresh()
        if self.parent is not None and getattr(self.parent, "current", None) == self.KEY:
            self.action_plan()

    def _refresh(self) -> None:
        s = self.session
        if s is None:
            return
        self.query_one(ChangeTable).show(s.changes())
        t = Text()
        if s.saved_path is not None:
            t.append("recipe: ", style="bold")
            t.append(fmt.display_path(s.saved_path))
            t.append("  (modified since saved)" if s.dirty else "  (saved)",
                     style="yellow" if s.dirty else "dim")
        elif not s.recipe.is_empty():
            t.append("recipe not saved yet: ^s saves it (it is autosaved for this ISO)",
                     style="yellow")
        self.query_one("#review-recipe", Static).update(t)

    @guarded("Undo")
    def action_undo(self) -> None:
        s = self.session
        change = self.query_one(ChangeTable).selected_change()
        if s is None or change is None:
            return
        change.undo(s.recipe)
        self.notify(f"Undone: {change.text}")
        self.changed()

    def action_plan(self) -> None:
        s = self.session
        if s is None:
            return
        self._planned_text = recipe_mod.dumps(s.recipe)
        self.query_one("#review-plan", Static).update(Text("planning…", style="italic dim"))
        self._plan(ops.clone(s.recipe))

    @work(thread=True, exclusive=True, group="plan", exit_on_error=False,
          description="Plan the build")
    def _plan(self, rec: recipe_mod.Recipe) -> BuildPlan:
        s = self.session
        assert s is not None
        cancel = get_current_worker().cancelled_event
        with tempfile.TemporaryDirectory(prefix="xcptui-plan-") as td, \
                IsoSource.open(s.source) as src:
            plan = plan_build(src, rec, Path(td), posting_progress(self, "job"), cancel)
            plan.close()
            return plan

    def _show_plan(self, plan: BuildPlan | None, error: str | None) -> None:
        s = self.session
        t = Text()
        if error:
            t.append("The build would fail:\n", style="bold red")
            t.append(printable(error) + "\n\n", style="red")
        elif plan is not None:
            if plan.changes:
                for c in plan.changes:
                    t.append(f"• {printable(c)}\n")  # plan lines name ISO files
            else:
                t.append("No changes: the build would be a faithful re-master.\n", style="dim")
            for w in plan.warnings:
                t.append(f"! {printable(w)}\n", style="yellow")
        if s is not None:
            for w in local_warnings(s.recipe):
                t.append(f"! {printable(w)}\n", style="yellow")
        self.query_one("#review-plan", Static).update(t)

    def on_job_progress(self, event: JobProgress) -> None:
        self.job_progress(event)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "plan":
            return
        if event.state == WorkerState.SUCCESS:
            self._show_plan(event.worker.result, None)
        elif event.state == WorkerState.ERROR:
            if isinstance(event.worker.error, XcptuiError):
                self.job_finished(event.worker)
                event.prevent_default()  # shown in the plan pane, not as a dialog
            self._show_plan(None, str(event.worker.error))
