"""Step 7: build the ISO with progress, cancel, and a result summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Label, Log, ProgressBar, Static
from textual.worker import Worker, WorkerState, get_current_worker

from xcptui.engine import (
    BuildResult,
    Cancelled,
    ProgressEvent,
    XcptuiError,
    build_iso,
    check_output_path,
    default_output,
    equivalent_command,
    printable,
)
from xcptui.engine import recipe as recipe_mod
from xcptui.engine.recipe import edits as ops
from xcptui.tui.dialogs.common import confirm
from xcptui.tui.dialogs.files import FileSave, Filters
from xcptui.tui.jobs.progress import OverallMeter, posting_progress
from xcptui.tui.messages import JobProgress, RecipeSaved
from xcptui.tui.steps.base import Step
from xcptui.tui.widgets import fmt


@dataclass
class StepLine:
    name: str
    state: str = "running"  # running | done | failed
    seconds: float = 0.0


@dataclass
class BuildRun:
    output: Path
    recipe: recipe_mod.Recipe
    started: float
    steps: list[StepLine] = field(default_factory=list)


READY = Text.from_markup(
    "[b]Ready.[/b] [dim]The build checks the recipe against the ISO first, then writes "
    "the new ISO to a temporary file next to the output and renames it only when it is "
    "complete, then verifies it. Escape cancels at any time and leaves nothing behind.[/]")


def leftovers(output: Path) -> list[Path]:
    """Temporary files a build would leave next to ``output`` if it did not clean up."""
    parent = output.resolve().parent
    if not parent.is_dir():
        return []
    return sorted(p for p in parent.iterdir() if p.name.startswith(f".{output.name}."))


class BuildStep(Step):
    KEY = "build"
    TITLE = "Build"
    INTRO = "write the new ISO (the source is never touched)"

    # one overall bar (percentage), its smoothed ETA, and the current step under it
    DEFAULT_CSS = """
    BuildStep #build-stage { height: 1; padding: 0 1; text-wrap: nowrap;
                             text-overflow: ellipsis; }
    BuildStep #build-stage.-idle { display: none; }
    """

    BINDINGS = [
        Binding("ctrl+r", "build", "Build", id="build.build"),
        Binding("escape", "cancel_build", "Cancel build", id="build.cancel-build"),
    ]

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.build_run: BuildRun | None = None
        self.build_worker: Worker[Any] | None = None
        self.result: Any = None
        self._meter = OverallMeter()
        self._built_text: str | None = None  # the recipe (TOML) of the last good build

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row", id="build-out-row"):
            yield Label("Output ISO", classes="form-label")
            yield Input(id="build-output", compact=True)
            yield Button("Browse…", id="build-browse", compact=True)
        yield Static("", id="build-out-error", classes="error-text")
        with Horizontal(id="build-controls"):
            yield Checkbox("verify the output", True, id="build-verify", compact=True)
            yield Button("Build ISO", id="build-start", variant="primary", compact=True)
            yield Button("Cancel", id="build-cancel", variant="error", compact=True,
                         disabled=True)
        with Horizontal(id="build-progress-row", classes="-idle"):
            yield ProgressBar(total=None, show_eta=False, id="build-bar")
            yield Label("", id="build-rate")  # the overall ETA
        yield Static("", id="build-stage", classes="-idle")
        with Horizontal(classes="split", id="build-panes"):
            with VerticalScroll(classes="split-main", id="build-left"):
                yield Static(READY, id="build-summary")
                yield Static("", id="build-steps")
            with Vertical(classes="split-side"):
                yield Label("Log", classes="pane-title")
                yield Log(max_lines=5000, id="build-log")

    @property
    def running(self) -> bool:
        return self.build_worker is not None and self.build_worker.is_running

    def shown(self) -> None:
        if not self.query_one("#build-output", Input).value:
            self._default_output()
        self.query_one("#build-start").focus()

    def session_changed(self) -> None:
        self._default_output()
        self.result = None
        self._built_text = None
        self.query_one("#build-summary", Static).update(READY)
        self.query_one("#build-steps", Static).update("")
        self.query_one("#build-log", Log).clear()

    def _default_output(self) -> None:
        s = self.session
        if s is not None:
            out = default_output(s.source)
            self.query_one("#build-output", Input).value = fmt.display_path(out)

    def leave_problem(self) -> str | None:
        if self.running:
            return "A build is running: Escape cancels it."
        return None

    def _output(self) -> Path:
        return Path(self.query_one("#build-output", Input).value.strip()).expanduser()

    def _output_problem(self) -> str | None:
        s = self.session
        if s is None:
            return "open an ISO first"
        out = self._output()
        if not str(out) or not out.name:
            return "give the output file name"
        try:
            check_output_path(s.source, out)
        except XcptuiError as e:
            return str(e)
        return None

    @on(Input.Changed, "#build-output")
    def _output_changed(self) -> None:
        problem = self._output_problem() if self.session is not None else None
        self.query_one("#build-out-error", Static).update(fmt.plain(problem or ""))
        self.query_one("#build-output", Input).set_class(problem is not None, "-invalid")

    @on(Button.Pressed, "#build-browse")
    def _browse(self) -> None:
        out = self._output()
        location = out.resolve().parent if out.resolve().parent.is_dir() else Path.cwd()

        def chosen(path: Path | None) -> None:
            if path is not None:
                self.query_one("#build-output", Input).value = str(path)

        self.app.push_screen(FileSave(location, "Output ISO", default_file=out.name,
                                      filters=Filters(("*.iso", lambda p: p.suffix ==
                                                       ".iso"), ("all", lambda p: True))),
                             chosen)

    # -- start / cancel --------------------------------------------------------------
    @on(Button.Pressed, "#build-start")
    def _start_pressed(self) -> None:
        self.action_build()

    @on(Button.Pressed, "#build-cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel_build()

    def action_build(self) -> None:
        s = self.session
        if s is None or self.running:
            return
        problem = self._output_problem()
        if problem:
            self.query_one("#build-out-error", Static).update(fmt.plain(problem))
            self.notify(problem, severity="error")
            return
        out = self._output()
        if out.exists():
            self.app.push_screen(confirm("Overwrite?", f"{out} exists. Replace it with the new "
                                         "ISO (only once the build succeeds)?", "Overwrite",
                                         "Cancel"),
                                 lambda c: self._start(out) if c == "yes" else None)
            return
        self._start(out)

    def built_and_saved(self) -> bool:
        """True when the last build used the recipe exactly as it is now, and that recipe
        is saved: its changes are no longer pending (the title bar says "built")."""
        s = self.session
        return s is not None and not s.dirty and s.saved_path is not None and \
            self._built_text == s.recipe_text()

    def _start(self, out: Path) -> None:
        s = self.session
        assert s is not None
        self.result = None
        self._built_text = None
        self.build_run = BuildRun(out, ops.clone(s.recipe), self.host.clock())
        self.query_one("#build-log", Log).clear()
        self.query_one("#build-summary", Static).update("")
        self.query_one("#build-bar", ProgressBar).update(total=None, progress=0)
        self.query_one("#build-rate", Label).update("")
        self.query_one("#build-stage", Static).update("")
        self._meter = OverallMeter(self.host.clock)
        self._render_steps()
        self.query_one("#build-progress-row").remove_class("-idle")
        self.query_one("#build-stage").remove_class("-idle")
        self._set_running(True)
        verify = self.query_one("#build-verify", Checkbox).value
        self.build_worker = self._run_build(s.source, self.build_run.recipe, out, verify)

    @work(thread=True, exclusive=True, group="build", exit_on_error=False,
          description="Build")
    def _run_build(self, source: Path, rec: recipe_mod.Recipe, out: Path,
                   verify: bool) -> BuildResult:
        cancel = get_current_worker().cancelled_event
        return build_iso(source, rec, out, posting_progress(self, "build"), cancel,
                         verify=verify)

    def action_cancel_build(self) -> None:
        if not self.running or self.build_worker is None:
            return
        # Soft cancel: set the event the engine polls, and let the thread finish its
        # cleanup; the worker then ends with Cancelled (worker.cancel() would report
        # "cancelled" before the temporary files are gone).
        self.build_worker.cancelled_event.set()
        self.query_one("#build-log", Log).write_line("cancelling: waiting for the engine to "
                                                     "stop and clean up…")
        self.query_one("#build-cancel", Button).disabled = True

    def _set_running(self, on: bool) -> None:
        self.query_one("#build-start", Button).disabled = on
        self.query_one("#build-cancel", Button).disabled = not on
        self.query_one("#build-output", Input).disabled = on
        self.query_one("#build-browse", Button).disabled = on
        self.set_class(on, "-running")
        if on:
            self.query_one("#build-cancel").focus()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_build":
            return self.running
        if action == "build":
            return None if self.running else True
        return True

    # -- progress ----------------------------------------------------------------------
    @on(JobProgress)
    def _progressed(self, event: JobProgress) -> None:
        event.stop()
        if event.tag != "build" or self.build_run is None:
            return
        ev: ProgressEvent = event.event
        log = self.query_one("#build-log", Log)
        eta = self._meter.feed(ev)
        if ev.fraction is not None:  # the whole build, never one step's bytes
            self.query_one("#build-bar", ProgressBar).update(total=ev.overall_total,
                                                             progress=ev.overall_done)
            self.query_one("#build-rate", Label).update(self._meter.eta_text(eta, ev))
        if ev.kind in ("step", "bytes"):
            self.query_one("#build-stage", Static).update(self._meter.stage_line(ev))
        if ev.kind == "step":
            for st in self.build_run.steps:
                if st.state == "running":
                    st.state = "done"
            self.build_run.steps.append(StepLine(ev.step))
            log.write_line(f"» {printable(ev.step)}")  # Log draws its lines raw
            self._render_steps()
        elif ev.kind == "done":
            if ev.fraction == 1.0 and not ev.total:
                return  # the build's end: the summary says it
            for st in self.build_run.steps:
                if st.name == ev.step and st.state == "running":
                    st.state, st.seconds = "done", ev.elapsed
            log.write_line(f"  done: {printable(ev.step)} ({fmt.duration(ev.elapsed)})")
            self._render_steps()
        elif ev.kind == "log":
            log.write_line(f"  {printable(ev.message)}")
        elif ev.kind == "warn":
            log.write_line(f"  warning: {printable(ev.message)}")

    def _render_steps(self) -> None:
        if self.build_run is None:
            self.query_one("#build-steps", Static).update("")
            return
        t = Text()
        t.append("Steps\n", style="bold")
        for st in self.build_run.steps:
            if st.state == "done":
                t.append("✓ ", style="bold green")
                t.append_text(fmt.plain(st.name))
                if st.seconds:
                    t.append(f"  {fmt.duration(st.seconds)}", style="dim")
            elif st.state == "failed":
                t.append("✗ ", style="bold red")
                t.append_text(fmt.plain(st.name, "red"))
            else:
                t.append("▶ ", style="bold yellow")
                t.append_text(fmt.plain(st.name, "bold"))
            t.append("\n")
        self.query_one("#build-steps", Static).update(t)
        if self.running:
            self.query_one("#build-left", VerticalScroll).scroll_end(animate=False)

    # -- the end -----------------------------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        w = event.worker
        if w.group != "build" or w is not self.build_worker:
            return
        if event.state == WorkerState.SUCCESS:
            self._set_running(False)
            self._finished(w.result)
        elif event.state in (WorkerState.ERROR, WorkerState.CANCELLED):
            self._set_running(False)
            self._failed(w.error, event.state == WorkerState.CANCELLED)
            if isinstance(w.error, XcptuiError):
                event.prevent_default()  # the reason is in the summary; Cancelled is no error

    def _failed(self, error: BaseException | None, cancelled: bool) -> None:
        run = self.build_run
        self.query_one("#build-progress-row").add_class("-idle")
        self.query_one("#build-stage").add_class("-idle")
        if run is not None:
            for st in run.steps:
                if st.state == "running":
                    st.state = "failed"
            self._render_steps()
        log = self.query_one("#build-log", Log)
        left = leftovers(run.output) if run is not None else []
        t = Text()
        if cancelled or isinstance(error, Cancelled):
            msg = str(error) if error else "cancelled; nothing was written"
            t.append(printable(msg[:1].upper() + msg[1:]), style="bold yellow")
            log.write_line("cancelled")
        else:
            t.append("Build failed: ", style="bold red")
            t.append(printable(str(error)) if error else "unknown error")
            log.write_line(f"failed: {printable(str(error))}")
        if left:
            t.append(f"\nleft behind: {printable(', '.join(p.name for p in left))}", style="red")
        elif run is not None:
            t.append(f"\n{fmt.display_path(run.output)} was not written.", style="dim")
        self.query_one("#build-summary", Static).update(t)
        self.query_one("#build-left", VerticalScroll).scroll_home(animate=False)

    def _finished(self, res: Any) -> None:
        s, run = self.session, self.build_run
        if s is None or run is None:
            return
        for st in run.steps:
            if st.state == "running":
                st.state = "done"
        self._render_steps()
        self.result = res
        self._built_text = recipe_mod.dumps(run.recipe)
        recipe_path = self._recipe_for_command(run)
        self.post_message(RecipeSaved())  # the frame refreshes: nothing is pending now
        cmd = equivalent_command(s.source.absolute(),
                                           recipe_path.absolute() if recipe_path else None,
                                           Path(res.output).absolute())
        self.query_one("#build-summary", Static).update(
            self.summary(res, cmd, self.host.clock() - run.started))
        self.query_one("#build-bar", ProgressBar).update(total=1, progress=1)
        self.query_one("#build-rate", Label).update("")
        self.query_one("#build-stage", Static).update("")
        self.query_one("#build-stage").add_class("-idle")
        self.query_one("#build-left", VerticalScroll).scroll_home(animate=False)
        log = self.query_one("#build-log", Log)
        if res.verify is not None:
            log.write_lines(list(res.verify.lines()))
        log.write_line(f"built {res.output}")
        self.notify(f"Built {res.output.name}")

    def _recipe_for_command(self, run: BuildRun) -> Path | None:
        """The saved recipe the command line replays; saved next to the output if needed."""
        s = self.session
        if s is None or run.recipe.is_empty():
            return None
        if s.saved_path is not None and not s.dirty and \
                recipe_mod.dumps(s.recipe) == recipe_mod.dumps(run.recipe):
            return s.saved_path
        stem = run.output.name[:-4] if run.output.name.lower().endswith(".iso") else \
            run.output.name
        path = run.output.with_name(f"{stem}-recipe.toml")
        try:
            recipe_mod.save(run.recipe, path, meta={"source": str(s.source)})
        except OSError as e:
            self.query_one("#build-log", Log).write_line(f"could not save the recipe: {e}")
            return None
        if recipe_mod.dumps(s.recipe) == recipe_mod.dumps(run.recipe):
            s.recipe.path = path
            s.mark_saved(path)
        self.query_one("#build-log", Log).write_line(f"recipe saved: {path}")
        return path

    @staticmethod
    def summary(res: Any, command: str, seconds: float) -> RenderableType:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        grid.add_row("output", fmt.plain(fmt.display_path(res.output), style="bold green"))
        grid.add_row("size", fmt.size(res.size))
        grid.add_row("time", fmt.duration(seconds))
        if res.verify is not None:
            lines = list(res.verify.lines())
            ok = bool(res.verify.ok)
            failed = [x for x in lines if x.strip().startswith("FAIL")]
            text = fmt.plain(lines[-1] if lines else ("OK" if ok else "FAILED"),
                        style="green" if ok else "bold red")
            for f in failed:
                text.append("\n" + printable(f.strip()), style="red")
            grid.add_row("checks", text)
        else:
            grid.add_row("checks", Text("not verified", style="yellow"))
        grid.add_row("command", fmt.plain(command, style="bold"))
        if res.warnings:
            grid.add_row("warnings", Text("\n".join(map(printable, res.warnings)), style="yellow"))
        grid.add_row("changes", Text("\n".join(f"• {printable(c)}" for c in res.changes)))
        head = Text("Build complete", style="bold green")
        return Group(head, grid, Text(""))
