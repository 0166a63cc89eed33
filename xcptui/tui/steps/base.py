"""The base of every wizard step pane."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.containers import Vertical
from textual.worker import Worker, WorkerState

from xcptui.tui.messages import JobFailed, JobProgress, RecipeChanged
from xcptui.tui.state.session import Session, SessionHost
from xcptui.tui.widgets.job_status import JobStatus


class Step(Vertical):
    """A pane of the wizard. Subclasses set KEY, TITLE and INTRO."""

    KEY: ClassVar[str] = ""
    TITLE: ClassVar[str] = ""
    INTRO: ClassVar[str] = ""  # one line under the title
    NEEDS_SESSION: ClassVar[bool] = True

    @property
    def host(self) -> SessionHost:
        """The app, as far as a step may know it (read-only: changes go by message)."""
        assert isinstance(self.app, SessionHost)
        return self.app

    @property
    def session(self) -> Session | None:
        return self.host.session

    def session_changed(self) -> None:
        """A new ISO was opened: reload everything."""

    def recipe_changed(self) -> None:
        """The recipe changed (here or on another step)."""

    def shown(self) -> None:
        """The step became the current one: focus its main widget."""

    def leave_problem(self) -> str | None:
        """Why the user should not move on yet (None: fine)."""
        return None

    def changed(self) -> None:
        """Call after editing the recipe: the app autosaves and refreshes every step."""
        self.post_message(RecipeChanged())

    def do_step_action(self, action: str) -> None:
        """Run ``action_<name>`` (used by command-palette commands)."""
        method = getattr(self, f"action_{action}", None)
        if method is not None:
            method()

    # -- the job strip (JobStatus) shared by the steps --------------------------------
    def busy(self, exclude: Worker[Any] | None = None, *, groups: tuple[str, ...] = ()) -> bool:
        """True while a worker of this step (or of one of its widgets) is running."""
        for w in self.app.workers:
            if w is exclude or not w.is_running or (groups and w.group not in groups):
                continue
            if w.name == "_loader":  # DirectoryTree's directory reader never ends
                continue
            if self in w.node.ancestors_with_self:
                return True
        return False

    def job_progress(self, event: JobProgress) -> None:
        """Show a worker's progress in the step's JobStatus (ignores stragglers)."""
        jobs = self.query(JobStatus)
        if not jobs or not self.busy():
            return
        job = jobs.first()
        if not job.has_class("-running"):
            if event.event.kind not in ("step", "bytes"):
                return
            job.start(event.event.step)
        job.progress(event.event)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Runs after a subclass's handler (Textual calls each class in the MRO).

        Worker messages do not bubble, so every step reports its own workers' errors;
        a subclass that shows an error inline calls ``event.prevent_default()``.
        """
        if event.state in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            self.job_finished(event.worker)
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.post_message(JobFailed(event.worker.error,
                                        event.worker.description or event.worker.name))

    def on_iso_tree_work_done(self, event: Any) -> None:
        self.job_finished(event.worker)

    def job_finished(self, worker: Worker[Any]) -> None:
        jobs = self.query(JobStatus)
        if jobs and not self.busy(exclude=worker):
            jobs.first().stop()
